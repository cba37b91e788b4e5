//! The verification-code service. Its folders say which way dependencies go:
//!
//! - `domain`: codes, ids, keys and hashes, numbers, addresses, callers, the clock: no I/O;
//! - `config`: the `Common` section every function reads, and the helpers each family's own
//!   section (`<family>::config`) parses its values with;
//! - `store`: the one DynamoDB table: its items and names, transactions planned with named
//!   slots, the guards' counters, the `Idempotency-Key` records;
//! - `aws`: the SDK's clients, and the SMS (SNS) and e-mail (SES) senders;
//! - `ops`, to the side: logs, metrics, the seams a test swaps;
//! - `twofactor`, `preregistration`, `signup`: the families, each deciding through its store;
//! - `edge`: HTTP in and out, one pipeline for every endpoint, the one failure type, the
//!   route table and the legacy wire readers.
//!
//! `domain` <- `store` <- families -> `edge`; `scripts/ci/module_graph.py` checks that no
//! two modules depend on each other.
//!
//! Each Lambda in `functions/` only wires one of the handlers below to `lambda_http`; the local
//! server in `local/` wires all of them, so both run exactly the same code.

/// mimalloc instead of glibc's malloc: a request through the SDK allocates and frees
/// thousands of small buffers, and with glibc that was 30% of a warm request's CPU time.
/// Measured with `cargo bench --bench handlers` at opt-level 3: C create 308 -> 111 µs, C
/// verify 138 -> 85 µs, one SDK GetItem 61 -> 40 µs (BENCHMARKS.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod aws;
pub mod config;
pub mod domain;
pub mod edge;
pub mod ops;
pub mod preregistration;
pub mod signup;
pub mod store;
pub mod twofactor;
