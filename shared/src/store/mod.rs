//! The one DynamoDB table: its names (`schema`, `docs/table.md`), the SDK calls and
//! transactions planned with named slots (`dynamo`), the attempt counting every family's code
//! shares (`attempts`), the guards' counters (`guards`) and the `Idempotency-Key` records
//! (`idempotency`). Each family's own items are its `store.rs`.

pub mod attempts;
pub mod dynamo;
pub mod guards;
pub mod idempotency;
pub mod schema;
