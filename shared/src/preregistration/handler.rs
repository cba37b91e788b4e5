//! HTTP edge of family B: its endpoints on the shared pipeline (`edge::serve`), answered as
//! ASP.NET Web API answered them.

use std::time::Instant;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::Value;

use super::Language;
use super::channels::CodeChannel;
use super::request::{GenerateRequest, ValidateRequest};
use super::response::{GenericResult, HttpError, Payload, ValidateResponse};
use super::service::{Preregistration, Sent, Validated};
use crate::config::test_destinations::TestUse;
use crate::edge::dotnet_body::{Members, Syntax};
use crate::edge::http;
use crate::edge::{self, Call, Edge, Endpoint, Failure};
use crate::ops::metrics::{Channel, Family, Operation, Outcome, Record};
use crate::store::idempotency::Door;

/// The validate function's path; the template also routes the family's unknown paths to that
/// function (`route`).
const VALIDATE_PATH: &str = "/ValidateCnfCodeNotUser";

/// The language a request asks for, in JSON or XML, read leniently so even an invalid
/// request is answered in it.
fn language_of(body: &str, syntax: Syntax) -> Language {
    let requested = match syntax {
        Syntax::Xml => crate::edge::xml::parse(body)
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

/// What every family B answer needs of its request: its language (read leniently from the
/// body, so even an invalid request is answered in it; Spanish, the family's default, when
/// there is no body to read) and the syntax `Accept` asks for.
fn dialect_of(request: &Request, body: Option<&str>) -> (Language, Syntax) {
    let language = body.map_or(Language::Es, |b| language_of(b, Syntax::of_body(request.headers(), b)));
    (language, Syntax::accepted(request.headers()))
}

fn edge_of(app: &Preregistration) -> Edge<'_> {
    let common = &app.config.common;
    Edge { deadline: common.request_deadline, keys: &common.keys, metrics: &app.metrics, table: app.store.table() }
}

/// `POST .../GenerateCnfCodeNotUser`.
pub struct Generate<'a>(pub &'a Preregistration);

impl Endpoint for Generate<'_> {
    type Input = GenerateRequest;
    /// The application (its key encrypts the answer) and what was sent.
    type Output = (String, Sent);
    type Dialect = (Language, Syntax);

    const FAMILY: Family = Family::Preregistration;
    const PATH: Option<&'static str> = Some("/GenerateCnfCodeNotUser");
    const NAME: &'static str = "generate";

    fn edge(&self) -> Edge<'_> {
        edge_of(self.0)
    }

    fn parse(&self, request: &Request, body: &str) -> Result<GenerateRequest, Failure> {
        GenerateRequest::read(body, Syntax::of_body(request.headers(), body)).map_err(Failure::Invalid)
    }

    fn operation(&self, _: Option<&GenerateRequest>) -> Operation {
        Operation::Generate
    }

    fn dialect(&self, request: &Request, body: Option<&str>, _: Option<&GenerateRequest>) -> Self::Dialect {
        dialect_of(request, body)
    }

    fn door<'i>(&self, input: &'i GenerateRequest) -> Option<(&'static str, Door<'i>)> {
        Some(("cnf-generate", Door::Public { application: Some(&input.application_id) }))
    }

    async fn run(&self, input: GenerateRequest, call: Call) -> Result<(String, Sent), Failure> {
        let application = input.application_id.clone();
        let sent = self.0.generate(input, call.caller.as_ref(), call.key.as_ref()).await?;
        Ok((application, sent))
    }

    fn record(&self, (_, sent): &(String, Sent), operation: Operation) -> Record {
        let record = Record::new(Family::Preregistration, operation, Outcome::Sent).country(sent.sms_country);
        match sent.test_use {
            Some(test_use) => record.test_use(test_use == TestUse::OverDailyUses),
            None => record.delivered(u32::from(sent.by_sms), u32::from(sent.by_email)),
        }
    }

    fn answer(
        &self,
        (language, syntax): Self::Dialect,
        outcome: Result<(String, Sent), Failure>,
        _: Instant,
    ) -> Response<Body> {
        answer(self.0, outcome.map(|(application, sent)| (application, sent.payload)), language, syntax)
    }
}

/// `POST .../ValidateCnfCodeNotUser`.
pub struct Validate<'a>(pub &'a Preregistration);

impl Endpoint for Validate<'_> {
    type Input = ValidateRequest;
    type Output = (String, Validated);
    type Dialect = (Language, Syntax);

    const FAMILY: Family = Family::Preregistration;
    const PATH: Option<&'static str> = Some(VALIDATE_PATH);
    const NAME: &'static str = "validate";

    fn edge(&self) -> Edge<'_> {
        edge_of(self.0)
    }

    fn parse(&self, request: &Request, body: &str) -> Result<ValidateRequest, Failure> {
        ValidateRequest::read(body, Syntax::of_body(request.headers(), body)).map_err(Failure::Invalid)
    }

    fn operation(&self, _: Option<&ValidateRequest>) -> Operation {
        Operation::Validate
    }

    fn dialect(&self, request: &Request, body: Option<&str>, _: Option<&ValidateRequest>) -> Self::Dialect {
        dialect_of(request, body)
    }

    async fn run(&self, input: ValidateRequest, call: Call) -> Result<(String, Validated), Failure> {
        let application = input.application_id.clone();
        let validated = self.0.validate(input, call.caller.as_ref()).await?;
        Ok((application, validated))
    }

    fn record(&self, (_, validated): &(String, Validated), operation: Operation) -> Record {
        let channel = match validated.channel {
            CodeChannel::Sms => Channel::Sms,
            CodeChannel::Email => Channel::Email,
        };
        let record = Record::new(Family::Preregistration, operation, Outcome::Verified).country(validated.sms_country);
        if validated.test { record.test_use(false) } else { record.verified_by(channel) }
    }

    fn answer(
        &self,
        (language, syntax): Self::Dialect,
        outcome: Result<(String, Validated), Failure>,
        _: Instant,
    ) -> Response<Body> {
        let outcome = outcome.map(|(application, validated)| (application, validated.payload));
        answer::<ValidateResponse>(self.0, outcome, language, syntax)
    }
}

pub async fn generate(app: &Preregistration, request: Request) -> Response<Body> {
    edge::serve(&Generate(app), request).await
}

pub async fn validate(app: &Preregistration, request: Request) -> Response<Body> {
    edge::serve(&Validate(app), request).await
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
    edge::not_found(&Validate(app), request)
}

/// The answer, in the syntax `Accept` asked for: the payload inside `GenericResult`
/// (encrypted for applications with a key), or the error as ASP.NET Web API writes it.
fn answer<T: Payload>(
    app: &Preregistration,
    outcome: Result<(String, T), Failure>,
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
            let body = HttpError::new(&err, language);
            match syntax {
                Syntax::Xml => http::xml_response(err.status(), body.to_xml()),
                Syntax::Json => http::json_response(err.status(), &body),
            }
        }
    }
}
