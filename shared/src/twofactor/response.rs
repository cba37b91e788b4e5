//! Family C answers, with the seed's field names and order.

use serde::Serialize;

use super::{Code, TwoFactorError};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct CreateResponse {
    pub id: u64,
    pub otp_id_reference: Option<String>,
    pub reference_code: Option<String>,
    pub otp_code: Option<String>,
    pub remaining_expiration_seconds: u64,
    pub gsm_number: Option<String>,
    pub exception_message: Option<String>,
    pub success: bool,
    pub code: u16,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct VerifyResponse {
    pub success: bool,
    pub code: u16,
    pub exception_message: Option<String>,
    pub remaining_attempts: u32,
    pub otp_id_reference: Option<String>,
}

impl CreateResponse {
    pub fn failure(err: &TwoFactorError) -> Self {
        Self {
            id: 0,
            otp_id_reference: None,
            reference_code: None,
            otp_code: None,
            remaining_expiration_seconds: 0,
            gsm_number: None,
            exception_message: Some(err.to_string()),
            success: false,
            code: err.code().number(),
        }
    }
}

impl VerifyResponse {
    pub fn success(otp_id: String, remaining_attempts: u32) -> Self {
        Self {
            success: true,
            code: Code::Success.number(),
            exception_message: None,
            remaining_attempts,
            otp_id_reference: Some(otp_id),
        }
    }

    pub fn failure(err: &TwoFactorError, otp_id: Option<String>) -> Self {
        let remaining_attempts = match err {
            TwoFactorError::Mismatch { remaining } => *remaining,
            _ => 0,
        };
        Self {
            success: false,
            code: err.code().number(),
            exception_message: Some(err.to_string()),
            remaining_attempts,
            otp_id_reference: otp_id,
        }
    }
}
