//! The request body, read the way ServiceStack read it: JSON whatever the Content-Type says
//! (the seed's own sample posts JSON labelled text/csv), or XML when it starts with `<`.
//! Property names match case-insensitively; unknown ones are ignored.

use crate::edge::Failure;
use crate::edge::dotnet_body::{self, Document, Members, Namespace, ReadError, Syntax};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignupRequest {
    pub email_address: Option<String>,
    pub confirmation_code: Option<String>,
    /// The XML body's namespace, if any: the answer is written in it, so a client whose
    /// DTOs live in ServiceStack's usual namespace can read it.
    pub namespace: Option<String>,
}

const ROOT: &str = "CognitoSendConfirmCodeRequest";

impl SignupRequest {
    /// The confirmation code as given, trimmed; none when absent or blank: the request then
    /// asks for a code to be sent.
    pub fn code(&self) -> Option<&str> {
        self.confirmation_code.as_deref().map(str::trim).filter(|c| !c.is_empty())
    }

    pub fn parse(body: &str) -> Result<Self, Failure> {
        let trimmed = body.trim_start_matches('\u{feff}').trim();
        let syntax = if trimmed.starts_with('<') { Syntax::Xml } else { Syntax::Json };
        let document = dotnet_body::read_json_or_xml(trimmed, syntax, ROOT, Namespace::Any).map_err(|e| {
            Failure::invalid(match e {
                ReadError::Empty => "EmailAddress is required.".into(),
                ReadError::Json(e) => {
                    format!("The request body is not valid JSON (line {}, column {}).", e.line(), e.column())
                }
                ReadError::NotAnObject => "The request body must be a JSON object.".into(),
                ReadError::Xml(e) => format!("{}.", capitalise(&e.to_string())),
                ReadError::WrongRoot => format!("The root element must be {ROOT}."),
            })
        })?;
        match document {
            Document::Json(map) => {
                let members = Members::new(&map);
                let field = |name: &str| {
                    members.string(name).map_err(|_| Failure::invalid(format!("{name} must be a string.")))
                };
                Ok(Self {
                    email_address: field("EmailAddress")?,
                    confirmation_code: field("ConfirmationCode")?,
                    namespace: None,
                })
            }
            // Element names are matched without their namespace, in any order; an element's
            // own text is its value, whatever else it holds.
            Document::Xml(root) => {
                let text = |name: &str| root.child(name).map(|e| e.text.clone());
                Ok(Self {
                    email_address: text("EmailAddress"),
                    confirmation_code: text("ConfirmationCode"),
                    namespace: root.namespace.clone().filter(|ns| !ns.is_empty()),
                })
            }
        }
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().collect::<String>() + chars.as_str()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(body: &str) -> String {
        match SignupRequest::parse(body) {
            Err(invalid @ Failure::Invalid(_)) => invalid.to_string(),
            other => panic!("expected InvalidParameter for {body}: {other:?}"),
        }
    }

    #[test]
    fn when_seed_sample_json_is_read_should_take_both_fields() {
        let r = SignupRequest::parse(r#"{"EmailAddress":"String","ConfirmationCode":"String"}"#).unwrap();
        assert_eq!(r.email_address.as_deref(), Some("String"));
        assert_eq!(r.confirmation_code.as_deref(), Some("String"));
        let r = SignupRequest::parse(r#"{"emailaddress":"a@b.co","confirmationCode":null,"x":1}"#).unwrap();
        assert_eq!((r.email_address.as_deref(), r.confirmation_code), (Some("a@b.co"), None));
    }

    #[test]
    fn when_body_is_xml_should_read_elements_in_any_order_and_namespace() {
        let r = SignupRequest::parse(
            r#"<?xml version="1.0"?><CognitoSendConfirmCodeRequest xmlns="http://schemas.servicestack.net/types">
               <ConfirmationCode>012345</ConfirmationCode><EmailAddress>ana&amp;co@example.com</EmailAddress>
               </CognitoSendConfirmCodeRequest>"#,
        )
        .unwrap();
        assert_eq!(r.email_address.as_deref(), Some("ana&co@example.com"));
        assert_eq!(r.confirmation_code.as_deref(), Some("012345"));
        assert_eq!(r.namespace.as_deref(), Some("http://schemas.servicestack.net/types"));
        let r = SignupRequest::parse(
            "<CognitoSendConfirmCodeRequest><EmailAddress>a@b.co</EmailAddress></CognitoSendConfirmCodeRequest>",
        );
        assert_eq!(r.unwrap().namespace, None);
        assert_eq!(SignupRequest::parse(r#"{"EmailAddress":"a@b.co"}"#).unwrap().namespace, None);
    }

    #[test]
    fn when_body_is_malformed_should_say_so() {
        assert!(invalid("").contains("EmailAddress is required"));
        assert!(invalid(r#"{"EmailAddress":"a@b.co""#).contains("not valid JSON"));
        assert!(invalid("[1]").contains("JSON object"));
        assert!(invalid(r#"{"EmailAddress":["a"]}"#).contains("EmailAddress must be a string"));
        assert!(invalid("<Other><EmailAddress>a@b.co</EmailAddress></Other>").contains("root element must be"));
        assert!(invalid("<CognitoSendConfirmCodeRequest><EmailAddress>a").contains("not valid XML"));
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>
            <CognitoSendConfirmCodeRequest><EmailAddress>&lol2;</EmailAddress></CognitoSendConfirmCodeRequest>"#;
        assert!(invalid(bomb).contains("DTDs are not accepted"), "{}", invalid(bomb));
    }
}
