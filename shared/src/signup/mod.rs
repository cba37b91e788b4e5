//! Family A: Cognito-style sign-up confirmation by e-mail (`POST /CognitoSendConfirmCodeRequest`),
//! answered in ServiceStack's `BaseResponse` envelope as JSON, XML or CSV.

pub mod config;
mod confirm;
pub mod dialect;
pub mod format;
pub mod handler;
pub mod model;
pub mod request;
pub mod service;
pub mod store;

pub use config::SignupConfig;
pub use service::Signup;

/// Purpose bound into every family A hash.
pub const PURPOSE: &str = "signup-email";
