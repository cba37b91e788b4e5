//! HTTP edge of family C: wire format in, one domain call, the family's answer out. Every
//! outcome, including bad input, is mapped to a status and body, and to its metric record, in
//! exactly one place.

use std::time::Instant;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

use super::request::{CreateRequest, VerifyRequest};
use super::response::{CreateResponse, VerifyResponse};
use super::service::TwoFactor;
use super::{Code, TwoFactorError};
use crate::http::{self, BodyError};
use crate::idempotency::{Door, Idempotency};
use crate::lenient::Syntax;
use crate::metrics::{Country, Family, Operation, Outcome, Record, Rule};

/// How a refused or failed request ended, for the metrics (next to `TwoFactorError::status`: a test holds
/// the two together).
fn outcome(err: &TwoFactorError) -> Outcome {
    match err {
        TwoFactorError::KeyInFlight | TwoFactorError::KeyReused => Outcome::Refused(Rule::IdempotencyKey),
        TwoFactorError::InvalidRequest(_)
        | TwoFactorError::PayloadTooLarge
        | TwoFactorError::MethodNotAllowed
        | TwoFactorError::UnknownPath
        | TwoFactorError::ConfigurationNotFound(_) => Outcome::Refused(Rule::BadInput),
        TwoFactorError::RateLimited => Outcome::Refused(Rule::DestinationLimit),
        TwoFactorError::Refused(refusal) => Outcome::Refused(refusal.rule.into()),
        TwoFactorError::TooManyAttempts => Outcome::Refused(Rule::Lockout),
        TwoFactorError::OtpNotFound => Outcome::NotFound,
        TwoFactorError::Expired => Outcome::Expired,
        TwoFactorError::Mismatch { .. } => Outcome::Mismatch,
        TwoFactorError::AlreadyVerified => Outcome::AlreadyUsed,
        TwoFactorError::SmsFailed => Outcome::DeliveryFailed,
        TwoFactorError::Busy | TwoFactorError::Internal | TwoFactorError::Store(_) => Outcome::Error,
    }
}

/// The verify function's path; the template also routes the family's unknown paths to that
/// function (`route`).
const VERIFY_PATH: &str = "/VerifyTwoFactorSmsOtp";

/// A handler serves its own path only (a direct invocation with another endpoint's event is
/// refused too); unknown paths never reach one (`route`).
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
    syntax: Syntax,
    body: &T,
    to_xml: impl Fn(&T) -> String,
) -> Response<Body> {
    match syntax {
        Syntax::Xml => http::xml_response(status, to_xml(body)),
        Syntax::Json => http::json_response(status, body),
    }
}

pub async fn create(app: &TwoFactor, request: Request) -> Response<Body> {
    let started = Instant::now();
    let accept_language = http::header(request.headers(), "accept-language");
    let answer_syntax = Syntax::accepted(request.headers());
    let parsed = body_of(&request, "/CreateTwoFactorSmsOtp")
        .and_then(|b| CreateRequest::read(b, Syntax::of_body(request.headers(), b)));
    // An `IsSync: false` OTP's SMS is the sender's to deliver (and count).
    let sync = parsed.as_ref().is_ok_and(|p| p.is_sync);
    let idempotency =
        Idempotency::of(&request, "2fa-create", Door::Backend, &app.config.common.keys, app.store.table())
            .map_err(TwoFactorError::InvalidRequest);
    let outcome = match (parsed, idempotency) {
        (Ok(parsed), Ok(idempotency)) => {
            http::within(app.config.common.request_deadline, app.create(parsed, accept_language, idempotency.as_ref()))
                .await
                .unwrap_or(Err(TwoFactorError::Busy))
        }
        (Err(err), _) | (_, Err(err)) => Err(err),
    };
    let record = match &outcome {
        Ok(created) => Record::new(Family::C, Operation::Create, Outcome::Sent)
            .country(Country::of_phone(&created.phone))
            .delivered(u32::from(sync), 0),
        Err(err) => Record::new(Family::C, Operation::Create, self::outcome(err)),
    };
    let response = match outcome {
        Ok(created) => respond(
            StatusCode::OK,
            answer_syntax,
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
            crate::failure::log_store_cause(&err);
            tracing::info!(code = err.code().number(), "create refused: {err}");
            let response = respond(err.status(), answer_syntax, &CreateResponse::failure(&err), CreateResponse::to_xml);
            http::with_retry_after(response, err.retry_after())
        }
    };
    app.metrics.emit(&record.took(started.elapsed()));
    response
}

/// What the verify function serves: its own path, and every other path under
/// `/api/TwoFactor/` (the template's catch-all route), which `not_found` answers.
pub async fn route(app: &TwoFactor, request: Request) -> Response<Body> {
    if http::addressed_to(request.uri().path(), VERIFY_PATH) {
        verify(app, request).await
    } else {
        not_found(app, &request)
    }
}

/// A path of the family that no endpoint has: the family's 404, counted with the function
/// that answers it.
pub fn not_found(app: &TwoFactor, request: &Request) -> Response<Body> {
    let started = Instant::now();
    let err = TwoFactorError::UnknownPath;
    let answer = VerifyResponse::failure(&err, None);
    let response = respond(err.status(), Syntax::accepted(request.headers()), &answer, VerifyResponse::to_xml);
    app.metrics.emit(&Record::new(Family::C, Operation::Verify, outcome(&err)).took(started.elapsed()));
    response
}

pub async fn verify(app: &TwoFactor, request: Request) -> Response<Body> {
    let started = Instant::now();
    let answer_syntax = Syntax::accepted(request.headers());
    let parsed =
        body_of(&request, VERIFY_PATH).and_then(|b| VerifyRequest::read(b, Syntax::of_body(request.headers(), b)));
    let otp_id = parsed.as_ref().ok().map(|r| r.otp_id.to_string());
    let outcome = match parsed {
        Ok(parsed) => http::within(app.config.common.request_deadline, app.verify(parsed))
            .await
            .unwrap_or(Err(TwoFactorError::Busy)),
        Err(err) => Err(err),
    };
    let record = match &outcome {
        Ok(verified) => {
            Record::new(Family::C, Operation::Verify, Outcome::Verified).country(Country::of_phone(&verified.phone))
        }
        Err(err) => Record::new(Family::C, Operation::Verify, self::outcome(err)),
    };
    let response = match outcome {
        Ok(verified) => respond(
            StatusCode::OK,
            answer_syntax,
            &VerifyResponse::success(verified.otp_id.to_string(), verified.remaining_attempts, verified.phone),
            VerifyResponse::to_xml,
        ),
        Err(err) => {
            crate::failure::log_store_cause(&err);
            tracing::info!(code = err.code().number(), "verify refused: {err}");
            let response =
                respond(err.status(), answer_syntax, &VerifyResponse::failure(&err, otp_id), VerifyResponse::to_xml);
            http::with_retry_after(response, err.retry_after())
        }
    };
    app.metrics.emit(&record.took(started.elapsed()));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamo::StoreError;
    use crate::guards::{Refusal, Rule as Guard};

    fn refusal(rule: Guard) -> Refusal {
        Refusal::sample(rule)
    }

    #[test]
    fn when_a_request_fails_should_record_the_outcome_its_answer_says() {
        use TwoFactorError::*;
        let cases = [
            (InvalidRequest("x".into()), Outcome::Refused(Rule::BadInput)),
            (PayloadTooLarge, Outcome::Refused(Rule::BadInput)),
            (MethodNotAllowed, Outcome::Refused(Rule::BadInput)),
            (UnknownPath, Outcome::Refused(Rule::BadInput)),
            (ConfigurationNotFound(9), Outcome::Refused(Rule::BadInput)),
            (RateLimited, Outcome::Refused(Rule::DestinationLimit)),
            (Refused(refusal(Guard::NumberBlock)), Outcome::Refused(Rule::NumberBlock)),
            (Refused(refusal(Guard::CountryCeiling)), Outcome::Refused(Rule::CountryCeiling)),
            (Refused(refusal(Guard::DailyCeiling)), Outcome::Refused(Rule::DailyCeiling)),
            (TooManyAttempts, Outcome::Refused(Rule::Lockout)),
            (OtpNotFound, Outcome::NotFound),
            (Expired, Outcome::Expired),
            (Mismatch { remaining: 1 }, Outcome::Mismatch),
            (AlreadyVerified, Outcome::AlreadyUsed),
            (SmsFailed, Outcome::DeliveryFailed),
            (Busy, Outcome::Error),
            (Internal, Outcome::Error),
            (Store(StoreError::Unavailable("throttled".into())), Outcome::Error),
            (Store(StoreError::Aws("no such table".into())), Outcome::Error),
        ];
        for (err, expected) in cases {
            assert_eq!(outcome(&err), expected, "{err:?}");
            // What the metrics call a server error is what the answer's status says.
            assert_eq!(expected.is_server_error(), err.status().is_server_error(), "{err:?}");
            assert_eq!(
                matches!(expected, Outcome::Refused(Rule::BadInput)),
                err.code() == super::Code::InvalidRequest || err.code() == super::Code::TwoFactorConfigurationNotFound,
                "{err:?}"
            );
        }
    }
}
