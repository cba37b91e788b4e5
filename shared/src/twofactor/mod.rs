//! Family C: two-factor SMS one-time passwords (`/api/TwoFactor/...`).

pub mod config;
pub mod dialect;
pub mod handler;
pub mod request;
pub mod response;
pub mod sender;
pub mod service;
pub mod store;
mod verify;

pub use config::{TwoFactorConfig, TwoFactorProfile};
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
