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

fn body_of(request: &Request) -> Result<&str, TwoFactorError> {
    if request.method() != Method::POST {
        return Err(TwoFactorError::MethodNotAllowed);
    }
    http::body_text(request.body()).map_err(|e| match e {
        BodyError::TooLarge => TwoFactorError::PayloadTooLarge,
        BodyError::InvalidUtf8 => TwoFactorError::InvalidRequest(e.to_string()),
    })
}

pub async fn create(app: &TwoFactor, request: Request) -> Response<Body> {
    let accept_language = http::header(request.headers(), "accept-language");
    let outcome = match body_of(&request).and_then(CreateRequest::parse) {
        Ok(parsed) => app.create(parsed, accept_language).await,
        Err(err) => Err(err),
    };
    match outcome {
        Ok(created) => http::json_response(
            StatusCode::OK,
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
        ),
        Err(err) => {
            tracing::info!(code = err.code().number(), "create refused: {err}");
            http::json_response(status(&err), &CreateResponse::failure(&err))
        }
    }
}

pub async fn verify(app: &TwoFactor, request: Request) -> Response<Body> {
    let parsed = body_of(&request).and_then(VerifyRequest::parse);
    let otp_id = parsed.as_ref().ok().map(|r| r.otp_id.to_string());
    let outcome = match parsed {
        Ok(parsed) => app.verify(parsed).await,
        Err(err) => Err(err),
    };
    match outcome {
        Ok(verified) => http::json_response(
            StatusCode::OK,
            &VerifyResponse::success(verified.otp_id.to_string(), verified.remaining_attempts),
        ),
        Err(err) => {
            tracing::info!(code = err.code().number(), "verify refused: {err}");
            http::json_response(status(&err), &VerifyResponse::failure(&err, otp_id))
        }
    }
}
