//! HTTP edge of family C: its three endpoints on the shared pipeline (`edge::serve`), each
//! with how its request is read and how its answer is written, JSON or XML.

use std::time::Instant;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use super::Code;
use super::request::{CreateRequest, VerifyRequest};
use super::response::{CreateResponse, VerifyResponse};
use super::service::{Created, TwoFactor, Verified};
use crate::config::test_destinations::TestUse;
use crate::edge::dotnet_body::Syntax;
use crate::edge::http;
use crate::edge::{self, Call, Edge, Endpoint, Failure};
use crate::ops::metrics::{Country, Family, Operation, Outcome, Record};
use crate::store::idempotency::Door;

/// The verify function's path; the template also routes the family's unknown paths to that
/// function (`route`).
const VERIFY_PATH: &str = "/VerifyTwoFactorSmsOtp";

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

fn edge_of(app: &TwoFactor) -> Edge<'_> {
    let common = &app.config.common;
    Edge { deadline: common.request_deadline, keys: &common.keys, metrics: &app.metrics, table: app.store.table() }
}

/// `POST .../CreateTwoFactorSmsOtp`.
pub struct Create<'a>(pub &'a TwoFactor);

/// A create request and the language its SMS is written in.
pub struct CreateInput {
    request: CreateRequest,
    accept_language: Option<String>,
}

impl Endpoint for Create<'_> {
    type Input = CreateInput;
    /// The OTP, and whether its SMS went before the answer (`IsSync: true`): an `IsSync:
    /// false` OTP's SMS is the sender's to deliver (and count).
    type Output = (Created, bool);
    type Dialect = Syntax;

    const FAMILY: Family = Family::TwoFactor;
    const PATH: Option<&'static str> = Some("/CreateTwoFactorSmsOtp");
    const NAME: &'static str = "create";

    fn edge(&self) -> Edge<'_> {
        edge_of(self.0)
    }

    fn parse(&self, request: &Request, body: &str) -> Result<CreateInput, Failure> {
        let parsed = CreateRequest::read(body, Syntax::of_body(request.headers(), body))?;
        let accept_language = http::header(request.headers(), "accept-language").map(str::to_string);
        Ok(CreateInput { request: parsed, accept_language })
    }

    fn operation(&self, _: Option<&CreateInput>) -> Operation {
        Operation::Create
    }

    fn dialect(&self, request: &Request, _: Option<&str>, _: Option<&CreateInput>) -> Syntax {
        Syntax::accepted(request.headers())
    }

    fn door<'i>(&self, _: &'i CreateInput) -> Option<(&'static str, Door<'i>)> {
        Some(("2fa-create", Door::Backend))
    }

    async fn run(&self, input: CreateInput, call: Call) -> Result<(Created, bool), Failure> {
        let sync = input.request.is_sync;
        let created = self.0.create(input.request, input.accept_language.as_deref(), call.key.as_ref()).await?;
        Ok((created, sync))
    }

    fn record(&self, (created, sync): &(Created, bool), operation: Operation) -> Record {
        let record =
            Record::new(Family::TwoFactor, operation, Outcome::Sent).country(Country::of_phone(&created.phone));
        match created.test_use {
            Some(test_use) => record.test_use(test_use == TestUse::OverDailyUses),
            None => record.delivered(u32::from(*sync), 0),
        }
    }

    fn answer(&self, syntax: Syntax, outcome: Result<(Created, bool), Failure>, _: Instant) -> Response<Body> {
        match outcome {
            Ok((created, _)) => respond(
                StatusCode::OK,
                syntax,
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
            Err(err) => respond(err.status(), syntax, &CreateResponse::failure(&err), CreateResponse::to_xml),
        }
    }
}

/// `POST .../VerifyTwoFactorSmsOtp`.
pub struct Verify<'a>(pub &'a TwoFactor);

impl Endpoint for Verify<'_> {
    type Input = VerifyRequest;
    type Output = Verified;
    /// The answer's syntax, and the OTP's id when the request could be read (a failure
    /// answers it back).
    type Dialect = (Syntax, Option<String>);

    const FAMILY: Family = Family::TwoFactor;
    const PATH: Option<&'static str> = Some(VERIFY_PATH);
    const NAME: &'static str = "verify";

    fn edge(&self) -> Edge<'_> {
        edge_of(self.0)
    }

    fn parse(&self, request: &Request, body: &str) -> Result<VerifyRequest, Failure> {
        VerifyRequest::read(body, Syntax::of_body(request.headers(), body))
    }

    fn operation(&self, _: Option<&VerifyRequest>) -> Operation {
        Operation::Verify
    }

    fn dialect(&self, request: &Request, _: Option<&str>, input: Option<&VerifyRequest>) -> Self::Dialect {
        (Syntax::accepted(request.headers()), input.map(|r| r.otp_id.to_string()))
    }

    async fn run(&self, input: VerifyRequest, _: Call) -> Result<Verified, Failure> {
        self.0.verify(input).await
    }

    fn record(&self, verified: &Verified, operation: Operation) -> Record {
        let record =
            Record::new(Family::TwoFactor, operation, Outcome::Verified).country(Country::of_phone(&verified.phone));
        if verified.test { record.test_use(false) } else { record }
    }

    fn answer(
        &self,
        (syntax, otp_id): Self::Dialect,
        outcome: Result<Verified, Failure>,
        _: Instant,
    ) -> Response<Body> {
        let (status, answer) = match outcome {
            Ok(verified) => (
                StatusCode::OK,
                VerifyResponse::success(verified.otp_id.to_string(), verified.remaining_attempts, verified.phone),
            ),
            Err(err) => (err.status(), VerifyResponse::failure(&err, otp_id)),
        };
        respond(status, syntax, &answer, VerifyResponse::to_xml)
    }
}

pub async fn create(app: &TwoFactor, request: Request) -> Response<Body> {
    edge::serve(&Create(app), request).await
}

pub async fn verify(app: &TwoFactor, request: Request) -> Response<Body> {
    edge::serve(&Verify(app), request).await
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
    edge::not_found(&Verify(app), request)
}
