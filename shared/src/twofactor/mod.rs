//! Family C: two-factor SMS one-time passwords (`/api/TwoFactor/...`).

use lambda_http::http::StatusCode;

use crate::dynamo::StoreError;

pub mod handler;
pub mod request;
pub mod response;
pub mod sender;
pub mod service;
pub mod store;
mod verify;

pub use service::TwoFactor;

/// Purpose bound into every family C hash and ciphertext.
pub const PURPOSE: &str = "2fa-sms-otp";

/// The legacy `Code` values: a number in JSON, its name in XML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Success = 1000,
    MaxOtpRequestExceeded = 4000,
    InvalidRequest = 4001,
    TwoFactorConfigurationNotFound = 4002,
    OtpNotFound = 4003,
    OtpExpired = 4004,
    OtpMismatch = 4005,
    MaxVerifyAttemptsExceeded = 4006,
    OtpAlreadyVerified = 4007,
    SmsSendFailed = 5000,
    InternalError = 5001,
}

impl Code {
    pub fn number(self) -> u16 {
        self as u16
    }

    pub const ALL: [Code; 11] = [
        Self::Success,
        Self::MaxOtpRequestExceeded,
        Self::InvalidRequest,
        Self::TwoFactorConfigurationNotFound,
        Self::OtpNotFound,
        Self::OtpExpired,
        Self::OtpMismatch,
        Self::MaxVerifyAttemptsExceeded,
        Self::OtpAlreadyVerified,
        Self::SmsSendFailed,
        Self::InternalError,
    ];

    pub fn from_number(number: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.number() == number)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Success => "SuccessCode",
            Self::MaxOtpRequestExceeded => "MaxOtpRequestExceededCode",
            Self::InvalidRequest => "InvalidRequestCode",
            Self::TwoFactorConfigurationNotFound => "TwoFactorConfigurationNotFoundCode",
            Self::OtpNotFound => "OtpNotFoundCode",
            Self::OtpExpired => "OtpExpiredCode",
            Self::OtpMismatch => "OtpMismatchCode",
            Self::MaxVerifyAttemptsExceeded => "MaxVerifyAttemptsExceededCode",
            Self::OtpAlreadyVerified => "OtpAlreadyVerifiedCode",
            Self::SmsSendFailed => "SmsSendFailedCode",
            Self::InternalError => "InternalErrorCode",
        }
    }
}

/// Every way a family C operation can fail, with the status and `Code` it answers.
#[derive(Debug, thiserror::Error)]
pub enum TwoFactorError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("the request body is larger than 64 KiB")]
    PayloadTooLarge,
    #[error("only POST is allowed on this path")]
    MethodNotAllowed,
    #[error("no endpoint at this path")]
    UnknownPath,
    #[error("TwoFactorConfigurationId {0} is not configured")]
    ConfigurationNotFound(i64),
    #[error("too many OTP requests for this number; try again later")]
    RateLimited,
    /// A guard against SMS pumping refused (a ceiling, or the number's block).
    #[error("{0}")]
    Refused(crate::guards::Refusal),
    #[error("OTP not found")]
    OtpNotFound,
    #[error("OTP has expired; request a new one")]
    Expired,
    #[error("OTP code does not match")]
    Mismatch { remaining: u32 },
    #[error("too many failed attempts; request a new OTP later")]
    TooManyAttempts,
    #[error("OTP has already been verified")]
    AlreadyVerified,
    #[error("the SMS could not be sent")]
    SmsFailed,
    #[error("a request with this Idempotency-Key may still be in progress; retry later")]
    KeyInFlight,
    #[error("this Idempotency-Key was used with another request body")]
    KeyReused,
    #[error("the service is busy; try again")]
    Busy,
    #[error("internal error")]
    Internal,
    /// Answered as `Busy` or `Internal` (see `failure`).
    #[error("{}", TwoFactorError::answered_as(.0))]
    Store(#[from] StoreError),
}

impl TwoFactorError {
    pub fn code(&self) -> Code {
        match self {
            Self::InvalidRequest(_)
            | Self::PayloadTooLarge
            | Self::MethodNotAllowed
            | Self::UnknownPath
            | Self::KeyInFlight
            | Self::KeyReused => Code::InvalidRequest,
            Self::ConfigurationNotFound(_) => Code::TwoFactorConfigurationNotFound,
            Self::RateLimited | Self::Refused(_) => Code::MaxOtpRequestExceeded,
            Self::OtpNotFound => Code::OtpNotFound,
            Self::Expired => Code::OtpExpired,
            Self::Mismatch { .. } => Code::OtpMismatch,
            Self::TooManyAttempts => Code::MaxVerifyAttemptsExceeded,
            Self::AlreadyVerified => Code::OtpAlreadyVerified,
            Self::SmsFailed => Code::SmsSendFailed,
            Self::Busy | Self::Internal | Self::Store(_) => Code::InternalError,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_) | Self::ConfigurationNotFound(_) | Self::Mismatch { .. } => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::OtpNotFound | Self::UnknownPath => StatusCode::NOT_FOUND,
            Self::Expired => StatusCode::GONE,
            Self::AlreadyVerified | Self::KeyInFlight => StatusCode::CONFLICT,
            Self::KeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited | Self::Refused(_) | Self::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            Self::SmsFailed => StatusCode::BAD_GATEWAY,
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
