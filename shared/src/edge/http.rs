//! Wire-level helpers shared by every family: body limits, headers, JSON answers.

use lambda_http::http::{HeaderMap, StatusCode, header};
use lambda_http::{Body, Response};

/// Larger bodies are refused before parsing (API.md: 64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    #[error("the request body is larger than 64 KiB")]
    TooLarge,
    #[error("The request body is not valid UTF-8.")]
    InvalidUtf8,
}

impl BodyError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InvalidUtf8 => StatusCode::BAD_REQUEST,
        }
    }
}

/// The body as text, within the size limit.
pub fn body_text(body: &Body) -> Result<&str, BodyError> {
    let bytes: &[u8] = body.as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(BodyError::TooLarge);
    }
    std::str::from_utf8(bytes).map_err(|_| BodyError::InvalidUtf8)
}

pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether the request is addressed to the endpoint whose path ends with `endpoint`. A
/// request without a path (a direct invocation with a bare event) is taken as addressed to
/// the function it was sent to; API Gateway always sends the path, stage prefix or not.
pub fn addressed_to(path: &str, endpoint: &str) -> bool {
    path.is_empty() || path == "/" || path.trim_end_matches('/').ends_with(endpoint)
}

/// Which of `offered` media types `Accept` prefers (by quality, then by the order written);
/// `None` when it names none of them, or only wildcards: then the endpoint's default applies.
pub fn preferred<'a>(accept: Option<&str>, offered: &[&'a str]) -> Option<&'a str> {
    let mut best: Option<(f32, &'a str)> = None;
    for range in accept?.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let quality =
            parts.filter_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).next().unwrap_or(1.0);
        if let Some(known) = offered.iter().find(|o| **o == media) {
            if quality > 0.0 && best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, known));
            }
        }
    }
    best.map(|(_, media)| media)
}

/// Families B and C answer XML when `Accept` prefers `application/xml` or `text/xml`.
pub fn prefers_xml(headers: &HeaderMap) -> bool {
    let offered = ["application/json", "text/json", "application/xml", "text/xml"];
    preferred(header(headers, "accept"), &offered).is_some_and(|m| m.ends_with("/xml"))
}

/// A body to read as XML: labelled so, or starting with `<`.
pub fn is_xml_body(headers: &HeaderMap, body: &str) -> bool {
    header(headers, "content-type").is_some_and(|c| c.to_ascii_lowercase().contains("xml"))
        || body.trim_start_matches('\u{feff}').trim_start().starts_with('<')
}

pub fn xml_response(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/xml; charset=utf-8"));
    response
}

/// `Retry-After` of a 503: contention, an unavailable DynamoDB or a stall usually pass
/// within a second (the SDK has already retried for up to two).
pub const BUSY_RETRY_AFTER_SECONDS: u64 = 1;

/// Runs a request's operation within its deadline; `None` when the deadline came first. The
/// operation is then dropped where it stood: a DynamoDB write in flight may or may not have
/// been applied, an SMS or e-mail in flight may or may not have gone (docs/operations.md, Faults).
pub async fn within<T>(deadline: std::time::Duration, operation: impl std::future::Future<Output = T>) -> Option<T> {
    let outcome = tokio::time::timeout(deadline, operation).await.ok();
    if outcome.is_none() {
        tracing::warn!(deadline_ms = deadline.as_millis() as u64, "request deadline reached");
    }
    outcome
}

/// Adds `Retry-After` (seconds) to a refusal that knows when it ends.
pub fn with_retry_after(mut response: Response<Body>, seconds: Option<u64>) -> Response<Body> {
    if let Some(seconds) = seconds {
        response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    }
    response
}

pub fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response<Body> {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_string());
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json; charset=utf-8"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_path_is_checked_should_accept_stage_prefixes_and_bare_events() {
        assert!(addressed_to("/api/TwoFactor/CreateTwoFactorSmsOtp", "/CreateTwoFactorSmsOtp"));
        assert!(addressed_to("/prod/api/TwoFactor/CreateTwoFactorSmsOtp/", "/CreateTwoFactorSmsOtp"));
        assert!(addressed_to("/", "/CreateTwoFactorSmsOtp"));
        assert!(!addressed_to("/api/TwoFactor/Other", "/CreateTwoFactorSmsOtp"));
        assert!(!addressed_to("/api/TwoFactor/XCreateTwoFactorSmsOtp", "/CreateTwoFactorSmsOtp"));
    }

    #[test]
    fn when_accept_is_weighed_should_pick_the_preferred_offered_type() {
        let offered = ["application/json", "application/xml", "text/xml"];
        assert_eq!(preferred(Some("application/xml"), &offered), Some("application/xml"));
        assert_eq!(preferred(Some("text/xml;q=0.5, application/json"), &offered), Some("application/json"));
        assert_eq!(preferred(Some("application/json;q=0.1, text/xml"), &offered), Some("text/xml"));
        assert_eq!(preferred(Some("*/*"), &offered), None);
        assert_eq!(preferred(Some("application/xml;q=0"), &offered), None);
        assert_eq!(preferred(None, &offered), None);
    }

    #[test]
    fn when_body_is_too_large_or_not_utf8_should_refuse() {
        assert_eq!(body_text(&Body::Binary(vec![b' '; MAX_BODY_BYTES + 1])), Err(BodyError::TooLarge));
        assert_eq!(body_text(&Body::Binary(vec![0xff, 0xfe])), Err(BodyError::InvalidUtf8));
        assert_eq!(body_text(&Body::Text("{}".into())), Ok("{}"));
        assert_eq!(body_text(&Body::Empty), Ok(""));
    }
}
