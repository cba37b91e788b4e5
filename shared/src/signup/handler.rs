//! HTTP edge of family A: its one endpoint on the shared pipeline (`edge::serve`), answered
//! in the `BaseResponse` envelope as JSON, XML or CSV, as the request's path or `Accept` asks.

use std::time::Instant;

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};

use super::dialect;
use super::format::{self, Format};
use super::model::{Envelope, iso_time, timespan};
use super::request::SignupRequest;
use super::service::{Answered, Signup};
use crate::config::test_destinations::TestUse;
use crate::edge::http;
use crate::edge::{self, Call, Edge, Endpoint, Failure};
use crate::ops::metrics::{Family, Operation, Outcome, Record};
use crate::store::idempotency::Door;

/// `POST /CognitoSendConfirmCodeRequest` (with an optional format suffix): a send, or a
/// confirmation when the request carries a code.
pub struct SendOrConfirm<'a>(pub &'a Signup);

/// What the answer needs of the request: its format, the time it came, and an XML request's
/// namespace (an answer, also an error one, is written in it; requests that cannot be read
/// are answered in the default one).
pub struct Dialect {
    format: Format,
    request_time: String,
    namespace: Option<String>,
}

impl Endpoint for SendOrConfirm<'_> {
    type Input = SignupRequest;
    type Output = Answered;
    type Dialect = Dialect;

    const FAMILY: Family = Family::Signup;
    /// The path carries the answer's format (`.json`, `.xml`, `.csv`, `/json/reply/...`).
    const PATH: Option<&'static str> = None;
    const NAME: &'static str = "sign-up request";

    fn edge(&self) -> Edge<'_> {
        let common = &self.0.config.common;
        Edge {
            deadline: common.request_deadline,
            keys: &common.keys,
            metrics: &self.0.metrics,
            table: self.0.store.table(),
        }
    }

    fn parse(&self, _: &Request, body: &str) -> Result<SignupRequest, Failure> {
        SignupRequest::parse(body)
    }

    /// A request that cannot be read asked for nothing in particular: counted as a send, the
    /// endpoint's first step.
    fn operation(&self, input: Option<&SignupRequest>) -> Operation {
        match input {
            Some(request) if request.code().is_some() => Operation::Confirm,
            _ => Operation::Send,
        }
    }

    fn dialect(&self, request: &Request, _: Option<&str>, input: Option<&SignupRequest>) -> Dialect {
        let format =
            format::negotiate(request.uri().path(), request.uri().query(), http::header(request.headers(), "accept"));
        let namespace = input.and_then(|r| r.namespace.clone());
        Dialect { format, request_time: iso_time(self.0.clock.now_ms()), namespace }
    }

    fn door<'i>(&self, _: &'i SignupRequest) -> Option<(&'static str, Door<'i>)> {
        Some(("signup-send", Door::Public { application: None }))
    }

    async fn run(&self, input: SignupRequest, call: Call) -> Result<Answered, Failure> {
        self.0.handle(input, call.caller.as_ref(), call.key.as_ref()).await
    }

    fn record(&self, answered: &Answered, operation: Operation) -> Record {
        let record = match operation {
            Operation::Confirm => Record::new(Family::Signup, operation, Outcome::Verified),
            _ => Record::new(Family::Signup, operation, Outcome::Sent).delivered(0, 1),
        };
        match answered.test_use {
            Some(test_use) => record.delivered(0, 0).test_use(test_use == TestUse::OverDailyUses),
            None => record,
        }
    }

    fn answer(&self, dialect: Dialect, outcome: Result<Answered, Failure>, started: Instant) -> Response<Body> {
        let app = self.0;
        let (status, envelope) = match outcome {
            Ok(Answered { user, .. }) => (
                StatusCode::OK,
                Envelope {
                    total: 1,
                    op_code: 0,
                    error_text: None,
                    request_time: dialect.request_time,
                    response_time: iso_time(app.clock.now_ms()),
                    total_execution_time: timespan(started.elapsed()),
                    cached_response: false,
                    data: Some(app.user_view(&user)),
                    data2: None,
                },
            ),
            Err(err) => (
                err.status(),
                Envelope {
                    total: 0,
                    op_code: dialect::op_code(&err),
                    error_text: Some(dialect::error_text(&err)),
                    request_time: dialect.request_time,
                    response_time: iso_time(app.clock.now_ms()),
                    total_execution_time: timespan(started.elapsed()),
                    cached_response: false,
                    data: None,
                    data2: None,
                },
            ),
        };
        respond(status, dialect.format, dialect.namespace.as_deref(), &envelope)
    }
}

pub async fn handle(app: &Signup, request: Request) -> Response<Body> {
    edge::serve(&SendOrConfirm(app), request).await
}

fn respond(status: StatusCode, format: Format, namespace: Option<&str>, envelope: &Envelope) -> Response<Body> {
    let mut response = Response::new(Body::Text(format::render_in(envelope, format, namespace)));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    response
}
