//! Counting the AWS calls a handler makes: an HTTP client for the SDK that wraps the real one
//! and counts every request attempt (retries included) by service and operation.
//!
//! It sits under the SDK, where every attempt passes once, so it sees exactly what AWS
//! would bill and wait for, whichever client or retry produced it. It also records what IAM
//! would authorise for each request (`Uses`): the action per item, as IAM evaluates a
//! transaction, the resource and the item's partition-key prefix (`dynamodb:LeadingKeys`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// `"dynamodb:GetItem"`, `"sns:Publish"`, `"sesv2:SendEmail"`: what one request asks for.
pub fn operation(request: &HttpRequest) -> String {
    // DynamoDB (awsJson): the operation is a header, `DynamoDB_20120810.GetItem`.
    if let Some(target) = request.headers().get("x-amz-target") {
        let (service, op) = target.split_once('.').unwrap_or(("", target));
        let service = if service.starts_with("DynamoDB_") { "dynamodb" } else { service };
        return format!("{service}:{op}");
    }
    // SES v2 (REST-JSON): the operation is the method and path.
    let (path, query) = path_and_query(request.uri());
    if let Some(rest) = path.strip_prefix("/v2/email/") {
        return match (request.method(), rest) {
            ("POST", "outbound-emails") => "sesv2:SendEmail".to_string(),
            (method, _) => format!("sesv2:{method} {path}"),
        };
    }
    // SNS (awsQuery, the only query-protocol service we call): `Action=` in the form or query.
    let form = request.body().bytes().map(String::from_utf8_lossy).unwrap_or_default();
    match form_value(&form, "Action").or_else(|| form_value(query, "Action")) {
        Some(action) => format!("sns:{action}"),
        None => format!("unknown:{} {path}", request.method()),
    }
}

/// `("/v2/email/outbound-emails", "")` of `http://host:port/v2/email/outbound-emails`.
fn path_and_query(uri: &str) -> (&str, &str) {
    let rest = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let rest = rest.find('/').map_or("/", |slash| &rest[slash..]);
    rest.split_once('?').unwrap_or((rest, ""))
}

/// One value of an `application/x-www-form-urlencoded` text, decoded.
pub fn form_value(form: &str, name: &str) -> Option<String> {
    form.split('&').filter_map(|pair| pair.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| decode(v))
}

fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The calls counted so far, by operation. Clones share the counts.
#[derive(Clone, Debug, Default)]
pub struct Calls(Arc<Mutex<BTreeMap<String, usize>>>);

impl Calls {
    /// The counts since the last `take`, and starts counting afresh.
    pub fn take(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *self.0.lock().expect("counts lock"))
    }

    pub fn reset(&self) {
        self.take();
    }

    fn add(&self, operation: String) {
        *self.0.lock().expect("counts lock").entry(operation).or_default() += 1;
    }
}

/// One thing IAM authorises: `dynamodb:UpdateItem` on the table for an item whose partition
/// key starts `2FA#RATE#`; `sns:Publish` to a phone number (resource `*`); `ses:SendEmail`
/// from an identity.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Use {
    /// The IAM action: `dynamodb:PutItem`, `sns:Publish`, `ses:SendEmail`.
    pub action: String,
    /// `table/<name>`, `phone`, `topic/<arn>`, `identity/<domain>`.
    pub resource: String,
    /// The partition key's fixed part (`OTP#`, `2FA#RATE#`): its leading all-capital
    /// segments; `None` outside DynamoDB items.
    pub key_prefix: Option<String>,
}

/// The uses recorded so far. Clones share them.
#[derive(Clone, Debug, Default)]
pub struct Uses(Arc<Mutex<BTreeSet<Use>>>);

impl Uses {
    /// The uses since the last `take`, and starts afresh.
    pub fn take(&self) -> BTreeSet<Use> {
        std::mem::take(&mut *self.0.lock().expect("uses lock"))
    }

    fn add(&self, request: &HttpRequest) {
        self.0.lock().expect("uses lock").extend(iam_uses(request));
    }
}

/// What IAM evaluates for one request. A transaction is authorised item by item, each as the
/// single-item action it performs (`Put` as `dynamodb:PutItem`, `ConditionCheck` as
/// `dynamodb:ConditionCheckItem`), never as `TransactWriteItems` (AWS's "Using IAM with
/// DynamoDB transactions").
pub fn iam_uses(request: &HttpRequest) -> Vec<Use> {
    let operation = operation(request);
    let body = request.body().bytes().unwrap_or_default();
    if let Some(op) = operation.strip_prefix("dynamodb:") {
        let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let item_use = |action: &str, part: &serde_json::Value| {
            let table = part["TableName"].as_str().unwrap_or("?");
            let pk = part["Key"]["pk"]["S"].as_str().or_else(|| part["Item"]["pk"]["S"].as_str()).unwrap_or("");
            Use {
                action: format!("dynamodb:{action}"),
                resource: format!("table/{table}"),
                key_prefix: Some(key_prefix(pk)),
            }
        };
        return match op {
            "TransactWriteItems" | "TransactGetItems" => json["TransactItems"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|entry| entry.as_object()?.iter().next())
                .map(|(kind, part)| {
                    let action = match kind.as_str() {
                        "ConditionCheck" => "ConditionCheckItem".to_string(),
                        other => format!("{other}Item"),
                    };
                    item_use(&action, part)
                })
                .collect(),
            single => vec![item_use(single, &json)],
        };
    }
    if operation == "sns:Publish" {
        let form = String::from_utf8_lossy(body);
        let resource = match form_value(&form, "TopicArn").or_else(|| form_value(&form, "TargetArn")) {
            Some(arn) => format!("topic/{arn}"),
            None => "phone".to_string(),
        };
        return vec![Use { action: operation, resource, key_prefix: None }];
    }
    if operation == "sesv2:SendEmail" {
        // SES v2's SendEmail is authorised as `ses:SendEmail` on the sending identity.
        let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let from = json["FromEmailAddress"].as_str().unwrap_or("");
        let domain = from.rsplit_once('@').map_or(from, |(_, domain)| domain).trim_end_matches('>');
        return vec![Use { action: "ses:SendEmail".into(), resource: format!("identity/{domain}"), key_prefix: None }];
    }
    vec![Use { action: operation, resource: "?".into(), key_prefix: None }]
}

/// `2FA#RATE#` of `2FA#RATE#+905321234567#300#5`: the leading segments made of capitals and
/// digits with at least one capital (a bucket number, a UUID, a number or an address ends it).
pub fn key_prefix(pk: &str) -> String {
    let mut prefix = String::new();
    for segment in pk.split_inclusive('#') {
        let Some(name) = segment.strip_suffix('#') else { break };
        let capitals = name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if name.is_empty() || !capitals || !name.bytes().any(|b| b.is_ascii_uppercase()) {
            break;
        }
        prefix.push_str(segment);
    }
    prefix
}

/// Wraps the SDK's default HTTPS client; every connector it hands out counts into `calls`.
#[derive(Debug)]
struct CountingClient {
    inner: SharedHttpClient,
    calls: Calls,
    uses: Uses,
}

#[derive(Debug)]
struct CountingConnector {
    inner: SharedHttpConnector,
    calls: Calls,
    uses: Uses,
}

impl HttpClient for CountingClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        let inner = self.inner.http_connector(settings, components);
        SharedHttpConnector::new(CountingConnector { inner, calls: self.calls.clone(), uses: self.uses.clone() })
    }
}

impl HttpConnector for CountingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        self.calls.add(operation(&request));
        self.uses.add(&request);
        self.inner.call(request)
    }
}

/// SDK configuration pointed at moto, like `sdk_config`, whose calls are counted in the
/// returned `Calls`. Each call makes its own counter, so parallel tests do not mix counts.
pub async fn counting_sdk_config() -> (SdkConfig, Calls) {
    let (sdk, calls, _) = recording_sdk_config().await;
    (sdk, calls)
}

/// As `counting_sdk_config`, with what IAM would authorise for each call recorded in `Uses`.
pub async fn recording_sdk_config() -> (SdkConfig, Calls, Uses) {
    let (calls, uses) = (Calls::default(), Uses::default());
    // The client `sdk_config` uses (hyper 1, rustls with ring), counted.
    let inner = crate::http_client();
    let client = CountingClient { inner, calls: calls.clone(), uses: uses.clone() };
    (crate::moto_loader().http_client(client).load().await, calls, uses)
}

#[cfg(test)]
mod tests {
    #[test]
    fn when_form_values_are_encoded_should_decode_them() {
        let form = "Action=Publish&Message=Your+code%3A+123%25&Bad=%zz&End=%4";
        assert_eq!(super::form_value(form, "Action").as_deref(), Some("Publish"));
        assert_eq!(super::form_value(form, "Message").as_deref(), Some("Your code: 123%"));
        assert_eq!(super::form_value(form, "Bad").as_deref(), Some("%zz"));
        assert_eq!(super::form_value(form, "End").as_deref(), Some("%4"));
        assert_eq!(super::form_value(form, "Missing"), None);
    }

    #[test]
    fn when_a_partition_key_has_a_variable_part_should_keep_only_the_fixed_prefix() {
        use super::key_prefix;
        assert_eq!(key_prefix("2FA#RATE#+905321234567#300#5"), "2FA#RATE#");
        assert_eq!(key_prefix("OTP#5b1e7a43-54c4-4c8a-9f4f-b8f5e7f1d2a0"), "OTP#");
        assert_eq!(key_prefix("2FA#CEIL#20412"), "2FA#CEIL#");
        assert_eq!(key_prefix("CNF#FAIL#~00000000ab#7"), "CNF#FAIL#");
        assert_eq!(key_prefix("USER#ABC@EXAMPLE.COM"), "USER#");
        assert_eq!(key_prefix("CALLER#SEND#203.0.113.9#12"), "CALLER#SEND#");
        assert_eq!(key_prefix("IDEM#00ff"), "IDEM#");
        assert_eq!(key_prefix("no-prefix"), "");
    }
}
