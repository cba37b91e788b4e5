//! Domain and adapters of the verification-code service.
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

pub mod attempts;
pub mod aws;
pub mod caller;
pub mod clock;
pub mod codes;
pub mod config;
pub mod crypto;
pub mod dynamo;
pub mod edge;
pub mod email;
pub mod guards;
pub mod idempotency;
pub mod ids;
pub mod logging;
pub mod mask;
pub mod metrics;
pub mod phone;
pub mod preregistration;
pub mod routes;
pub mod schema;
pub mod signup;
pub mod sms;
pub mod sms_text;
pub mod startup;
pub mod twofactor;
