//! HTTP edge of family C: wire format in, one domain call, the family's answer out. Every
//! outcome, including bad input, is mapped to a status and body in exactly one place.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

use super::request::{CreateRequest, VerifyRequest};
use super::response::{CreateResponse, VerifyResponse};
use super::service::TwoFactor;
use super::{Code, TwoFactorError};
use crate::http::{self, BodyError};

fn status(err: &TwoFactorError) -> StatusCode {
    StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn body_of<'a>(request: &'a Request, endpoint: &str) -> Result<&'a str, TwoFactorError> {
    if !http::addressed_to(request.uri().path(), endpoint) {
        return Err(TwoFactorError::UnknownPath);
    }
    if request.method() != Method::POST {
        return Err(TwoFactorError::MethodNotAllowed);
    }
    http::body_text(request.body()).map_err(|e| match e {
        BodyError::TooLarge => TwoFactorError::PayloadTooLarge,
        BodyError::InvalidUtf8 => TwoFactorError::InvalidRequest(e.to_string()),
    })
}

/// JSON, or XML when `Accept` prefers it.
fn respond<T: serde::Serialize>(
    status: StatusCode,
    xml: bool,
    body: &T,
    to_xml: impl Fn(&T) -> String,
) -> Response<Body> {
    if xml { http::xml_response(status, to_xml(body)) } else { http::json_response(status, body) }
}

pub async fn create(app: &TwoFactor, request: Request) -> Response<Body> {
    let accept_language = http::header(request.headers(), "accept-language");
    let xml = http::prefers_xml(request.headers());
    let parsed = body_of(&request, "/CreateTwoFactorSmsOtp")
        .and_then(|b| CreateRequest::read(b, http::is_xml_body(request.headers(), b)));
    let outcome = match parsed {
        Ok(parsed) => http::within(app.config.request_deadline, app.create(parsed, accept_language))
            .await
            .unwrap_or(Err(TwoFactorError::Busy)),
        Err(err) => Err(err),
    };
    match outcome {
        Ok(created) => respond(
            StatusCode::OK,
            xml,
            &CreateResponse {
                id: created.numeric_id,
                otp_id_reference: Some(created.otp_id.to_string()),
                reference_code: Some(created.reference),
                otp_code: created.code,
                remaining_expiration_seconds: created.expires_in_seconds,
                gsm_number: Some(created.phone),
                exception_message: None,
                success: true,
                code: Code::Success.number(),
            },
            CreateResponse::to_xml,
        ),
        Err(err) => {
            tracing::info!(code = err.code().number(), "create refused: {err}");
            let response = respond(status(&err), xml, &CreateResponse::failure(&err), CreateResponse::to_xml);
            http::with_retry_after(response, err.retry_after())
        }
    }
}

pub async fn verify(app: &TwoFactor, request: Request) -> Response<Body> {
    let xml = http::prefers_xml(request.headers());
    let parsed = body_of(&request, "/VerifyTwoFactorSmsOtp")
        .and_then(|b| VerifyRequest::read(b, http::is_xml_body(request.headers(), b)));
    let otp_id = parsed.as_ref().ok().map(|r| r.otp_id.to_string());
    let outcome = match parsed {
        Ok(parsed) => {
            http::within(app.config.request_deadline, app.verify(parsed)).await.unwrap_or(Err(TwoFactorError::Busy))
        }
        Err(err) => Err(err),
    };
    match outcome {
        Ok(verified) => respond(
            StatusCode::OK,
            xml,
            &VerifyResponse::success(verified.otp_id.to_string(), verified.remaining_attempts, verified.phone),
            VerifyResponse::to_xml,
        ),
        Err(err) => {
            tracing::info!(code = err.code().number(), "verify refused: {err}");
            let response = respond(status(&err), xml, &VerifyResponse::failure(&err, otp_id), VerifyResponse::to_xml);
            http::with_retry_after(response, err.retry_after())
        }
    }
}
