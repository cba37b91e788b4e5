//! The edge every endpoint shares: one pipeline from API Gateway's request to the family's
//! answer. What differs per endpoint (how its body is read, what it runs, how its legacy wire
//! format words success and failure) is its `Endpoint`; everything else happens here, once:
//! the path, method and body checks, the `Idempotency-Key`, the deadline, the log of a
//! failure, the metric record and `Retry-After`.

pub mod dotnet_body;
pub mod failure;
pub mod http;
pub mod request;
pub mod routes;
pub mod xml;

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

pub use failure::{Failure, Problems, problem};

use crate::domain::caller::Caller;
use crate::domain::crypto::KeyRing;
use crate::ops::metrics::{Family, Metrics, Operation, Record};
use crate::store::backoff;
use crate::store::idempotency::{Door, Idempotency};
use http::BodyError;

/// What the pipeline needs of the endpoint's family.
pub struct Edge<'a> {
    /// Every request is answered within this (`REQUEST_DEADLINE_MS`).
    pub deadline: std::time::Duration,
    /// The keys an `Idempotency-Key` is hashed under.
    pub keys: &'a KeyRing,
    pub metrics: &'a Metrics,
    /// The DynamoDB table an `Idempotency-Key`'s record goes in.
    pub table: &'a str,
}

/// What a request brings besides its body, for the endpoint's operation.
pub struct Call {
    /// The public caller (source address): public endpoints count and limit it.
    pub caller: Option<Caller>,
    /// The request's `Idempotency-Key`, when the endpoint takes one and the request has one.
    pub key: Option<Idempotency>,
}

/// One endpoint: its path, how its request is read, what it runs, and its dialect (how its
/// legacy wire format answers).
pub trait Endpoint: Sync {
    /// The request, read and checked.
    type Input: Send;
    /// What a success answers.
    type Output: Send;
    /// What the answer needs of the request whatever happens (the syntax or format asked
    /// for, the language, an XML namespace...): read before the operation runs.
    type Dialect: Send;

    const FAMILY: Family;
    /// The path the endpoint serves (its last segments: API Gateway may prefix a stage), or
    /// `None` when it reads its own path (family A's format suffixes).
    const PATH: Option<&'static str>;
    /// The endpoint's name in logs.
    const NAME: &'static str;

    fn edge(&self) -> Edge<'_>;

    fn parse(&self, request: &Request, body: &str) -> Result<Self::Input, Failure>;

    /// What the request asked for, for the metrics (also when it could not be read).
    fn operation(&self, input: Option<&Self::Input>) -> Operation;

    fn dialect(&self, request: &Request, body: Option<&str>, input: Option<&Self::Input>) -> Self::Dialect;

    /// The endpoint's `Idempotency-Key` scope and door, if it takes one.
    fn door<'i>(&self, _input: &'i Self::Input) -> Option<(&'static str, Door<'i>)> {
        None
    }

    fn run(&self, input: Self::Input, call: Call) -> impl Future<Output = Result<Self::Output, Failure>> + Send;

    /// A success's metric record (the pipeline adds its latency).
    fn record(&self, output: &Self::Output, operation: Operation) -> Record;

    /// The answer in the family's wire format; the pipeline adds `Retry-After`.
    fn answer(
        &self,
        dialect: Self::Dialect,
        outcome: Result<Self::Output, Failure>,
        started: Instant,
    ) -> Response<Body>;
}

/// Serves one request through `endpoint`: every outcome, bad input included, ends in the
/// family's answer, one log line of a failure and one metric record.
pub async fn serve<E: Endpoint>(endpoint: &E, request: Request) -> Response<Body> {
    let started = Instant::now();
    let edge = endpoint.edge();
    let (body, input) = match body_of(&request, E::PATH) {
        Ok(body) => (Some(body), endpoint.parse(&request, body)),
        Err(failure) => (None, Err(failure)),
    };
    let dialect = endpoint.dialect(&request, body, input.as_ref().ok());
    let operation = endpoint.operation(input.as_ref().ok());
    let (outcome, retries) = match input {
        Ok(input) => match key_of(endpoint, &request, &input, &edge) {
            Ok((caller, key)) => {
                let call = Call { caller, key };
                // Boxed: the endpoint's future behind one pointer keeps every function's future
                // within the compiler's layout depth (family A's overflowed it), for one
                // allocation a request.
                let run: Pin<Box<dyn Future<Output = _> + Send + '_>> = Box::pin(endpoint.run(input, call));
                let (ran, retries) = backoff::counting(http::within(edge.deadline, run)).await;
                (ran.unwrap_or(Err(Failure::Busy)), retries)
            }
            Err(failure) => (Err(failure), 0),
        },
        Err(failure) => (Err(failure), 0),
    };
    let (record, retry_after) = match &outcome {
        Ok(output) => (endpoint.record(output, operation), None),
        Err(failure) => {
            failure.log(E::NAME);
            (Record::new(E::FAMILY, operation, failure.outcome()), failure.retry_after())
        }
    };
    let response = http::with_retry_after(endpoint.answer(dialect, outcome, started), retry_after);
    edge.metrics.emit(&record.retried(retries).took(started.elapsed()));
    response
}

/// A path of the family that no endpoint has (the template routes them to one function):
/// the family's 404, counted with that function.
pub fn not_found<E: Endpoint>(endpoint: &E, request: &Request) -> Response<Body> {
    let started = Instant::now();
    let failure = Failure::UnknownPath;
    let record = Record::new(E::FAMILY, endpoint.operation(None), failure.outcome());
    let response = endpoint.answer(endpoint.dialect(request, None, None), Err(failure), started);
    endpoint.edge().metrics.emit(&record.took(started.elapsed()));
    response
}

/// An endpoint serves its own path only (a direct invocation with another endpoint's event
/// is refused too), by POST, with a body within the size limit.
fn body_of<'r>(request: &'r Request, path: Option<&str>) -> Result<&'r str, Failure> {
    if path.is_some_and(|path| !http::addressed_to(request.uri().path(), path)) {
        return Err(Failure::UnknownPath);
    }
    if request.method() != Method::POST {
        return Err(Failure::MethodNotAllowed);
    }
    http::body_text(request.body()).map_err(|e| match e {
        BodyError::TooLarge => Failure::PayloadTooLarge,
        BodyError::InvalidUtf8 => Failure::invalid(e.to_string()),
    })
}

/// The caller (read once: a public key's scope and the endpoint's limits both use it) and the
/// request's `Idempotency-Key`, if the endpoint takes one.
fn key_of<E: Endpoint>(
    endpoint: &E,
    request: &Request,
    input: &E::Input,
    edge: &Edge<'_>,
) -> Result<(Option<Caller>, Option<Idempotency>), Failure> {
    let caller = request::caller_of(request);
    let Some((scope, door)) = endpoint.door(input) else { return Ok((caller, None)) };
    let key = request::idempotency_of(request, caller.as_ref(), scope, door, edge.keys, edge.table)
        .map_err(|reason| Failure::Invalid(problem("Idempotency-Key", reason)))?;
    Ok((caller, key))
}
