//! A DynamoDB that answers `TransactWriteItems` from a script: written, or cancelled with the
//! given reason at each item, one answer per call, in order; and keeps every call's items. For
//! unit tests of a write loop (which shard it picks next, when it pauses, when it gives up),
//! where moto cannot be made to answer a given cancellation and the load stand-in only by
//! chance.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use serde_json::{Value, json};

use crate::load::respond;

/// One call's answer.
#[derive(Debug, Clone)]
pub enum Answer {
    Written,
    /// Cancelled: each item's reason code (`None`, `ConditionalCheckFailed`,
    /// `TransactionConflict`, `ThrottlingError`, ...), by position.
    Cancelled(Vec<&'static str>),
    /// Cancelled at the items whose key (`pk`) starts with the prefix, with this code; `None`
    /// at the others.
    CancelledAt(&'static str, &'static str),
}

/// Run before each call is answered (e.g. to make the code under test forget something).
type Hook = Arc<dyn Fn() + Send + Sync>;

/// The scripted DynamoDB; clones share it. Past the script, every call is written.
#[derive(Clone, Default)]
pub struct Scripted {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    calls: Arc<Mutex<Vec<Vec<String>>>>,
    hook: Option<Hook>,
}

impl std::fmt::Debug for Scripted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scripted").field("answers", &self.answers).field("calls", &self.calls).finish()
    }
}

impl Scripted {
    pub fn new(answers: impl IntoIterator<Item = Answer>) -> Self {
        Self { answers: Arc::new(Mutex::new(answers.into_iter().collect())), calls: Arc::default(), hook: None }
    }

    /// Runs `hook` before answering each call.
    pub fn on_call(self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        Self { hook: Some(Arc::new(hook)), ..self }
    }

    /// The keys (`pk`) of each call's items, in order.
    pub fn calls(&self) -> Vec<Vec<String>> {
        self.calls.lock().expect("calls").clone()
    }

    fn answer(&self, request: &HttpRequest) -> HttpResponse {
        if let Some(hook) = &self.hook {
            hook();
        }
        let input: Value = serde_json::from_slice(request.body().bytes().unwrap_or_default()).unwrap_or_default();
        let keys: Vec<String> = input["TransactItems"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|w| w.as_object()?.values().next())
                    .map(|w| {
                        let key = if w["Item"].is_object() { &w["Item"] } else { &w["Key"] };
                        key["pk"]["S"].as_str().unwrap_or_default().to_string()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let answer = self.answers.lock().expect("answers").pop_front().unwrap_or(Answer::Written);
        let codes: Vec<&str> = match answer {
            Answer::Written => Vec::new(),
            Answer::Cancelled(codes) => codes,
            Answer::CancelledAt(prefix, code) => {
                keys.iter().map(|k| if k.starts_with(prefix) { code } else { "None" }).collect()
            }
        };
        self.calls.lock().expect("calls").push(keys);
        if codes.is_empty() {
            return respond(200, json!({}));
        }
        let reasons: Vec<Value> = codes.iter().map(|code| json!({ "Code": code })).collect();
        respond(
            400,
            json!({
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "Message": format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", codes.join(", ")),
                "CancellationReasons": reasons,
            }),
        )
    }
}

impl HttpClient for Scripted {
    fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

impl HttpConnector for Scripted {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        HttpConnectorFuture::ready(Ok(self.answer(&request)))
    }
}

/// A DynamoDB client whose calls `scripted` answers, one attempt a call.
pub async fn client(scripted: &Scripted) -> aws_sdk_dynamodb::Client {
    let config = crate::loader("http://scripted.invalid")
        .http_client(scripted.clone())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&config)
}
