//! Family B answers, with the seed's member names: the payloads inside KinPOS's
//! `GenericResult<T>`, and ASP.NET Web API's `HttpError`, in JSON or DataContract XML.
//!
//! Members are declared in ordinal order: the order DataContractSerializer writes them in,
//! and the order the JSON answers had when they were built as `serde_json` maps (sorted).

use serde::{Deserialize, Serialize};

use super::model_binding::ModelState;
use super::request::REQUEST_NAMESPACE;
use super::{Language, dialect};
use crate::edge::Failure;
use crate::edge::xml::{Writer, contract_namespace, escape, generic_contract_name, json_members};

/// Where a code was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Channel {
    Sms,
    Email,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sms => "SMS",
            Self::Email => "EMAIL",
        }
    }
}

/// A payload type of `GenericResult<T>`, named as its data contract is.
pub trait Payload: Serialize {
    const CONTRACT: &'static str;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateResponse {
    pub channels: Vec<Channel>,
    pub confirmation_id: String,
    pub expires_in_seconds: u64,
    pub masked_email_address: Option<String>,
    pub masked_mobile_number: Option<String>,
    pub resend_after_seconds: u64,
}

impl Payload for GenerateResponse {
    const CONTRACT: &'static str = "GenerateCnfCodeNotUserResponse";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidateResponse {
    pub confirmation_id: String,
    pub valid: bool,
}

impl Payload for ValidateResponse {
    const CONTRACT: &'static str = "ValidateCnfCodeNotUserResponse";
}

/// `{"encryptedData": "..."}` for applications with a key (the payload's JSON, encrypted),
/// else `{"encryptedData": null, "response": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenericResult<T> {
    pub encrypted_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<T>,
}

/// The seed's `KinPOS.API.GenericResult<T>`; `T` (the payload) is in the requests' namespace.
const RESULT_CLR_NAMESPACE: &str = "KinPOS.API";

impl<T: Payload> GenericResult<T> {
    /// As DataContractSerializer writes it: the generic contract's own name
    /// (`GenericResultOf<payload><digest>`) in KinPOS.API's namespace, and the payload's
    /// members in the payload type's namespace, bound to the prefix .NET's writer would
    /// generate at that depth (`d2p1`).
    pub fn to_xml(&self) -> String {
        let root = generic_contract_name("GenericResult", &[(T::CONTRACT, REQUEST_NAMESPACE)]);
        let mut w = Writer::new(&root, &contract_namespace(RESULT_CLR_NAMESPACE));
        w.field("encryptedData", self.encrypted_data.as_deref());
        let declaration = format!("xmlns:d2p1=\"{REQUEST_NAMESPACE}\"");
        match &self.response {
            None => w.raw(&format!("<response {declaration} i:nil=\"true\"/>")),
            Some(payload) => {
                // Plain structs of strings and numbers: serialising them cannot fail.
                let members = serde_json::to_value(payload).map(|v| json_members(&v, "d2p1", 3)).unwrap_or_default();
                w.raw(&format!("<response {declaration}>{members}</response>"))
            }
        };
        w.finish(&root)
    }
}

/// ASP.NET Web API's `HttpError`: the message, and `ModelState` for invalid requests or the
/// attempts left after a wrong code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpError {
    #[serde(rename = "Message")]
    pub message: String,
    #[serde(rename = "ModelState", skip_serializing_if = "Option::is_none")]
    pub model_state: Option<ModelState>,
    #[serde(rename = "remainingAttempts", skip_serializing_if = "Option::is_none")]
    pub remaining_attempts: Option<u32>,
}

impl HttpError {
    pub fn new(err: &Failure, language: Language) -> Self {
        let (model_state, remaining_attempts) = match err {
            Failure::Invalid(model_state) => (Some(model_state.clone()), None),
            Failure::Mismatch { remaining } => (None, *remaining),
            _ => (None, None),
        };
        Self { message: dialect::message(err, language), model_state, remaining_attempts }
    }

    /// `<Error><Message/><ModelState><request.x/>...</ModelState></Error>`.
    pub fn to_xml(&self) -> String {
        let mut out = String::from("<Error>");
        out.push_str(&format!("<Message>{}</Message>", escape(&self.message)));
        if let Some(state) = &self.model_state {
            out.push_str("<ModelState>");
            for (key, messages) in state {
                for message in messages {
                    out.push_str(&format!("<{key}>{}</{key}>", escape(message)));
                }
            }
            out.push_str("</ModelState>");
        }
        if let Some(remaining) = self.remaining_attempts {
            out.push_str(&format!("<remainingAttempts>{remaining}</remainingAttempts>"));
        }
        out.push_str("</Error>");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generated() -> GenerateResponse {
        GenerateResponse {
            channels: vec![Channel::Sms, Channel::Email],
            confirmation_id: "5b1e7a43-54c4-4c8a-9f4f-b8f5e7f1d2a0".into(),
            expires_in_seconds: 600,
            masked_email_address: Some("a***@shop.online".into()),
            masked_mobile_number: None,
            resend_after_seconds: 30,
        }
    }

    #[test]
    fn when_answered_in_json_should_write_members_in_ordinal_order_with_nulls() {
        let plain = GenericResult { encrypted_data: None, response: Some(generated()) };
        assert_eq!(
            serde_json::to_string(&plain).unwrap(),
            r#"{"encryptedData":null,"response":{"channels":["SMS","EMAIL"],"confirmationId":"5b1e7a43-54c4-4c8a-9f4f-b8f5e7f1d2a0","expiresInSeconds":600,"maskedEmailAddress":"a***@shop.online","maskedMobileNumber":null,"resendAfterSeconds":30}}"#
        );
        let sealed = GenericResult::<ValidateResponse> { encrypted_data: Some("x".into()), response: None };
        assert_eq!(serde_json::to_string(&sealed).unwrap(), r#"{"encryptedData":"x"}"#);
        let error = HttpError { message: "m".into(), model_state: None, remaining_attempts: Some(2) };
        assert_eq!(serde_json::to_string(&error).unwrap(), r#"{"Message":"m","remainingAttempts":2}"#);
    }

    #[test]
    fn when_answered_in_xml_should_write_what_the_json_built_answer_wrote() {
        let plain = GenericResult { encrypted_data: None, response: Some(generated()) };
        assert_eq!(
            plain.to_xml(),
            "<GenericResultOfGenerateCnfCodeNotUserResponseNXX2sC_S0 xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" \
             xmlns=\"http://schemas.datacontract.org/2004/07/KinPOS.API\"><encryptedData i:nil=\"true\"/>\
             <response xmlns:d2p1=\"http://schemas.datacontract.org/2004/07/SFE.Auth.Core.Requests\">\
             <d2p1:channels xmlns:d3p1=\"http://schemas.microsoft.com/2003/10/Serialization/Arrays\">\
             <d3p1:string>SMS</d3p1:string><d3p1:string>EMAIL</d3p1:string></d2p1:channels>\
             <d2p1:confirmationId>5b1e7a43-54c4-4c8a-9f4f-b8f5e7f1d2a0</d2p1:confirmationId>\
             <d2p1:expiresInSeconds>600</d2p1:expiresInSeconds>\
             <d2p1:maskedEmailAddress>a***@shop.online</d2p1:maskedEmailAddress>\
             <d2p1:maskedMobileNumber i:nil=\"true\"/><d2p1:resendAfterSeconds>30</d2p1:resendAfterSeconds>\
             </response></GenericResultOfGenerateCnfCodeNotUserResponseNXX2sC_S0>"
        );
        let state = ModelState::from([("request.a".to_string(), vec!["x < y".to_string(), "z".to_string()])]);
        let error = HttpError { message: "m".into(), model_state: Some(state), remaining_attempts: None };
        assert_eq!(
            error.to_xml(),
            "<Error><Message>m</Message><ModelState><request.a>x &lt; y</request.a><request.a>z</request.a></ModelState></Error>"
        );
    }
}
