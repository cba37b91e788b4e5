//! Request bodies read as the legacy .NET services read them, written once for the three
//! families: JSON, or XML in DataContract form under one root element; members as Json.NET
//! binds them (names matched ignoring case, unknown ones ignored, `null` as absent, numbers
//! and booleans given as strings converted). Each family words the failures its own way.

use lambda_http::http::HeaderMap;
use serde_json::{Map, Value};

use crate::edge::xml::{Element, XmlError};

/// The syntax of a body: what a request is written in, or what its answer is to be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Json,
    Xml,
}

impl Syntax {
    /// A body labelled XML, or starting with `<`, is XML.
    pub fn of_body(headers: &HeaderMap, body: &str) -> Self {
        if crate::edge::http::is_xml_body(headers, body) { Self::Xml } else { Self::Json }
    }

    /// The answer's: XML when `Accept` prefers it, else JSON.
    pub fn accepted(headers: &HeaderMap) -> Self {
        if crate::edge::http::prefers_xml(headers) { Self::Xml } else { Self::Json }
    }
}

/// Which namespace the XML root element may be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace<'a> {
    /// Any (ServiceStack answers in the request's own).
    Any,
    /// This one, or none declared (DataContractSerializer's clients declare it; others omit it).
    NoneOr(&'a str),
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the request body is empty")]
    Empty,
    #[error("the request body is not valid JSON")]
    Json(#[source] serde_json::Error),
    #[error("the request body must be a JSON object")]
    NotAnObject,
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("the root element is not the request's")]
    WrongRoot,
}

/// A body as parsed, before its members are read.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    Json(Map<String, Value>),
    /// The root element, checked.
    Xml(Element),
}

impl Document {
    /// The members as Json.NET would see them: XML as the JSON its DataContract type would
    /// serialise to (see `xml::to_json`).
    pub fn into_members(self) -> Map<String, Value> {
        match self {
            Self::Json(map) => map,
            Self::Xml(root) => match crate::edge::xml::to_json(&root) {
                Value::Object(map) => map,
                _ => Map::new(),
            },
        }
    }
}

/// A JSON object, or an XML document whose root element is `root` in `namespace`.
pub fn read_json_or_xml(body: &str, syntax: Syntax, root: &str, namespace: Namespace) -> Result<Document, ReadError> {
    match syntax {
        Syntax::Json => {
            if body.trim().is_empty() {
                return Err(ReadError::Empty);
            }
            match serde_json::from_str::<Value>(body).map_err(ReadError::Json)? {
                Value::Object(map) => Ok(Document::Json(map)),
                _ => Err(ReadError::NotAnObject),
            }
        }
        Syntax::Xml => {
            let element = crate::edge::xml::parse(body)?;
            let in_namespace = match namespace {
                Namespace::Any => true,
                Namespace::NoneOr(expected) => element.namespace.as_deref().is_none_or(|ns| ns == expected),
            };
            if element.name != root || !in_namespace {
                return Err(ReadError::WrongRoot);
            }
            Ok(Document::Xml(element))
        }
    }
}

/// Whether a number written with a fraction (`3.0`) is taken as an integer when the
/// fraction is zero, as Json.NET does for an `int`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WholeFloats {
    Accepted,
    Refused,
}

/// A member present whose value cannot become the type asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unconvertible<'a>(pub &'a Value);

/// The members of a JSON object, read leniently.
#[derive(Debug, Clone, Copy)]
pub struct Members<'a>(&'a Map<String, Value>);

impl<'a> Members<'a> {
    pub fn new(map: &'a Map<String, Value>) -> Self {
        Self(map)
    }

    /// The member whose name matches ignoring ASCII case; `null` is absent.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.0.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value).filter(|v| !v.is_null())
    }

    /// A string, or a number as written.
    pub fn string(&self, name: &str) -> Result<Option<String>, Unconvertible<'a>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(Unconvertible(other)),
        }
    }

    /// `string`, also taking a boolean as .NET writes it (`True`, `False`).
    pub fn string_or_boolean(&self, name: &str) -> Result<Option<String>, Unconvertible<'a>> {
        match self.get(name) {
            Some(Value::Bool(b)) => Ok(Some(if *b { "True" } else { "False" }.to_string())),
            _ => self.string(name),
        }
    }

    /// A C# `int`: a JSON integer, or a string holding one.
    pub fn int32(&self, name: &str, whole_floats: WholeFloats) -> Result<Option<i64>, Unconvertible<'a>> {
        let Some(value) = self.get(name) else { return Ok(None) };
        let parsed = match value {
            Value::Number(n) => n.as_i64().or_else(|| match whole_floats {
                WholeFloats::Accepted => n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 1e15).map(|f| f as i64),
                WholeFloats::Refused => None,
            }),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        parsed.filter(|v| i32::try_from(*v).is_ok()).map(Some).ok_or(Unconvertible(value))
    }

    /// A JSON boolean, or the string `true` or `false` in any case.
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, Unconvertible<'a>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(other) => Err(Unconvertible(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn when_members_are_read_should_ignore_case_and_take_null_as_absent() {
        let map =
            members(r#"{"Name":"a","Count":"7","Big":3000000000,"Whole":4.0,"Flag":"TRUE","Gone":null,"Yes":true}"#);
        let m = Members::new(&map);
        assert_eq!(m.string("name"), Ok(Some("a".into())));
        assert_eq!(m.string("gone"), Ok(None));
        assert_eq!(m.string("count"), Ok(Some("7".into())));
        assert!(m.string("yes").is_err());
        assert_eq!(m.string_or_boolean("yes"), Ok(Some("True".into())));
        assert_eq!(m.int32("count", WholeFloats::Refused), Ok(Some(7)));
        assert!(m.int32("big", WholeFloats::Accepted).is_err());
        assert!(m.int32("whole", WholeFloats::Refused).is_err());
        assert_eq!(m.int32("whole", WholeFloats::Accepted), Ok(Some(4)));
        assert_eq!(m.boolean("flag"), Ok(Some(true)));
        assert_eq!(m.boolean("missing"), Ok(None));
    }

    #[test]
    fn when_body_is_read_should_check_its_syntax_root_and_namespace() {
        assert!(matches!(read_json_or_xml(" ", Syntax::Json, "R", Namespace::Any), Err(ReadError::Empty)));
        assert!(matches!(read_json_or_xml("[1]", Syntax::Json, "R", Namespace::Any), Err(ReadError::NotAnObject)));
        assert!(matches!(read_json_or_xml("{", Syntax::Json, "R", Namespace::Any), Err(ReadError::Json(_))));
        assert!(matches!(read_json_or_xml("<R>", Syntax::Xml, "R", Namespace::Any), Err(ReadError::Xml(_))));
        let in_x = r#"<R xmlns="urn:x"><A i:nil="true" xmlns:i="urn:i"/></R>"#;
        assert!(matches!(read_json_or_xml(in_x, Syntax::Xml, "S", Namespace::Any), Err(ReadError::WrongRoot)));
        assert!(matches!(
            read_json_or_xml(in_x, Syntax::Xml, "R", Namespace::NoneOr("urn:y")),
            Err(ReadError::WrongRoot)
        ));
        let document = read_json_or_xml(in_x, Syntax::Xml, "R", Namespace::NoneOr("urn:x")).unwrap();
        assert_eq!(document.into_members(), members(r#"{"A":null}"#));
        assert!(read_json_or_xml("<R/>", Syntax::Xml, "R", Namespace::NoneOr("urn:x")).is_ok());
    }
}
