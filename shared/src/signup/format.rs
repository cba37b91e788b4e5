//! ServiceStack's content negotiation and its three answer formats.

use super::model::{CognitoUser, Envelope};
use crate::edge::xml::escape;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
    Csv,
}

impl Format {
    fn named(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "json" => Some(Self::Json),
            "xml" => Some(Self::Xml),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json; charset=utf-8",
            Self::Xml => "application/xml; charset=utf-8",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }

    fn of_media_type(media: &str) -> Option<Self> {
        match media {
            "application/json" | "text/json" => Some(Self::Json),
            "application/xml" | "text/xml" => Some(Self::Xml),
            "text/csv" => Some(Self::Csv),
            _ => None,
        }
    }
}

/// ServiceStack's predefined routes, `/{format}/reply/{Request}`, which a ServiceStack client
/// posts to when its DTO has no `[Route]`: the format is the route's.
fn predefined_route(path: &str) -> Option<Format> {
    let mut segments = path.trim_end_matches('/').rsplit('/');
    let _request = segments.next()?;
    if !segments.next()?.eq_ignore_ascii_case("reply") {
        return None;
    }
    Format::named(segments.next()?)
}

/// A predefined route's format whatever else the request says (as ServiceStack does); then
/// `?format=`, then the path's suffix (`.csv`), then `Accept` (by quality, then order); JSON
/// when none of them names a format.
pub fn negotiate(path: &str, query: Option<&str>, accept: Option<&str>) -> Format {
    if let Some(format) = predefined_route(path) {
        return format;
    }
    let from_query = query.into_iter().flat_map(|q| q.split('&')).find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.eq_ignore_ascii_case("format").then(|| Format::named(value)).flatten()
    });
    let from_suffix = || path.rsplit_once('.').and_then(|(_, suffix)| Format::named(suffix));
    let offered = ["application/json", "text/json", "application/xml", "text/xml", "text/csv"];
    let from_accept = || crate::edge::http::preferred(accept, &offered).and_then(Format::of_media_type);
    from_query.or_else(from_suffix).or_else(from_accept).unwrap_or(Format::Json)
}

pub fn render(envelope: &Envelope, format: Format) -> String {
    render_in(envelope, format, None)
}

/// `render`, with XML in `namespace` (the request's) instead of Cdn.Api's.
pub fn render_in(envelope: &Envelope, format: Format, namespace: Option<&str>) -> String {
    match format {
        Format::Json => serde_json::to_string(envelope).unwrap_or_default(),
        Format::Xml => xml(envelope, namespace.unwrap_or(NS)),
        Format::Csv => csv(envelope),
    }
}

/// RFC 4180: a header of the top-level fields and one row; nested objects as JSON in their
/// cell, null as an empty cell.
fn csv(envelope: &Envelope) -> String {
    let json = |user: &Option<CognitoUser>| {
        user.as_ref().map(|u| serde_json::to_string(u).unwrap_or_default()).unwrap_or_default()
    };
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    let header = [
        "Total",
        "OpCode",
        "ErrorText",
        "RequestTime",
        "ResponseTime",
        "TotalExecutionTime",
        "CachedResponse",
        "Data",
        "Data2",
    ];
    let row = [
        envelope.total.to_string(),
        envelope.op_code.to_string(),
        envelope.error_text.clone().unwrap_or_default(),
        envelope.request_time.clone(),
        envelope.response_time.clone(),
        envelope.total_execution_time.clone(),
        envelope.cached_response.to_string(),
        json(&envelope.data),
        json(&envelope.data2),
    ];
    // Writing to memory cannot fail.
    let _ = writer.write_record(header);
    let _ = writer.write_record(&row);
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

const NS: &str = "http://schemas.datacontract.org/2004/07/Cdn.Api";
const ARRAYS: &str = "http://schemas.microsoft.com/2003/10/Serialization/Arrays";

fn element(out: &mut String, name: &str, value: Option<&str>) {
    match value {
        Some(v) => out.push_str(&format!("<{name}>{}</{name}>", escape(v))),
        None => out.push_str(&format!("<{name} i:nil=\"true\"/>")),
    }
}

/// DataContractSerializer's layout: base-class members first, each class's members in
/// ordinal order, nulls as `i:nil`, dictionaries as `KeyValueOfstringstring`.
fn user_xml(out: &mut String, name: &str, user: Option<&CognitoUser>) {
    let Some(user) = user else {
        element(out, name, None);
        return;
    };
    out.push_str(&format!("<{name}>"));
    out.push_str(&format!("<Attributes xmlns:d3p1=\"{ARRAYS}\">"));
    for (key, value) in [
        ("sub", &user.attributes.sub),
        ("email", &user.attributes.email),
        ("email_verified", &user.attributes.email_verified),
    ] {
        out.push_str(&format!(
            "<d3p1:KeyValueOfstringstring><d3p1:Key>{}</d3p1:Key><d3p1:Value>{}</d3p1:Value></d3p1:KeyValueOfstringstring>",
            escape(key),
            escape(value)
        ));
    }
    out.push_str("</Attributes>");
    element(out, "ClientID", Some(&user.client_id));
    element(out, "Device", None);
    element(out, "SessionTokens", None);
    out.push_str(&format!("<Settings xmlns:d3p1=\"{ARRAYS}\"/>"));
    element(out, "Status", Some(&user.status));
    element(out, "UserID", Some(&user.user_id));
    out.push_str("<UserPool>");
    element(out, "ClientID", Some(&user.user_pool.client_id));
    element(out, "PoolID", Some(&user.user_pool.pool_id));
    out.push_str("</UserPool>");
    element(out, "Username", Some(&user.username));
    out.push_str(&format!("</{name}>"));
}

/// Every member in `namespace`: the DTOs all share one (their CLR namespace's, or the one
/// a client's `ContractNamespace` gives them).
fn xml(envelope: &Envelope, namespace: &str) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
    out.push_str(&format!(
        "<CognitoSendConfirmCodeResponse xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"{}\">",
        escape(namespace)
    ));
    element(&mut out, "CachedResponse", Some(&envelope.cached_response.to_string()));
    element(&mut out, "ErrorText", envelope.error_text.as_deref());
    element(&mut out, "OpCode", Some(&envelope.op_code.to_string()));
    element(&mut out, "RequestTime", Some(&envelope.request_time));
    element(&mut out, "ResponseTime", Some(&envelope.response_time));
    element(&mut out, "Total", Some(&envelope.total.to_string()));
    element(&mut out, "TotalExecutionTime", Some(&envelope.total_execution_time));
    user_xml(&mut out, "Data", envelope.data.as_ref());
    user_xml(&mut out, "Data2", envelope.data2.as_ref());
    out.push_str("</CognitoSendConfirmCodeResponse>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signup::model::{Attributes, Settings, UserPool};

    fn envelope(data: bool) -> Envelope {
        Envelope {
            total: i32::from(data),
            op_code: if data { 0 } else { 1006 },
            error_text: (!data).then(|| "User does not exist, \"really\".".to_string()),
            request_time: "2026-11-21T10:00:00.000Z".into(),
            response_time: "2026-11-21T10:00:00.031Z".into(),
            total_execution_time: "00:00:00.0310000".into(),
            cached_response: false,
            data: data.then(|| CognitoUser {
                session_tokens: None,
                device: None,
                user_id: "u-1".into(),
                username: "ana@example.com".into(),
                user_pool: UserPool { pool_id: "pool".into(), client_id: "client".into() },
                client_id: "client".into(),
                status: "UNCONFIRMED".into(),
                attributes: Attributes {
                    sub: "u-1".into(),
                    email: "ana@example.com".into(),
                    email_verified: "false".into(),
                },
                settings: Settings {},
            }),
            data2: None,
        }
    }

    #[test]
    fn when_format_is_asked_several_ways_should_follow_servicestack_precedence() {
        let p = "/CognitoSendConfirmCodeRequest";
        assert_eq!(negotiate(p, None, None), Format::Json);
        assert_eq!(negotiate(p, Some("format=csv"), Some("application/xml")), Format::Csv);
        assert_eq!(negotiate("/CognitoSendConfirmCodeRequest.xml", Some("format=json"), None), Format::Json);
        assert_eq!(negotiate("/CognitoSendConfirmCodeRequest.csv", None, Some("application/json")), Format::Csv);
        assert_eq!(negotiate(p, Some("a=1&Format=XML"), None), Format::Xml);
        assert_eq!(negotiate(p, None, Some("text/csv")), Format::Csv);
        assert_eq!(negotiate(p, None, Some("text/html, application/xml;q=0.9, */*;q=0.8")), Format::Xml);
        assert_eq!(negotiate(p, None, Some("text/csv;q=0.2, application/json")), Format::Json);
        assert_eq!(negotiate(p, Some("format=yaml"), Some("text/plain")), Format::Json);
    }

    #[test]
    fn when_predefined_route_is_used_should_answer_its_format_whatever_else_is_asked() {
        let csv = Some("text/csv");
        assert_eq!(negotiate("/json/reply/CognitoSendConfirmCodeRequest", Some("format=xml"), csv), Format::Json);
        assert_eq!(negotiate("/xml/reply/CognitoSendConfirmCodeRequest", Some("format=json"), csv), Format::Xml);
        assert_eq!(negotiate("/csv/reply/CognitoSendConfirmCodeRequest", None, Some("application/json")), Format::Csv);
        // Behind a REST API stage, and in other cases.
        assert_eq!(negotiate("/prod/XML/Reply/CognitoSendConfirmCodeRequest", None, None), Format::Xml);
        // Not a predefined route: the usual precedence.
        assert_eq!(negotiate("/yaml/reply/CognitoSendConfirmCodeRequest", None, csv), Format::Csv);
        assert_eq!(negotiate("/xml/oneway/CognitoSendConfirmCodeRequest", None, None), Format::Json);
    }

    #[test]
    fn when_request_namespace_is_given_should_answer_every_element_in_it() {
        let servicestack = "http://schemas.servicestack.net/types";
        let root = crate::edge::xml::parse(&render_in(&envelope(true), Format::Xml, Some(servicestack))).unwrap();
        fn all_in(element: &crate::edge::xml::Element, ns: &str) {
            // Dictionary entries are in the Arrays namespace, as .NET writes them.
            if element.name != "KeyValueOfstringstring" && element.name != "Key" && element.name != "Value" {
                assert_eq!(element.namespace.as_deref(), Some(ns), "{}", element.name);
            }
            element.children.iter().for_each(|c| all_in(c, ns));
        }
        all_in(&root, servicestack);
        let default = crate::edge::xml::parse(&render(&envelope(true), Format::Xml)).unwrap();
        all_in(&default, NS);
    }

    #[test]
    fn when_rendered_as_json_should_carry_every_seed_field() {
        let value: serde_json::Value = serde_json::from_str(&render(&envelope(true), Format::Json)).unwrap();
        for field in [
            "Total",
            "OpCode",
            "ErrorText",
            "RequestTime",
            "ResponseTime",
            "TotalExecutionTime",
            "CachedResponse",
            "Data",
            "Data2",
        ] {
            assert!(value.get(field).is_some(), "{field}");
        }
        for field in [
            "SessionTokens",
            "Device",
            "UserID",
            "Username",
            "UserPool",
            "ClientID",
            "Status",
            "Attributes",
            "Settings",
        ] {
            assert!(value["Data"].get(field).is_some(), "Data.{field}");
        }
        assert_eq!(value["Data"]["UserPool"]["PoolID"], "pool");
        assert_eq!(value["Data"]["Attributes"]["email_verified"], "false");
        assert_eq!(value["Data"]["Settings"], serde_json::json!({}));
    }

    #[test]
    fn when_rendered_as_csv_should_be_one_header_and_one_quoted_row() {
        let text = render(&envelope(true), Format::Csv);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
        assert_eq!(
            header.join(","),
            "Total,OpCode,ErrorText,RequestTime,ResponseTime,TotalExecutionTime,CachedResponse,Data,Data2"
        );
        let rows: Vec<_> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 1);
        let data: serde_json::Value = serde_json::from_str(&rows[0][7]).unwrap();
        assert_eq!(data["Username"], "ana@example.com");
        assert_eq!(&rows[0][8], "");
        assert!(text.ends_with("\r\n"));
        let error = render(&envelope(false), Format::Csv);
        let mut reader = csv::Reader::from_reader(error.as_bytes());
        let row = reader.records().next().unwrap().unwrap();
        assert_eq!(&row[2], "User does not exist, \"really\".");
        assert_eq!(&row[7], "");
    }

    #[test]
    fn when_rendered_as_xml_should_parse_back_with_the_seed_fields() {
        let text = render(&envelope(true), Format::Xml);
        let root = crate::edge::xml::parse(&text).unwrap();
        assert_eq!(root.name, "CognitoSendConfirmCodeResponse");
        assert_eq!(root.child("Total").unwrap().text, "1");
        assert_eq!(root.child("Data").unwrap().child("UserPool").unwrap().child("PoolID").unwrap().text, "pool");
        assert!(root.child("Data2").is_some());
        let error = crate::edge::xml::parse(&render(&envelope(false), Format::Xml)).unwrap();
        assert_eq!(error.child("ErrorText").unwrap().text, "User does not exist, \"really\".");
    }
}
