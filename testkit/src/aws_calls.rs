//! Counting the AWS calls a handler makes: an HTTP client for the SDK that wraps the real one
//! and counts every request attempt (retries included) by service and operation.
//!
//! It sits under the SDK, where every attempt passes once, so it sees exactly what AWS
//! would bill and wait for, whichever client or retry produced it.

use std::collections::BTreeMap;
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

/// Wraps the SDK's default HTTPS client; every connector it hands out counts into `calls`.
#[derive(Debug)]
struct CountingClient {
    inner: SharedHttpClient,
    calls: Calls,
}

#[derive(Debug)]
struct CountingConnector {
    inner: SharedHttpConnector,
    calls: Calls,
}

impl HttpClient for CountingClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        let inner = self.inner.http_connector(settings, components);
        SharedHttpConnector::new(CountingConnector { inner, calls: self.calls.clone() })
    }
}

impl HttpConnector for CountingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        self.calls.add(operation(&request));
        self.inner.call(request)
    }
}

/// SDK configuration pointed at moto, like `sdk_config`, whose calls are counted in the
/// returned `Calls`. Each call makes its own counter, so parallel tests do not mix counts.
pub async fn counting_sdk_config() -> (SdkConfig, Calls) {
    let calls = Calls::default();
    // The client `sdk_config` uses (hyper 1, rustls with ring), counted.
    let inner = crate::http_client();
    let client = CountingClient { inner, calls: calls.clone() };
    (crate::moto_loader().http_client(client).load().await, calls)
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
}
