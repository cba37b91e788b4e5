//! Wire-level helpers shared by every family: body limits, headers, JSON answers.

use lambda_http::http::{HeaderMap, StatusCode, header};
use lambda_http::{Body, Response};

/// Larger bodies are refused before parsing (API.md: 64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    #[error("the request body is larger than 64 KiB")]
    TooLarge,
    #[error("the request body is not valid UTF-8")]
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
    fn when_body_is_too_large_or_not_utf8_should_refuse() {
        assert_eq!(body_text(&Body::Binary(vec![b' '; MAX_BODY_BYTES + 1])), Err(BodyError::TooLarge));
        assert_eq!(body_text(&Body::Binary(vec![0xff, 0xfe])), Err(BodyError::InvalidUtf8));
        assert_eq!(body_text(&Body::Text("{}".into())), Ok("{}"));
        assert_eq!(body_text(&Body::Empty), Ok(""));
    }
}
