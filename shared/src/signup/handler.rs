//! HTTP edge of family A: negotiate the format, read the body, run the operation, and answer
//! the `BaseResponse` envelope, every outcome mapped in this one place.

use std::time::Instant;

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};

use super::SignupError;
use super::format::{self, Format};
use super::model::{Envelope, iso_time, timespan};
use super::request::SignupRequest;
use super::service::Signup;
use crate::http::{self, BodyError};

pub async fn handle(app: &Signup, request: Request) -> Response<Body> {
    let started = Instant::now();
    let request_time = iso_time(app.clock.now_ms());
    let format =
        format::negotiate(request.uri().path(), request.uri().query(), http::header(request.headers(), "accept"));
    let caller = crate::guards::Caller::of(&request);
    let outcome = match read(&request) {
        Ok(parsed) => http::within(app.config.request_deadline, app.handle(parsed, caller.as_ref()))
            .await
            .unwrap_or(Err(SignupError::Busy)),
        Err(err) => Err(err),
    };
    let retry_after = outcome.as_ref().err().and_then(SignupError::retry_after);
    let (status, envelope) = match outcome {
        Ok(user) => (
            StatusCode::OK,
            Envelope {
                total: 1,
                op_code: 0,
                error_text: None,
                request_time,
                response_time: iso_time(app.clock.now_ms()),
                total_execution_time: timespan(started.elapsed()),
                cached_response: false,
                data: Some(app.user_view(&user)),
                data2: None,
            },
        ),
        Err(err) => {
            tracing::info!(op_code = err.op_code(), "sign-up request refused: {err}");
            (
                StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                Envelope {
                    total: 0,
                    op_code: err.op_code(),
                    error_text: Some(err.to_string()),
                    request_time,
                    response_time: iso_time(app.clock.now_ms()),
                    total_execution_time: timespan(started.elapsed()),
                    cached_response: false,
                    data: None,
                    data2: None,
                },
            )
        }
    };
    http::with_retry_after(respond(status, format, &envelope), retry_after)
}

fn read(request: &Request) -> Result<SignupRequest, SignupError> {
    if request.method() != Method::POST {
        return Err(SignupError::MethodNotAllowed);
    }
    let body = http::body_text(request.body()).map_err(|e| match e {
        BodyError::TooLarge => SignupError::PayloadTooLarge,
        BodyError::InvalidUtf8 => SignupError::InvalidParameter("The request body is not valid UTF-8.".into()),
    })?;
    SignupRequest::parse(body)
}

fn respond(status: StatusCode, format: Format, envelope: &Envelope) -> Response<Body> {
    let mut response = Response::new(Body::Text(format::render(envelope, format)));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    response
}
