//! Family A: Cognito-style sign-up confirmation by e-mail (`POST /CognitoSendConfirmCodeRequest`),
//! answered in ServiceStack's `BaseResponse` envelope as JSON, XML or CSV.

use lambda_http::http::StatusCode;

use crate::dynamo::StoreError;

mod confirm;
pub mod format;
pub mod handler;
pub mod model;
pub mod request;
pub mod service;
pub mod store;

pub use service::Signup;

/// Purpose bound into every family A hash.
pub const PURPOSE: &str = "signup-email";

#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    #[error("{0}")]
    InvalidParameter(String),
    #[error("the request body is larger than 64 KiB")]
    PayloadTooLarge,
    #[error("only POST is allowed on this path")]
    MethodNotAllowed,
    #[error("Invalid verification code provided, please try again.")]
    CodeMismatch,
    #[error("Invalid code provided, please request a code again.")]
    ExpiredCode,
    #[error("Too many failed attempts; request a new code later.")]
    TooManyFailedAttempts,
    #[error("Attempt limit exceeded, please try after some time.")]
    LimitExceeded,
    /// A per-caller limit refused (sends: 1005, failed confirmations: 1004).
    #[error("Attempt limit exceeded: {}", .0.public_reason())]
    Refused(crate::guards::Refusal),
    #[error("User does not exist.")]
    UserNotFound,
    #[error("User is already confirmed.")]
    AlreadyConfirmed,
    #[error("The confirmation code could not be e-mailed.")]
    CodeDeliveryFailure,
    #[error("A request with this Idempotency-Key may still be in progress; retry later.")]
    KeyInFlight,
    #[error("This Idempotency-Key was used with another request body.")]
    KeyReused,
    #[error("The service is busy; try again.")]
    Busy,
    #[error("Internal error.")]
    Internal,
    /// Answered as `Busy` or `Internal` (see `failure`).
    #[error("{}", SignupError::answered_as(.0))]
    Store(#[from] StoreError),
}

impl SignupError {
    pub fn op_code(&self) -> i32 {
        match self {
            Self::InvalidParameter(_)
            | Self::PayloadTooLarge
            | Self::MethodNotAllowed
            | Self::KeyInFlight
            | Self::KeyReused => 1001,
            Self::CodeMismatch => 1002,
            Self::ExpiredCode => 1003,
            Self::TooManyFailedAttempts => 1004,
            Self::LimitExceeded => 1005,
            Self::Refused(refusal) if refusal.rule == crate::guards::Rule::CallerFailures => 1004,
            Self::Refused(_) => 1005,
            Self::UserNotFound => 1006,
            Self::AlreadyConfirmed => 1007,
            Self::CodeDeliveryFailure => 1500,
            Self::Busy | Self::Internal | Self::Store(_) => 1999,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidParameter(_) | Self::CodeMismatch => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::ExpiredCode => StatusCode::GONE,
            Self::TooManyFailedAttempts | Self::LimitExceeded | Self::Refused(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::UserNotFound => StatusCode::NOT_FOUND,
            Self::AlreadyConfirmed | Self::KeyInFlight => StatusCode::CONFLICT,
            Self::KeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::CodeDeliveryFailure => StatusCode::BAD_GATEWAY,
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Store(err) => Self::answered_as(err).status(),
        }
    }

    /// What a store failure is answered as.
    fn answered_as(err: &StoreError) -> Self {
        if err.is_transient() { Self::Busy } else { Self::Internal }
    }

    /// Seconds until a refusal no longer holds: the `Retry-After` header.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Refused(refusal) => Some(refusal.retry_after_seconds),
            Self::KeyInFlight => Some(crate::idempotency::IN_FLIGHT_MS / 1000),
            Self::Busy => Some(crate::http::BUSY_RETRY_AFTER_SECONDS),
            Self::Store(err) => Self::answered_as(err).retry_after(),
            _ => None,
        }
    }
}
