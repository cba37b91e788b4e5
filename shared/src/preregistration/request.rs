//! Family B requests, bound and validated as the legacy ASP.NET Web API did (see
//! `model_binding`) with the seed's DataAnnotations, every failing field at once. Deliberate
//! deviations (API.md) are marked below.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::model_binding::{ModelBinder, ModelState, model_error, whole_match};
use crate::edge::dotnet_body::{self, Members, Namespace, ReadError, Syntax};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditInfo {
    pub ip_address: Option<String>,
    pub latitude: Option<String>,
    pub longitude: Option<String>,
    pub country_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GenerateRequest {
    pub user_type_alt_id: Option<String>,
    pub mobile_number: Option<String>,
    pub international_prefix: Option<String>,
    pub email_address: Option<String>,
    pub audit_info: Option<AuditInfo>,
    pub recovery_id: Option<i64>,
    pub user_registration_id: Option<i64>,
    pub application_id: String,
    pub application_version: Option<String>,
    pub application_os: Option<String>,
    pub language: Option<String>,
    pub device_id: Option<i64>,
    pub device_alt_id: Option<String>,
    pub ip_address: Option<String>,
    pub latitude: Option<String>,
    pub longitude: Option<String>,
    pub additional_parameters: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValidateRequest {
    pub application_id: String,
    pub confirmation_id: Option<String>,
    pub mobile_number: Option<String>,
    pub international_prefix: Option<String>,
    pub email_address: Option<String>,
    pub confirmation_code: String,
    pub language: Option<String>,
}

/// The seed's patterns, except where API.md deviates (e-mail top-level domain 2 to 63).
const ALT_ID_PATTERN: &str = r"[0-9a-fA-F\-]{32,36}";
const DIGITS_PATTERN: &str = r"^[0-9]+$";
const EMAIL_PATTERN: &str = r"[\w._%+-]+@[\w.-]+\.[a-zA-Z]{2,63}";
const IP_PATTERN: &str = r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}";
const MAX_PARAMETERS: usize = 20;

/// The seed's DataContract namespace of both request types.
pub const REQUEST_NAMESPACE: &str = "http://schemas.datacontract.org/2004/07/SFE.Auth.Core.Requests";

/// The request's members: from JSON, or from XML in the seed's DataContract form.
fn read(body: &str, syntax: Syntax, root: &str) -> Result<Map<String, Value>, ModelState> {
    let document =
        dotnet_body::read_json_or_xml(body, syntax, root, Namespace::NoneOr(REQUEST_NAMESPACE)).map_err(|e| {
            model_error(
                "request",
                match e {
                    ReadError::Empty => "A non-empty request body is required.".into(),
                    ReadError::Json(e) => {
                        format!("Invalid JSON: {e}. Path '', line {}, position {}.", e.line(), e.column())
                    }
                    ReadError::NotAnObject => {
                        "Cannot deserialize the current JSON value into the request object.".into()
                    }
                    ReadError::Xml(e) => format!("{e}."),
                    ReadError::WrongRoot => format!("Expecting element '{root}' from namespace '{REQUEST_NAMESPACE}'."),
                },
            )
        })?;
    Ok(document.into_members())
}

/// The request bound by `bind_members`, or every failure in `ModelState`.
fn bind<T>(
    body: &str,
    syntax: Syntax,
    root: &str,
    bind_members: impl FnOnce(&mut ModelBinder<'_, '_>) -> T,
) -> Result<T, ModelState> {
    let map = read(body, syntax, root)?;
    let mut errors = ModelState::new();
    let request = bind_members(&mut ModelBinder::new(Members::new(&map), "request", &mut errors));
    if errors.is_empty() { Ok(request) } else { Err(errors) }
}

/// Deviation: IPv6 accepted, IPv4 octets at most 255 (the seed's pattern allowed 999).
fn ip(r: &mut ModelBinder<'_, '_>, name: &str, value: &Option<String>) {
    let Some(value) = value.as_deref().filter(|v| !v.is_empty()) else { return };
    let valid = value.parse::<std::net::Ipv6Addr>().is_ok()
        || (whole_match(IP_PATTERN, value) && value.parse::<std::net::Ipv4Addr>().is_ok());
    if !valid {
        r.fail(name, format!("The field {name} must be a valid IPv4 or IPv6 address."));
    }
}

/// Deviation: 1 to 5 digits (the seed's minimum of 5 rejects every calling code), a
/// leading `00` stripped.
fn international_prefix(r: &mut ModelBinder<'_, '_>, name: &str, value: Option<String>) -> Option<String> {
    let value = value.map(|v| v.trim().to_string());
    let stripped = value.as_ref().map(|v| v.strip_prefix("00").unwrap_or(v).to_string());
    if let Some(v) = &stripped {
        if v.is_empty() || v.len() > 5 {
            r.fail(
                name,
                format!("The field {name} must be a string with a minimum length of 1 and a maximum length of 5."),
            );
        } else if !whole_match(DIGITS_PATTERN, v) {
            r.fail(name, format!("The field {name} must match the regular expression '{DIGITS_PATTERN}'."));
        }
    }
    stripped
}

/// A dictionary in the form DataContractJsonSerializer writes by default (without
/// `UseSimpleDictionaryFormat`), `[{"Key":"k","Value":"v"}]`, as the object Json.NET writes;
/// `None` when an entry is not a pair with a string key.
fn key_value_entries(entries: &[Value]) -> Option<Map<String, Value>> {
    entries
        .iter()
        .map(|entry| {
            let entry = Members::new(entry.as_object()?);
            let key = entry.get("Key")?.as_str()?.to_string();
            Some((key, entry.get("Value").cloned().unwrap_or(Value::Null)))
        })
        .collect()
}

fn channels(r: &mut ModelBinder<'_, '_>, mobile: &Option<String>, prefix: &Option<String>, email: &Option<String>) {
    let has_mobile = mobile.as_deref().is_some_and(|m| !m.is_empty());
    if has_mobile && prefix.as_deref().is_none_or(str::is_empty) {
        r.fail("internationalPrefix", "The internationalPrefix field is required.".into());
    }
    if !has_mobile && email.as_deref().is_none_or(str::is_empty) {
        r.fail("mobileNumber", "Either mobileNumber or emailAddress is required.".into());
    }
}

impl GenerateRequest {
    pub fn parse(body: &str) -> Result<Self, ModelState> {
        Self::read(body, Syntax::Json)
    }

    pub fn read(body: &str, syntax: Syntax) -> Result<Self, ModelState> {
        bind(body, syntax, "GenerateCnfCodeNotUserRequest", |r| {
            let mut request = Self {
                user_type_alt_id: r.string("userTypeAltId"),
                mobile_number: r.string("mobileNumber").map(|m| m.trim().to_string()),
                email_address: r.string("emailAddress").map(|e| e.trim().to_string()),
                recovery_id: r.integer("recoveryId"),
                user_registration_id: r.integer("userRegistrationId"),
                application_id: r.string("applicationId").unwrap_or_default(),
                application_version: r.string("applicationVersion"),
                application_os: r.string("applicationOS"),
                language: r.string("language"),
                device_id: r.integer("deviceId"),
                device_alt_id: r.string("deviceAltId"),
                ip_address: r.string("ipAddress"),
                latitude: r.string("latitude"),
                longitude: r.string("longitude"),
                ..Self::default()
            };
            let prefix = r.string("internationalPrefix");
            request.international_prefix = international_prefix(r, "internationalPrefix", prefix);
            r.check("userTypeAltId", &request.user_type_alt_id, 0, 128, Some(ALT_ID_PATTERN));
            r.check("mobileNumber", &request.mobile_number, 5, 50, Some(DIGITS_PATTERN));
            r.check("emailAddress", &request.email_address, 0, 100, Some(EMAIL_PATTERN));
            r.required("applicationId", &Some(request.application_id.clone()));
            r.check("applicationVersion", &request.application_version, 0, 100, None);
            r.check("applicationOS", &request.application_os, 0, 100, None);
            r.check("language", &request.language, 0, 5, None);
            r.check("deviceAltId", &request.device_alt_id, 0, 128, None);
            ip(r, "ipAddress", &request.ip_address);
            r.check("latitude", &request.latitude, 0, 50, None);
            r.check("longitude", &request.longitude, 0, 50, None);
            channels(r, &request.mobile_number, &request.international_prefix, &request.email_address);

            match r.get("auditInfo") {
                None => {}
                Some(Value::Object(audit)) => {
                    let mut a = r.nested("auditInfo", Members::new(audit));
                    let info = AuditInfo {
                        ip_address: a.string("ipAddress"),
                        latitude: a.string("latitude"),
                        longitude: a.string("longitude"),
                        country_code: a.string("countryCode"),
                    };
                    ip(&mut a, "ipAddress", &info.ip_address);
                    a.check("latitude", &info.latitude, 0, 50, None);
                    a.check("longitude", &info.longitude, 0, 50, None);
                    a.check("countryCode", &info.country_code, 0, 5, None);
                    request.audit_info = Some(info);
                }
                Some(_) => r.fail(
                    "auditInfo",
                    "Cannot deserialize the current JSON value into type 'RequestAuditInfo'.".into(),
                ),
            }
            let not_a_dictionary = "Cannot deserialize the current JSON value into type 'Dictionary<string, string>'.";
            let parameters = match r.get("additionalParameters") {
                None => None,
                Some(Value::Object(parameters)) => Some(parameters.clone()),
                Some(Value::Array(entries)) => {
                    let parameters = key_value_entries(entries);
                    if parameters.is_none() {
                        r.fail("additionalParameters", not_a_dictionary.into());
                    }
                    parameters
                }
                Some(_) => {
                    r.fail("additionalParameters", not_a_dictionary.into());
                    None
                }
            };
            if let Some(parameters) = parameters {
                if parameters.len() > MAX_PARAMETERS {
                    r.fail(
                        "additionalParameters",
                        format!("The field additionalParameters must have at most {MAX_PARAMETERS} entries."),
                    );
                }
                for (key, value) in parameters {
                    let value = match value {
                        Value::String(s) => s,
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    if key.chars().count() > 64 || value.chars().count() > 512 {
                        r.fail(
                            "additionalParameters",
                            "Keys of additionalParameters must be at most 64 characters and values at most 512.".into(),
                        );
                        break;
                    }
                    request.additional_parameters.insert(key, value);
                }
            }
            request
        })
    }
}

impl ValidateRequest {
    pub fn parse(body: &str) -> Result<Self, ModelState> {
        Self::read(body, Syntax::Json)
    }

    pub fn read(body: &str, syntax: Syntax) -> Result<Self, ModelState> {
        bind(body, syntax, "ValidateCnfCodeNotUserRequest", |r| {
            let mut request = Self {
                application_id: r.string("applicationId").unwrap_or_default(),
                confirmation_id: r.string("confirmationId").map(|c| c.trim().to_string()).filter(|c| !c.is_empty()),
                mobile_number: r.string("mobileNumber").map(|m| m.trim().to_string()),
                email_address: r.string("emailAddress").map(|e| e.trim().to_string()),
                confirmation_code: r.string("confirmationCode").map(|c| c.trim().to_string()).unwrap_or_default(),
                language: r.string("language"),
                ..Self::default()
            };
            let prefix = r.string("internationalPrefix");
            request.international_prefix = international_prefix(r, "internationalPrefix", prefix);
            r.required("applicationId", &Some(request.application_id.clone()));
            r.required("confirmationCode", &Some(request.confirmation_code.clone()));
            r.check(
                "confirmationCode",
                &Some(request.confirmation_code.clone()).filter(|c| !c.is_empty()),
                0,
                10,
                Some(DIGITS_PATTERN),
            );
            r.check("mobileNumber", &request.mobile_number, 5, 50, Some(DIGITS_PATTERN));
            r.check("emailAddress", &request.email_address, 0, 100, Some(EMAIL_PATTERN));
            r.check("language", &request.language, 0, 5, None);
            if let Some(id) = &request.confirmation_id {
                if uuid::Uuid::parse_str(id).is_err() {
                    r.fail("confirmationId", "The value of confirmationId is not a valid GUID.".into());
                }
            } else {
                channels(r, &request.mobile_number, &request.international_prefix, &request.email_address);
            }
            request
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(body: &str) -> ModelState {
        GenerateRequest::parse(body).unwrap_err()
    }

    #[test]
    fn when_seed_sample_is_sent_should_report_each_rule_it_breaks() {
        let seed = r#"{"userTypeAltId":"sample string 1","mobileNumber":"sample string 2","internationalPrefix":"sample string 3",
            "emailAddress":"sample string 4","auditInfo":{"ipAddress":"sample string 1","latitude":"sample string 2",
            "longitude":"sample string 3","countryCode":"sample string 4"},"recoveryId":5,"userRegistrationId":6,
            "applicationId":"sample string 7","applicationVersion":"sample string 8","applicationOS":"sample string 9",
            "language":"sample string 10","deviceId":11,"deviceAltId":"sample string 12","ipAddress":"sample string 13",
            "latitude":"sample string 14","longitude":"sample string 15",
            "additionalParameters":{"sample string 1":"sample string 2","sample string 3":"sample string 4"}}"#;
        let e = errors(seed);
        assert_eq!(
            e["request.userTypeAltId"],
            vec![r"The field userTypeAltId must match the regular expression '[0-9a-fA-F\-]{32,36}'."]
        );
        assert_eq!(
            e["request.mobileNumber"],
            vec!["The field mobileNumber must match the regular expression '^[0-9]+$'."]
        );
        assert_eq!(
            e["request.internationalPrefix"],
            vec![
                "The field internationalPrefix must be a string with a minimum length of 1 and a maximum length of 5."
            ]
        );
        assert_eq!(
            e["request.emailAddress"],
            vec![r"The field emailAddress must match the regular expression '[\w._%+-]+@[\w.-]+\.[a-zA-Z]{2,63}'."]
        );
        assert_eq!(e["request.language"], vec!["The field language must be a string with a maximum length of 5."]);
        assert!(e.contains_key("request.ipAddress"));
        assert!(e.contains_key("request.auditInfo.ipAddress"));
        assert!(e.contains_key("request.auditInfo.countryCode"));
    }

    #[test]
    fn when_seed_xml_sample_is_read_should_equal_its_json_twin() {
        let xml = include_str!("../../tests/fixtures/seed-generate-cnf-code-not-user.xml");
        let json = include_str!("../../tests/fixtures/seed-generate-cnf-code-not-user.json");
        let real = |text: &str| {
            text.replace("sample string 2", "91123456789")
                .replace("sample string 3", "54")
                .replace("sample string 4", "ana@example.com")
                .replace("sample string 7", "demo")
                .replace("sample string 10", "es")
                .replace("sample string 13", "203.0.113.7")
                .replace("sample string 1<", "203.0.113.8<")
                .replace("\"sample string 1\"", "\"203.0.113.8\"")
        };
        let from_xml = GenerateRequest::read(&real(xml), Syntax::Xml);
        let from_json = GenerateRequest::read(&real(json), Syntax::Json);
        assert_eq!(from_xml, from_json);
        let errors = from_xml.unwrap_err();
        assert_eq!(
            errors.keys().collect::<Vec<_>>(),
            vec!["request.auditInfo.countryCode", "request.userTypeAltId"],
            "{errors:?}"
        );
    }

    #[test]
    fn when_request_is_valid_should_read_every_field() {
        let r = GenerateRequest::parse(
            r#"{"MobileNumber":"91123456789","internationalPrefix":"0054","emailAddress":"ana@shop.online",
                "applicationId":"demo","recoveryId":"7","deviceId":3,"ipAddress":"2001:db8::1",
                "userTypeAltId":"3698b76f-a5c0-4b04-b579-bc084019fb95","auditInfo":{"ipAddress":"203.0.113.7"},
                "additionalParameters":{"campaign":"spring"}}"#,
        )
        .unwrap();
        assert_eq!(r.international_prefix.as_deref(), Some("54"));
        assert_eq!(r.mobile_number.as_deref(), Some("91123456789"));
        assert_eq!(r.recovery_id, Some(7));
        assert_eq!(r.audit_info.unwrap().ip_address.as_deref(), Some("203.0.113.7"));
        assert_eq!(r.additional_parameters["campaign"], "spring");
    }

    #[test]
    fn when_dictionary_comes_as_key_value_pairs_should_read_it_like_the_object_form() {
        // DataContractJsonSerializer's default dictionary form.
        let pairs = GenerateRequest::parse(
            r#"{"applicationId":"demo","emailAddress":"ana@shop.online",
                "additionalParameters":[{"Key":"campaign","Value":"spring"},{"key":"empty","value":null}]}"#,
        )
        .unwrap();
        let object = GenerateRequest::parse(
            r#"{"applicationId":"demo","emailAddress":"ana@shop.online",
                "additionalParameters":{"campaign":"spring","empty":null}}"#,
        )
        .unwrap();
        assert_eq!(pairs, object);
        assert_eq!(pairs.additional_parameters["campaign"], "spring");
        for bad in [r#"[{"Value":"v"}]"#, r#"[{"Key":1,"Value":"v"}]"#, r#"["k"]"#] {
            let e =
                errors(&format!(r#"{{"applicationId":"demo","emailAddress":"a@b.co","additionalParameters":{bad}}}"#));
            assert_eq!(
                e["request.additionalParameters"],
                vec!["Cannot deserialize the current JSON value into type 'Dictionary<string, string>'."],
                "{bad}"
            );
        }
        let many: Vec<Value> = (0..21).map(|i| serde_json::json!({"Key": format!("k{i}"), "Value": "v"})).collect();
        let e = errors(
            &serde_json::json!({"applicationId":"demo","emailAddress":"a@b.co","additionalParameters":many})
                .to_string(),
        );
        assert!(e.contains_key("request.additionalParameters"), "the limit holds for pairs too");
    }

    #[test]
    fn when_rules_are_broken_should_use_net_wording() {
        let e = errors(r#"{"mobileNumber":"123","internationalPrefix":"54","applicationId":" "}"#);
        assert_eq!(
            e["request.mobileNumber"],
            vec!["The field mobileNumber must be a string with a minimum length of 5 and a maximum length of 50."]
        );
        assert_eq!(e["request.applicationId"], vec!["The applicationId field is required."]);
        let e =
            errors(r#"{"mobileNumber":"91123456789","applicationId":"demo","ipAddress":"256.1.1.1","recoveryId":"x"}"#);
        assert_eq!(e["request.internationalPrefix"], vec!["The internationalPrefix field is required."]);
        assert!(e.contains_key("request.ipAddress"));
        assert_eq!(e["request.recoveryId"], vec!["Could not convert string to integer: x. Path 'recoveryId'."]);
        let e = errors(r#"{"applicationId":"demo"}"#);
        assert_eq!(e["request.mobileNumber"], vec!["Either mobileNumber or emailAddress is required."]);
        let e = errors(r#"{"applicationId":"demo","emailAddress":"a@b.co x"}"#);
        assert!(e.contains_key("request.emailAddress"), "the pattern must match the whole value");
        let many: Map<String, Value> = (0..21).map(|i| (format!("k{i}"), Value::from("v"))).collect();
        let e = errors(
            &serde_json::json!({"applicationId":"demo","emailAddress":"a@b.co","additionalParameters":many})
                .to_string(),
        );
        assert!(e.contains_key("request.additionalParameters"));
    }

    #[test]
    fn when_body_is_not_json_should_fail_the_whole_request() {
        for body in ["", "{\"applicationId\":", "[1]"] {
            assert!(errors(body).contains_key("request"), "{body}");
        }
    }

    #[test]
    fn when_validate_request_names_a_code_should_need_no_destination() {
        let r = ValidateRequest::parse(
            r#"{"applicationId":"demo","confirmationId":"5b1e7a43-54c4-4c8a-9f4f-b8f5e7f1d2a0","confirmationCode":"012345"}"#,
        )
        .unwrap();
        assert_eq!(r.confirmation_code, "012345");
        let e = ValidateRequest::parse(r#"{"applicationId":"demo","confirmationCode":"12ab"}"#).unwrap_err();
        assert!(e.contains_key("request.confirmationCode"));
        assert!(e.contains_key("request.mobileNumber"));
    }
}
