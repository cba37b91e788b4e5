//! HTTP edge of family B: ASP.NET Web API's answers, every outcome mapped in this one place
//! (to its status and body, and to its metric record).

use std::time::Instant;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::Value;

use super::annotations::model_error;
use super::request::{GenerateRequest, ValidateRequest};
use super::response::{GenericResult, HttpError, Payload};
use super::service::Preregistration;
use super::{Language, PreregistrationError};
use crate::http::{self, BodyError};
use crate::idempotency::{Door, Idempotency};
use crate::lenient::{Members, Syntax};
use crate::metrics::{Family, Operation, Outcome, Record, Rule};

/// How a refused or failed request ended, for the metrics (next to the status mapping: a
/// test holds the two together).
fn outcome(err: &PreregistrationError) -> Outcome {
    match err {
        PreregistrationError::KeyInFlight | PreregistrationError::KeyReused => Outcome::Refused(Rule::IdempotencyKey),
        PreregistrationError::Invalid(_)
        | PreregistrationError::PayloadTooLarge
        | PreregistrationError::MethodNotAllowed
        | PreregistrationError::UnknownPath
        | PreregistrationError::UnknownApplication => Outcome::Refused(Rule::BadInput),
        PreregistrationError::RateLimited => Outcome::Refused(Rule::DestinationLimit),
        PreregistrationError::Refused(refusal) => Outcome::Refused(refusal.rule.into()),
        PreregistrationError::TooManyAttempts => Outcome::Refused(Rule::Lockout),
        PreregistrationError::NotFound => Outcome::NotFound,
        PreregistrationError::Expired => Outcome::Expired,
        PreregistrationError::Mismatch { .. } => Outcome::Mismatch,
        PreregistrationError::AlreadyUsed => Outcome::AlreadyUsed,
        PreregistrationError::DeliveryFailed => Outcome::DeliveryFailed,
        PreregistrationError::Busy | PreregistrationError::Internal | PreregistrationError::Store(_) => Outcome::Error,
    }
}

/// The validate function's path; the template also routes the family's unknown paths to that
/// function (`route`).
const VALIDATE_PATH: &str = "/ValidateCnfCodeNotUser";

/// A handler serves its own path only (a direct invocation with another endpoint's event is
/// refused too); unknown paths never reach one (`route`).
fn body_of<'a>(request: &'a Request, endpoint: &str) -> Result<&'a str, PreregistrationError> {
    if !http::addressed_to(request.uri().path(), endpoint) {
        return Err(PreregistrationError::UnknownPath);
    }
    if request.method() != Method::POST {
        return Err(PreregistrationError::MethodNotAllowed);
    }
    http::body_text(request.body()).map_err(|e| match e {
        BodyError::TooLarge => PreregistrationError::PayloadTooLarge,
        BodyError::InvalidUtf8 => {
            PreregistrationError::Invalid(model_error("request", "The request body is not valid UTF-8."))
        }
    })
}

/// The language a request asks for, in JSON or XML, read leniently so even an invalid
/// request is answered in it.
fn language_of(body: &str, syntax: Syntax) -> Language {
    let requested = match syntax {
        Syntax::Xml => crate::xml::parse(body)
            .ok()
            .and_then(|root| root.child("language").filter(|l| !l.nil).map(|l| l.text.clone())),
        Syntax::Json => {
            let value: Option<Value> = serde_json::from_str(body).ok();
            let language = value.as_ref().and_then(Value::as_object).and_then(|map| Members::new(map).get("language"));
            language.and_then(Value::as_str).map(str::to_string)
        }
    };
    Language::pick(requested.as_deref())
}

pub async fn generate(app: &Preregistration, request: Request) -> Response<Body> {
    let started = Instant::now();
    let body = body_of(&request, "/GenerateCnfCodeNotUser");
    let syntax = |b: &str| Syntax::of_body(request.headers(), b);
    let language = body.as_ref().map(|b| language_of(b, syntax(b))).unwrap_or(Language::Es);
    let answer_syntax = Syntax::accepted(request.headers());
    let read = |b: &str| GenerateRequest::read(b, syntax(b)).map_err(PreregistrationError::Invalid);
    let outcome = match body.and_then(read) {
        Ok(parsed) => {
            let application = parsed.application_id.clone();
            let caller = crate::guards::Caller::of(&request);
            let keys = &app.config.common.keys;
            let door = Door::Public { application: Some(&application) };
            match Idempotency::of(&request, "cnf-generate", door, keys, app.store.table()) {
                Ok(key) => http::within(
                    app.config.common.request_deadline,
                    app.generate(parsed, caller.as_ref(), key.as_ref()),
                )
                .await
                .unwrap_or(Err(PreregistrationError::Busy))
                .map(|sent| (application, sent)),
                Err(reason) => Err(PreregistrationError::Invalid(model_error("Idempotency-Key", reason))),
            }
        }
        Err(err) => Err(err),
    };
    let record = match &outcome {
        Ok((_, sent)) => Record::new(Family::B, Operation::Generate, Outcome::Sent)
            .country(sent.sms_country)
            .delivered(u32::from(sent.by_sms), u32::from(sent.by_email)),
        Err(err) => Record::new(Family::B, Operation::Generate, self::outcome(err)),
    };
    let outcome = outcome.map(|(application, sent)| (application, sent.payload));
    let response = answer(app, outcome, language, answer_syntax);
    app.metrics.emit(&record.took(started.elapsed()));
    response
}

/// What the validate function serves: its own path, and every other path under
/// `/api/Auth/1/1/` (the template's catch-all route), which `not_found` answers.
pub async fn route(app: &Preregistration, request: Request) -> Response<Body> {
    if http::addressed_to(request.uri().path(), VALIDATE_PATH) {
        validate(app, request).await
    } else {
        not_found(app, &request)
    }
}

/// A path of the family that no endpoint has: ASP.NET Web API's 404 (in Spanish, the
/// family's default, as no body is read), counted with the function that answers it.
pub fn not_found(app: &Preregistration, request: &Request) -> Response<Body> {
    let started = Instant::now();
    let err = PreregistrationError::UnknownPath;
    let record = Record::new(Family::B, Operation::Validate, outcome(&err));
    let response =
        answer::<super::response::ValidateResponse>(app, Err(err), Language::Es, Syntax::accepted(request.headers()));
    app.metrics.emit(&record.took(started.elapsed()));
    response
}

pub async fn validate(app: &Preregistration, request: Request) -> Response<Body> {
    let started = Instant::now();
    let body = body_of(&request, VALIDATE_PATH);
    let syntax = |b: &str| Syntax::of_body(request.headers(), b);
    let language = body.as_ref().map(|b| language_of(b, syntax(b))).unwrap_or(Language::Es);
    let answer_syntax = Syntax::accepted(request.headers());
    let read = |b: &str| ValidateRequest::read(b, syntax(b)).map_err(PreregistrationError::Invalid);
    let outcome = match body.and_then(read) {
        Ok(parsed) => {
            let application = parsed.application_id.clone();
            let caller = crate::guards::Caller::of(&request);
            http::within(app.config.common.request_deadline, app.validate(parsed, caller.as_ref()))
                .await
                .unwrap_or(Err(PreregistrationError::Busy))
                .map(|validated| (application, validated))
        }
        Err(err) => Err(err),
    };
    let record = match &outcome {
        Ok((_, validated)) => Record::new(Family::B, Operation::Validate, Outcome::Verified)
            .country(validated.sms_country)
            .verified_by(match validated.channel {
                super::channels::CodeChannel::Sms => crate::metrics::Channel::Sms,
                super::channels::CodeChannel::Email => crate::metrics::Channel::Email,
            }),
        Err(err) => Record::new(Family::B, Operation::Validate, self::outcome(err)),
    };
    let outcome = outcome.map(|(application, validated)| (application, validated.payload));
    let response = answer(app, outcome, language, answer_syntax);
    app.metrics.emit(&record.took(started.elapsed()));
    response
}

/// The answer, in the syntax `Accept` asked for: the payload inside `GenericResult`
/// (encrypted for applications with a key), or the error as ASP.NET Web API writes it.
fn answer<T: Payload>(
    app: &Preregistration,
    outcome: Result<(String, T), PreregistrationError>,
    language: Language,
    syntax: Syntax,
) -> Response<Body> {
    match outcome {
        Ok((application, payload)) => {
            // Plain structs of strings and numbers: serialising them cannot fail.
            let plain = serde_json::to_string(&payload).unwrap_or_default();
            let encrypted = app.application(&application).ok().and_then(|a| a.encrypt(plain.as_bytes()));
            let result = match encrypted {
                Some(data) => GenericResult { encrypted_data: Some(data), response: None },
                None => GenericResult { encrypted_data: None, response: Some(payload) },
            };
            match syntax {
                Syntax::Xml => http::xml_response(StatusCode::OK, result.to_xml()),
                Syntax::Json => http::json_response(StatusCode::OK, &result),
            }
        }
        Err(err) => {
            crate::failure::log_store_cause(&err);
            let status = err.status();
            tracing::info!(status = status.as_u16(), "pre-registration request refused");
            let body = HttpError::new(&err, language);
            let response = match syntax {
                Syntax::Xml => http::xml_response(status, body.to_xml()),
                Syntax::Json => http::json_response(status, &body),
            };
            http::with_retry_after(response, err.retry_after())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamo::StoreError;
    use crate::guards::{Refusal, Rule as Guard};

    fn refused(rule: Guard) -> PreregistrationError {
        PreregistrationError::Refused(Refusal::sample(rule))
    }

    #[test]
    fn when_a_request_fails_should_record_the_outcome_its_answer_says() {
        use PreregistrationError::*;
        let cases = [
            (Invalid(Default::default()), Outcome::Refused(Rule::BadInput)),
            (PayloadTooLarge, Outcome::Refused(Rule::BadInput)),
            (MethodNotAllowed, Outcome::Refused(Rule::BadInput)),
            (UnknownPath, Outcome::Refused(Rule::BadInput)),
            (UnknownApplication, Outcome::Refused(Rule::BadInput)),
            (RateLimited, Outcome::Refused(Rule::DestinationLimit)),
            (refused(Guard::CallerSends), Outcome::Refused(Rule::CallerSends)),
            (refused(Guard::CallerFailures), Outcome::Refused(Rule::CallerFailures)),
            (refused(Guard::NumberBlock), Outcome::Refused(Rule::NumberBlock)),
            (refused(Guard::CountryCeiling), Outcome::Refused(Rule::CountryCeiling)),
            (refused(Guard::DailyCeiling), Outcome::Refused(Rule::DailyCeiling)),
            (TooManyAttempts, Outcome::Refused(Rule::Lockout)),
            (NotFound, Outcome::NotFound),
            (Expired, Outcome::Expired),
            (Mismatch { remaining: 2 }, Outcome::Mismatch),
            (AlreadyUsed, Outcome::AlreadyUsed),
            (DeliveryFailed, Outcome::DeliveryFailed),
            (Busy, Outcome::Error),
            (Internal, Outcome::Error),
            (Store(StoreError::Unavailable("throttled".into())), Outcome::Error),
            (Store(StoreError::Aws("no such table".into())), Outcome::Error),
        ];
        for (err, expected) in cases {
            assert_eq!(outcome(&err), expected, "{err:?}");
            // What the metrics call a server error is what the answer's status says, and
            // every refusal by a rule is a 4xx.
            assert_eq!(expected.is_server_error(), err.status().is_server_error(), "{err:?}");
            if let Outcome::Refused(_) = expected {
                assert!(err.status().is_client_error(), "{err:?}");
            }
        }
    }
}
