//! HTTP edge of family A: negotiate the format, read the body, run the operation, and answer
//! the `BaseResponse` envelope, every outcome mapped in this one place (to its status and
//! envelope, and to its metric record).

use std::time::Instant;

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};

use super::SignupError;
use super::format::{self, Format};
use super::model::{Envelope, iso_time, timespan};
use super::request::SignupRequest;
use super::service::Signup;
use crate::http::{self, BodyError};
use crate::idempotency::{Door, Idempotency};
use crate::metrics::{Family, Operation, Outcome, Record, Rule};

/// How a refused or failed request ended, for the metrics (next to the status mapping: a
/// test holds the two together).
fn outcome(err: &SignupError) -> Outcome {
    match err {
        SignupError::KeyInFlight | SignupError::KeyReused => Outcome::Refused(Rule::IdempotencyKey),
        SignupError::InvalidParameter(_) | SignupError::PayloadTooLarge | SignupError::MethodNotAllowed => {
            Outcome::Refused(Rule::BadInput)
        }
        SignupError::LimitExceeded => Outcome::Refused(Rule::DestinationLimit),
        SignupError::Refused(refusal) => Outcome::Refused(refusal.rule.into()),
        SignupError::TooManyFailedAttempts => Outcome::Refused(Rule::Lockout),
        SignupError::CodeMismatch => Outcome::Mismatch,
        SignupError::ExpiredCode => Outcome::Expired,
        SignupError::UserNotFound => Outcome::NotFound,
        SignupError::AlreadyConfirmed => Outcome::AlreadyUsed,
        SignupError::CodeDeliveryFailure => Outcome::DeliveryFailed,
        SignupError::Busy | SignupError::Internal | SignupError::Store(_) => Outcome::Error,
    }
}

pub async fn handle(app: &Signup, request: Request) -> Response<Body> {
    let started = Instant::now();
    let request_time = iso_time(app.clock.now_ms());
    let format =
        format::negotiate(request.uri().path(), request.uri().query(), http::header(request.headers(), "accept"));
    let caller = crate::guards::Caller::of(&request);
    let idempotency = Idempotency::of(
        &request,
        "signup-send",
        Door::Public { application: None },
        &app.config.common.keys,
        app.store.table(),
    )
    .map_err(SignupError::InvalidParameter);
    let parsed = read(&request);
    // An XML request's namespace, kept for the answer (also an error one) before the request
    // is consumed; requests that cannot be read are answered in the default one.
    let namespace = parsed.as_ref().ok().and_then(|r| r.namespace.clone());
    // A request that cannot be read asked for nothing in particular: counted as a send, the
    // endpoint's first step.
    let operation = match &parsed {
        Ok(request) if request.code().is_some() => Operation::Confirm,
        _ => Operation::Send,
    };
    let outcome = match (parsed, idempotency) {
        (Ok(parsed), Ok(key)) => {
            http::within(app.config.common.request_deadline, app.handle(parsed, caller.as_ref(), key.as_ref()))
                .await
                .unwrap_or(Err(SignupError::Busy))
        }
        (Err(err), _) | (_, Err(err)) => Err(err),
    };
    let record = match (&outcome, operation) {
        (Ok(_), Operation::Confirm) => Record::new(Family::A, operation, Outcome::Verified),
        (Ok(_), _) => Record::new(Family::A, operation, Outcome::Sent).delivered(0, 1),
        (Err(err), _) => Record::new(Family::A, operation, self::outcome(err)),
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
            crate::failure::log_store_cause(&err);
            tracing::info!(op_code = err.op_code(), "sign-up request refused: {err}");
            (
                err.status(),
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
    let response = http::with_retry_after(respond(status, format, namespace.as_deref(), &envelope), retry_after);
    app.metrics.emit(&record.took(started.elapsed()));
    response
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

fn respond(status: StatusCode, format: Format, namespace: Option<&str>, envelope: &Envelope) -> Response<Body> {
    let mut response = Response::new(Body::Text(format::render_in(envelope, format, namespace)));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamo::StoreError;
    use crate::guards::{Refusal, Rule as Guard};

    fn refused(rule: Guard) -> SignupError {
        SignupError::Refused(Refusal::sample(rule))
    }

    #[test]
    fn when_a_request_fails_should_record_the_outcome_its_answer_says() {
        use SignupError::*;
        let cases = [
            (InvalidParameter("x".into()), Outcome::Refused(Rule::BadInput)),
            (PayloadTooLarge, Outcome::Refused(Rule::BadInput)),
            (MethodNotAllowed, Outcome::Refused(Rule::BadInput)),
            (LimitExceeded, Outcome::Refused(Rule::DestinationLimit)),
            (refused(Guard::CallerSends), Outcome::Refused(Rule::CallerSends)),
            (refused(Guard::CallerFailures), Outcome::Refused(Rule::CallerFailures)),
            (TooManyFailedAttempts, Outcome::Refused(Rule::Lockout)),
            (CodeMismatch, Outcome::Mismatch),
            (ExpiredCode, Outcome::Expired),
            (UserNotFound, Outcome::NotFound),
            (AlreadyConfirmed, Outcome::AlreadyUsed),
            (CodeDeliveryFailure, Outcome::DeliveryFailed),
            (Busy, Outcome::Error),
            (Internal, Outcome::Error),
            (Store(StoreError::Unavailable("throttled".into())), Outcome::Error),
            (Store(StoreError::Aws("no such table".into())), Outcome::Error),
        ];
        for (err, expected) in cases {
            assert_eq!(outcome(&err), expected, "{err:?}");
            assert_eq!(expected.is_server_error(), err.status().is_server_error(), "{err:?}");
            if let Outcome::Refused(_) = expected {
                assert!(err.status().is_client_error(), "{err:?}");
            }
        }
    }
}
