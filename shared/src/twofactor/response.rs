//! Family C answers, with the seed's field names and order.

use serde::Serialize;

use super::{Code, dialect};
use crate::edge::Failure;

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
    /// E.164; on success only (not in the seed: the backend checks the code went to the
    /// number it has on file).
    pub gsm_number: Option<String>,
}

/// The seed's DataContract namespace of both response types.
pub const RESPONSE_NAMESPACE: &str = "http://schemas.datacontract.org/2004/07/BusinessLayer.Dto.Response";

fn code_name(code: u16) -> &'static str {
    Code::from_number(code).map(Code::name).unwrap_or("InternalErrorCode")
}

impl CreateResponse {
    /// DataContract XML: members in ordinal order, `Code` by its name.
    pub fn to_xml(&self) -> String {
        let root = "CreateTwoFactorSmsOtpResponse";
        let mut w = crate::edge::xml::Writer::new(root, RESPONSE_NAMESPACE);
        w.field("Code", Some(code_name(self.code)))
            .field("ExceptionMessage", self.exception_message.as_deref())
            .field("GsmNumber", self.gsm_number.as_deref())
            .field("Id", Some(&self.id.to_string()))
            .field("OtpCode", self.otp_code.as_deref())
            .field("OtpIdReference", self.otp_id_reference.as_deref())
            .field("ReferenceCode", self.reference_code.as_deref())
            .field("RemainingExpirationSeconds", Some(&self.remaining_expiration_seconds.to_string()))
            .field("Success", Some(&self.success.to_string()));
        w.finish(root)
    }

    pub fn failure(err: &Failure) -> Self {
        Self {
            id: 0,
            otp_id_reference: None,
            reference_code: None,
            otp_code: None,
            remaining_expiration_seconds: 0,
            gsm_number: None,
            exception_message: Some(dialect::message(err)),
            success: false,
            code: dialect::code(err).number(),
        }
    }
}

impl VerifyResponse {
    pub fn to_xml(&self) -> String {
        let root = "VerifyTwoFactorSmsOtpResponse";
        let mut w = crate::edge::xml::Writer::new(root, RESPONSE_NAMESPACE);
        w.field("Code", Some(code_name(self.code)))
            .field("ExceptionMessage", self.exception_message.as_deref())
            .field("GsmNumber", self.gsm_number.as_deref())
            .field("OtpIdReference", self.otp_id_reference.as_deref())
            .field("RemainingAttempts", Some(&self.remaining_attempts.to_string()))
            .field("Success", Some(&self.success.to_string()));
        w.finish(root)
    }

    pub fn success(otp_id: String, remaining_attempts: u32, gsm_number: String) -> Self {
        Self {
            success: true,
            code: Code::Success.number(),
            exception_message: None,
            remaining_attempts,
            otp_id_reference: Some(otp_id),
            gsm_number: Some(gsm_number),
        }
    }

    pub fn failure(err: &Failure, otp_id: Option<String>) -> Self {
        let remaining_attempts = match err {
            Failure::Mismatch { remaining } => remaining.unwrap_or(0),
            _ => 0,
        };
        Self {
            success: false,
            code: dialect::code(err).number(),
            exception_message: Some(dialect::message(err)),
            remaining_attempts,
            otp_id_reference: otp_id,
            gsm_number: None,
        }
    }
}
