//! Injected faults between the SDK and moto: an HTTP client for the SDK that wraps the real
//! one and, for the calls a test names (by service and operation), stalls, throttles, fails
//! with a 5xx, or lets the call take effect in moto and then fails or drops the answer.
//!
//! It sits where `aws_calls` counts, under the SDK's retries and timeouts, so every attempt
//! meets the fault as it would meet a failing AWS, and the SDK's own retry, timeout and
//! error parsing run for real.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

use crate::aws_calls::operation;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// No answer, ever: only the SDK's timeouts or the request's deadline end the wait.
    Stall,
    /// Refused before taking effect: DynamoDB `ProvisionedThroughputExceededException`,
    /// SNS `Throttling`, SES `TooManyRequestsException`.
    Throttle,
    /// DynamoDB's other throttling answer, `ThrottlingException` (elsewhere as `Throttle`).
    ThrottlingException,
    /// Refused for good before taking effect: SNS `InvalidParameter` (a number the carrier
    /// will not take), unlike `Throttle`, which a later try may pass.
    Refuse,
    /// A 5xx with the service's internal-error body, before taking effect.
    ServerError(u16),
    /// DynamoDB `TransactWriteItems` cancelled before taking effect because another
    /// transaction held its first item (`TransactionConflict` there, `None` at the others), as
    /// DynamoDB answers two overlapping transactions on one item; a single-item write
    /// (`UpdateItem`, `PutItem`) to an item a transaction holds: `TransactionConflictException`.
    TransactionConflict,
    /// The call reaches moto and takes effect; the answer is then replaced by a 500.
    FailAfterEffect,
    /// The call reaches moto and takes effect; the answer never comes.
    DropAfterEffect,
}

#[derive(Debug)]
struct Rule {
    /// `"dynamodb:TransactWriteItems"`, or a whole service: `"sns:*"`.
    operation: String,
    fault: Fault,
    /// How many more calls meet it; `None`: every call.
    remaining: Option<usize>,
}

/// Another request's work, run before a chosen call reaches moto (`Faults::before`).
type Interleaved = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    /// By operation: the calls still to pass before the work runs, and the work.
    interleaved: Vec<(String, usize, Interleaved)>,
    /// Attempts that met a fault, by operation.
    injected: BTreeMap<String, usize>,
    /// Every attempt, by operation.
    calls: BTreeMap<String, usize>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("rules", &self.rules)
            .field("interleaved", &self.interleaved.len())
            .field("injected", &self.injected)
            .field("calls", &self.calls)
            .finish()
    }
}

/// The faults of one SDK configuration. Clones share them.
#[derive(Clone, Debug, Default)]
pub struct Faults(Arc<Mutex<State>>);

impl Faults {
    /// Every later call of `operation` meets `fault`.
    pub fn inject(&self, operation: &str, fault: Fault) {
        self.push(operation, fault, None);
    }

    /// The next `times` calls of `operation` meet `fault`.
    pub fn inject_times(&self, operation: &str, fault: Fault, times: usize) {
        self.push(operation, fault, Some(times));
    }

    fn push(&self, operation: &str, fault: Fault, remaining: Option<usize>) {
        self.state().rules.push(Rule { operation: operation.to_string(), fault, remaining });
    }

    /// Runs `work` (another request's writes) once, just before the call of `operation` that
    /// comes after `skip` others reaches moto: what a concurrent request does between two
    /// calls of one request, made certain instead of a race.
    pub fn before<F>(&self, operation: &str, skip: usize, work: impl FnOnce() -> F + Send + 'static)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let work: Interleaved = Box::new(move || Box::pin(work()));
        self.state().interleaved.push((operation.to_string(), skip, work));
    }

    /// The work due before this call of `operation`, if any (counting down the others').
    fn interleaved(&self, operation: &str) -> Option<Interleaved> {
        let mut state = self.state();
        let due = state.interleaved.iter().position(|(named, skip, _)| named == operation && *skip == 0);
        for (named, skip, _) in state.interleaved.iter_mut() {
            if named == operation && *skip > 0 {
                *skip -= 1;
            }
        }
        due.map(|i| state.interleaved.remove(i).2)
    }

    /// No more faults (the counts stay).
    pub fn clear(&self) {
        self.state().rules.clear();
    }

    /// Starts counting afresh.
    pub fn reset_counts(&self) {
        let mut state = self.state();
        state.injected.clear();
        state.calls.clear();
    }

    /// Attempts of `operation` that met a fault.
    pub fn injected(&self, operation: &str) -> usize {
        self.state().injected.get(operation).copied().unwrap_or(0)
    }

    /// Attempts of `operation`, faulted or not.
    pub fn calls(&self, operation: &str) -> usize {
        self.state().calls.get(operation).copied().unwrap_or(0)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The fault this attempt meets, if any, counted.
    fn meet(&self, operation: &str) -> Option<Fault> {
        let mut state = self.state();
        *state.calls.entry(operation.to_string()).or_default() += 1;
        let service = operation.split(':').next().unwrap_or_default();
        let rule = state.rules.iter_mut().find(|rule| {
            let named = rule.operation == operation || rule.operation == format!("{service}:*");
            named && rule.remaining != Some(0)
        })?;
        if let Some(remaining) = rule.remaining.as_mut() {
            *remaining -= 1;
        }
        let fault = rule.fault;
        *state.injected.entry(operation.to_string()).or_default() += 1;
        Some(fault)
    }
}

#[derive(Debug)]
struct FaultyClient {
    inner: SharedHttpClient,
    faults: Faults,
}

#[derive(Debug)]
struct FaultyConnector {
    inner: SharedHttpConnector,
    faults: Faults,
}

impl HttpClient for FaultyClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        let inner = self.inner.http_connector(settings, components);
        SharedHttpConnector::new(FaultyConnector { inner, faults: self.faults.clone() })
    }
}

fn never() -> HttpConnectorFuture {
    HttpConnectorFuture::new(std::future::pending::<Result<HttpResponse, ConnectorError>>())
}

impl HttpConnector for FaultyConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let operation = operation(&request);
        let service = operation.split(':').next().unwrap_or_default().to_string();
        if let Some(work) = self.faults.interleaved(&operation) {
            // Counted as a call, but it meets no fault: the work stands in for the other request.
            *self.faults.state().calls.entry(operation).or_default() += 1;
            let inner = self.inner.clone();
            return HttpConnectorFuture::new(async move {
                work().await;
                inner.call(request).await
            });
        }
        let Some(fault) = self.faults.meet(&operation) else { return self.inner.call(request) };
        match fault {
            Fault::Stall => never(),
            Fault::Throttle | Fault::ThrottlingException | Fault::Refuse | Fault::ServerError(_) => {
                HttpConnectorFuture::ready(Ok(error_response(&service, fault)))
            }
            Fault::TransactionConflict if operation != "dynamodb:TransactWriteItems" => {
                HttpConnectorFuture::ready(Ok(error_response(&service, fault)))
            }
            Fault::TransactionConflict => {
                let items =
                    request.body().bytes().and_then(|body| serde_json::from_slice::<serde_json::Value>(body).ok());
                let count = items.as_ref().and_then(|b| b["TransactItems"].as_array()).map_or(1, Vec::len);
                HttpConnectorFuture::ready(Ok(conflict_response(count)))
            }
            Fault::FailAfterEffect | Fault::DropAfterEffect => {
                // Spawned: the call completes in moto even when the SDK's timeout drops
                // this attempt first, as a request already in AWS would.
                let applied = tokio::spawn(self.inner.call(request));
                HttpConnectorFuture::new(async move {
                    let _ = applied.await;
                    match fault {
                        Fault::FailAfterEffect => Ok(error_response(&service, Fault::ServerError(500))),
                        _ => std::future::pending().await,
                    }
                })
            }
        }
    }
}

/// The answer each service gives for `fault`, in its own protocol: DynamoDB awsJson 1.0,
/// SNS awsQuery XML, SES v2 REST-JSON with `x-amzn-ErrorType`.
fn error_response(service: &str, fault: Fault) -> HttpResponse {
    let (status, content_type, error_type, body) = match (service, fault) {
        ("dynamodb", Fault::Throttle) => (
            400,
            "application/x-amz-json-1.0",
            None,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"#.to_string(),
        ),
        ("dynamodb", Fault::ThrottlingException) => (
            400,
            "application/x-amz-json-1.0",
            None,
            r#"{"__type":"com.amazon.coral.availability#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#.to_string(),
        ),
        ("dynamodb", Fault::TransactionConflict) => (
            400,
            "application/x-amz-json-1.0",
            None,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionConflictException","message":"Transaction is ongoing for the item"}"#.to_string(),
        ),
        ("dynamodb", Fault::ServerError(status)) => (
            status,
            "application/x-amz-json-1.0",
            None,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}"#
                .to_string(),
        ),
        ("sns", Fault::ServerError(status)) => (status, "text/xml", None, sns_error("Receiver", "InternalError")),
        ("sns", Fault::Refuse) => (400, "text/xml", None, sns_error("Sender", "InvalidParameter")),
        ("sns", _) => (400, "text/xml", None, sns_error("Sender", "Throttling")),
        ("sesv2", Fault::ServerError(status)) => {
            (status, "application/json", Some("InternalFailure"), r#"{"message":"internal failure"}"#.to_string())
        }
        (_, Fault::ServerError(status)) => (status, "application/json", None, "{}".to_string()),
        _ => (429, "application/json", Some("TooManyRequestsException"), r#"{"message":"Too many requests"}"#.to_string()),
    };
    let mut response = HttpResponse::new(status.try_into().expect("a valid status"), SdkBody::from(body));
    response.headers_mut().insert("content-type", content_type);
    if let Some(error_type) = error_type {
        response.headers_mut().insert("x-amzn-errortype", error_type);
    }
    response
}

/// DynamoDB's cancellation of a transaction of `items` items whose first met another
/// transaction (its reasons in item order).
fn conflict_response(items: usize) -> HttpResponse {
    let mut reasons =
        vec![serde_json::json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"})];
    reasons.extend((1..items).map(|_| serde_json::json!({"Code": "None"})));
    let codes: Vec<&str> = reasons.iter().map(|r| r["Code"].as_str().unwrap_or("None")).collect();
    let body = serde_json::json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", codes.join(", ")),
        "CancellationReasons": reasons,
    });
    let mut response = HttpResponse::new(400u16.try_into().expect("a valid status"), SdkBody::from(body.to_string()));
    response.headers_mut().insert("content-type", "application/x-amz-json-1.0");
    response
}

fn sns_error(kind: &str, code: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>{kind}</Type>\
         <Code>{code}</Code><Message>injected fault</Message></Error><RequestId>fault</RequestId></ErrorResponse>"
    )
}

/// SDK configuration pointed at moto, like `sdk_config`, whose calls meet the faults of the
/// returned `Faults` (none until a test injects some). Each call has its own faults, so
/// parallel tests do not disturb each other.
pub async fn faulty_sdk_config() -> (SdkConfig, Faults) {
    let faults = Faults::default();
    let client = FaultyClient { inner: crate::http_client(), faults: faults.clone() };
    (crate::moto_loader().http_client(client).load().await, faults)
}
