//! Operations, to the side of every layer: logs, metrics (one EMF line per request), and the
//! seams a test or the local server swaps (senders, clock, metrics sink).

pub mod logging;
pub mod metrics;
pub mod startup;
