//! Every integration test of `shared`, in one binary: one link, and one moto server (started
//! on first use by `testkit::moto`) for all of them. Tests share that server, so each uses
//! its own users, numbers and addresses, and those that need a counter of their own (the SMS
//! ceilings) move their clock to a day nobody else uses.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod autofill;
mod ceilings;
mod contention;
mod events;
mod faults;
mod guards;
mod helpers;
mod idempotency;
mod local_dynamodb;
mod logs;
mod metrics;
mod permissions;
mod preregistration;
mod races;
mod round_trips;
mod signup;
mod test_destinations;
mod ttl;
mod two_factor;
mod windows;
