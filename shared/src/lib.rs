//! Domain and adapters of the verification-code service.
//!
//! Each Lambda in `functions/` only wires one of the handlers below to `lambda_http`; the local
//! server in `local/` wires all of them, so both run exactly the same code.

pub mod aws;
pub mod clock;
pub mod codes;
pub mod config;
pub mod crypto;
pub mod dynamo;
pub mod email;
pub mod http;
pub mod mask;
pub mod phone;
pub mod preregistration;
pub mod signup;
pub mod sms;
pub mod twofactor;
pub mod xml;

pub use config::Config;
