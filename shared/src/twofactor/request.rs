//! Family C requests as the legacy ASP.NET Web API (Json.NET) read them: property names match
//! case-insensitively, unknown properties are ignored, `null` means absent, and numbers or
//! booleans sent as strings are converted. Every failing field is reported at once.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::edge::Failure;
use crate::edge::dotnet_body::{self, Members, Namespace, ReadError, Syntax, WholeFloats};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    pub user_id: Uuid,
    pub gsm_number: String,
    /// 0 when absent.
    pub configuration_id: i64,
    /// 0 when absent: the profile's default applies.
    pub max_sms_count: i64,
    pub max_sms_interval: i64,
    pub otp_expiration_period: i64,
    pub is_sync: bool,
    pub source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyRequest {
    pub user_id: Uuid,
    pub otp_id: Uuid,
    pub otp_code: String,
}

const MAX_SOURCE_CHARS: usize = 256;

/// The seed's DataContract namespace of both request types.
pub const REQUEST_NAMESPACE: &str = "http://schemas.datacontract.org/2004/07/BusinessLayer.Dto.Request";

/// A request's members, with every failure in family C's words.
struct Fields {
    map: Map<String, Value>,
    errors: Vec<String>,
}

impl Fields {
    /// JSON, or XML in the seed's DataContract form (root `root`, the seed's namespace,
    /// members in any order).
    fn read(body: &str, syntax: Syntax, root: &str) -> Result<Self, Failure> {
        let document = dotnet_body::read_json_or_xml(body, syntax, root, Namespace::NoneOr(REQUEST_NAMESPACE))
            .map_err(|e| {
                Failure::invalid(match e {
                    ReadError::Empty => "the request body is empty".into(),
                    ReadError::NotAnObject => "the request body must be a JSON object".into(),
                    ReadError::Xml(e) => e.to_string(),
                    ReadError::Json(e) => {
                        format!("the request body is not valid JSON (line {}, column {})", e.line(), e.column())
                    }
                    ReadError::WrongRoot => format!("the root element must be {root} in namespace {REQUEST_NAMESPACE}"),
                })
            })?;
        Ok(Self { map: document.into_members(), errors: Vec::new() })
    }

    fn members(&self) -> Members<'_> {
        Members::new(&self.map)
    }

    fn string(&mut self, name: &str) -> Option<String> {
        let read = self.members().string(name).ok();
        read.unwrap_or_else(|| {
            self.errors.push(format!("{name} must be a string"));
            None
        })
    }

    fn required_string(&mut self, name: &str) -> Option<String> {
        let errors_before = self.errors.len();
        match self.string(name) {
            Some(s) if !s.trim().is_empty() => Some(s),
            _ => {
                if self.errors.len() == errors_before {
                    self.errors.push(format!("{name} is required"));
                }
                None
            }
        }
    }

    /// A C# `int`, 0 when absent.
    fn int(&mut self, name: &str) -> i64 {
        let read = self.members().int32(name, WholeFloats::Accepted).ok();
        read.map(Option::unwrap_or_default).unwrap_or_else(|| {
            self.errors.push(format!("{name} must be an integer"));
            0
        })
    }

    /// false when absent.
    fn bool(&mut self, name: &str) -> bool {
        let read = self.members().boolean(name).ok();
        read.map(Option::unwrap_or_default).unwrap_or_else(|| {
            self.errors.push(format!("{name} must be true or false"));
            false
        })
    }

    fn guid(&mut self, name: &str) -> Uuid {
        let Some(text) = self.required_string(name) else { return Uuid::nil() };
        match Uuid::parse_str(text.trim()) {
            Ok(id) if !id.is_nil() => id,
            Ok(_) => {
                self.errors.push(format!("{name} must not be the empty GUID"));
                Uuid::nil()
            }
            Err(_) => {
                self.errors.push(format!("{name} must be a GUID"));
                Uuid::nil()
            }
        }
    }

    fn finish<T>(self, value: T) -> Result<T, Failure> {
        if self.errors.is_empty() { Ok(value) } else { Err(Failure::invalid(self.errors.join("; "))) }
    }
}

impl CreateRequest {
    pub fn parse(body: &str) -> Result<Self, Failure> {
        Self::read(body, Syntax::Json)
    }

    pub fn read(body: &str, syntax: Syntax) -> Result<Self, Failure> {
        let mut f = Fields::read(body, syntax, "CreateTwoFactorSmsOtpRequest")?;
        let user_id = f.guid("UserId");
        let gsm_number = f.required_string("GsmNumber").unwrap_or_default();
        let configuration_id = f.int("TwoFactorConfigurationId");
        let max_sms_count = f.int("MaxSMSCount");
        let max_sms_interval = f.int("MaxSMSInterval");
        let otp_expiration_period = f.int("OtpExpirationPeriod");
        let is_sync = f.bool("IsSync");
        let source = f.string("Source");
        if source.as_ref().is_some_and(|s| s.chars().count() > MAX_SOURCE_CHARS) {
            f.errors.push(format!("Source must be at most {MAX_SOURCE_CHARS} characters"));
        }
        for (name, value) in [
            ("MaxSMSCount", max_sms_count),
            ("MaxSMSInterval", max_sms_interval),
            ("OtpExpirationPeriod", otp_expiration_period),
        ] {
            if value < 0 {
                f.errors.push(format!("{name} must not be negative"));
            }
        }
        let request = Self {
            user_id,
            gsm_number,
            configuration_id,
            max_sms_count,
            max_sms_interval,
            otp_expiration_period,
            is_sync,
            source,
        };
        f.finish(request)
    }
}

impl VerifyRequest {
    pub fn parse(body: &str) -> Result<Self, Failure> {
        Self::read(body, Syntax::Json)
    }

    pub fn read(body: &str, syntax: Syntax) -> Result<Self, Failure> {
        let mut f = Fields::read(body, syntax, "VerifyTwoFactorSmsOtpRequest")?;
        let user_id = f.guid("UserId");
        let otp_id = f.guid("OtpIdReference");
        let otp_code = f.required_string("OtpCode").map(|c| c.trim().to_string()).unwrap_or_default();
        let well_formed = otp_code.len() <= 10 && otp_code.bytes().all(|b| b.is_ascii_digit());
        if !otp_code.is_empty() && !well_formed {
            f.errors.push("OtpCode must be a string of at most 10 digits".into());
        }
        f.finish(Self { user_id, otp_id, otp_code })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"{"UserId":"3698b76f-a5c0-4b04-b579-bc084019fb95","GsmNumber":"sample string 2",
        "TwoFactorConfigurationId":3,"MaxSMSCount":4,"MaxSMSInterval":5,"OtpExpirationPeriod":6,
        "IsSync":true,"Source":"sample string 7"}"#;

    fn invalid(result: Result<impl std::fmt::Debug, Failure>) -> String {
        match result {
            Err(invalid @ Failure::Invalid(_)) => invalid.to_string(),
            other => panic!("expected InvalidRequest, got {other:?}"),
        }
    }

    #[test]
    fn when_seed_sample_is_parsed_should_read_every_field() {
        let r = CreateRequest::parse(SEED).unwrap();
        assert_eq!(r.user_id.to_string(), "3698b76f-a5c0-4b04-b579-bc084019fb95");
        assert_eq!(r.gsm_number, "sample string 2");
        assert_eq!((r.configuration_id, r.max_sms_count, r.max_sms_interval, r.otp_expiration_period), (3, 4, 5, 6));
        assert!(r.is_sync);
        assert_eq!(r.source.as_deref(), Some("sample string 7"));
    }

    #[test]
    fn when_seed_xml_sample_is_read_should_equal_its_json_twin() {
        let xml = r#"<CreateTwoFactorSmsOtpRequest xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.datacontract.org/2004/07/BusinessLayer.Dto.Request"> <GsmNumber>sample string 2</GsmNumber> <IsSync>true</IsSync> <MaxSMSCount>4</MaxSMSCount> <MaxSMSInterval>5</MaxSMSInterval> <OtpExpirationPeriod>6</OtpExpirationPeriod> <Source>sample string 7</Source> <TwoFactorConfigurationId>3</TwoFactorConfigurationId> <UserId>3698b76f-a5c0-4b04-b579-bc084019fb95</UserId> </CreateTwoFactorSmsOtpRequest>"#;
        assert_eq!(CreateRequest::read(xml, Syntax::Xml).unwrap(), CreateRequest::parse(SEED).unwrap());
        let nil = xml.replace("<Source>sample string 7</Source>", r#"<Source i:nil="true"/>"#);
        assert_eq!(CreateRequest::read(&nil, Syntax::Xml).unwrap().source, None);
    }

    #[test]
    fn when_xml_root_or_namespace_is_wrong_should_refuse() {
        let wrong_root = r#"<VerifyTwoFactorSmsOtpRequest xmlns="http://schemas.datacontract.org/2004/07/BusinessLayer.Dto.Request"/>"#;
        assert!(invalid(CreateRequest::read(wrong_root, Syntax::Xml)).contains("root element"));
        let wrong_ns = r#"<CreateTwoFactorSmsOtpRequest xmlns="urn:other"><GsmNumber>1</GsmNumber></CreateTwoFactorSmsOtpRequest>"#;
        assert!(invalid(CreateRequest::read(wrong_ns, Syntax::Xml)).contains("namespace"));
        assert!(invalid(CreateRequest::read("<CreateTwoFactorSmsOtpRequest>", Syntax::Xml)).contains("not valid XML"));
        let bomb = r#"<!DOCTYPE x [<!ENTITY a "aaaaaaaa">]><CreateTwoFactorSmsOtpRequest><Source>&a;</Source></CreateTwoFactorSmsOtpRequest>"#;
        assert!(invalid(CreateRequest::read(bomb, Syntax::Xml)).contains("DTD"));
    }

    #[test]
    fn when_names_differ_in_case_and_values_are_strings_should_read_them_like_json_net() {
        let r = CreateRequest::parse(
            r#"{"userid":"3698B76F-A5C0-4B04-B579-BC084019FB95","gsmNumber":905321234567,
                "twoFactorConfigurationId":"1","maxSmsCount":2.0,"isSync":"false","Extra":[1]}"#,
        )
        .unwrap();
        assert_eq!(r.gsm_number, "905321234567");
        assert_eq!(r.configuration_id, 1);
        assert_eq!(r.max_sms_count, 2);
        assert_eq!(r.max_sms_interval, 0);
        assert!(!r.is_sync);
        assert_eq!(r.source, None);
    }

    #[test]
    fn when_fields_are_wrong_should_report_each_of_them() {
        let message = invalid(CreateRequest::parse(
            r#"{"UserId":"nope","MaxSMSCount":-1,"MaxSMSInterval":"x","OtpExpirationPeriod":3000000000,"IsSync":1}"#,
        ));
        for part in [
            "UserId must be a GUID",
            "GsmNumber is required",
            "MaxSMSCount must not be negative",
            "MaxSMSInterval must be an integer",
            "OtpExpirationPeriod must be an integer",
            "IsSync must be true or false",
        ] {
            assert!(message.contains(part), "{part} missing in: {message}");
        }
    }

    #[test]
    fn when_body_is_not_a_json_object_should_say_so() {
        assert!(invalid(CreateRequest::parse("")).contains("empty"));
        assert!(invalid(CreateRequest::parse("{\"UserId\":")).contains("not valid JSON"));
        assert!(invalid(CreateRequest::parse("[1,2]")).contains("JSON object"));
        assert!(invalid(CreateRequest::parse("null")).contains("JSON object"));
        assert!(
            invalid(CreateRequest::parse(
                r#"{"UserId":"00000000-0000-0000-0000-000000000000","GsmNumber":"+905321234567"}"#
            ))
            .contains("empty GUID")
        );
        assert!(
            invalid(CreateRequest::parse(r#"{"UserId":{},"GsmNumber":true}"#)).contains("GsmNumber must be a string")
        );
    }

    #[test]
    fn when_verify_code_is_not_digits_should_refuse_without_counting_an_attempt() {
        let base = r#""UserId":"3698b76f-a5c0-4b04-b579-bc084019fb95","OtpIdReference":"5b1e7a43-54c4-4c8a-9f4f-b8f5e7f1d2a0""#;
        let ok = VerifyRequest::parse(&format!("{{{base},\"OtpCode\":\" 012345 \"}}")).unwrap();
        assert_eq!(ok.otp_code, "012345");
        assert!(invalid(VerifyRequest::parse(&format!("{{{base},\"OtpCode\":\"12a456\"}}"))).contains("OtpCode"));
        assert!(invalid(VerifyRequest::parse(&format!("{{{base}}}"))).contains("OtpCode is required"));
        assert!(invalid(VerifyRequest::parse(r#"{"OtpCode":"1"}"#)).contains("OtpIdReference is required"));
    }
}
