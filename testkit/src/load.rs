//! A DynamoDB that behaves like DynamoDB under load (issue 24, item 3), in process, on tokio's
//! clock: run under a paused clock (`#[tokio::test(start_paused = true)]`), simulated seconds
//! cost no real time. moto serves one request at a time, so transactions never overlap there;
//! here they do, by the rules DynamoDB documents:
//! - a transaction holds its items for a sampled service time (lognormal, median 10 ms, p99
//!   25 ms by default); one that touches a held item is cancelled with `TransactionConflict`
//!   at that item's position (`None` at the others), and a single-item write to a held item
//!   gets `TransactionConflictException`;
//! - every item and every partition (items spread over `partitions` by their `pk`) has a
//!   budget of 1,000 write units a second, a transactional write costing 2 a item (items of
//!   up to 1 KB); a write past a budget is refused, `ThrottlingError` at its position in a
//!   transaction, `ThrottlingException` alone;
//! - conditions are evaluated and writes applied atomically at commit, by `FakeAws` (its
//!   conditions on), so counters count and limits hold as in DynamoDB.
//!
//! Reads pass straight through. What it counts is in `LoadStats`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::aws_calls::operation;
use crate::fake_aws::FakeAws;

/// DynamoDB's per-item and per-partition write throughput (write units a second).
pub const WRITE_UNITS_PER_SECOND: f64 = 1000.0;

/// How the stand-in behaves; `Default` is the issue's model.
#[derive(Clone, Copy, Debug)]
pub struct LoadRules {
    /// Median and 99th percentile of a transaction's service time (lognormal).
    pub median: Duration,
    pub p99: Duration,
    /// Partitions the table's items spread over (by a hash of `pk`).
    pub partitions: u32,
}

impl Default for LoadRules {
    fn default() -> Self {
        Self { median: Duration::from_millis(10), p99: Duration::from_millis(25), partitions: 64 }
    }
}

/// What the stand-in saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadStats {
    pub transactions: u64,
    pub committed: u64,
    /// Cancelled by a held item (each transaction once).
    pub conflicts: u64,
    /// Refused by an item's or a partition's budget.
    pub throttled: u64,
    /// Single-item writes refused with `TransactionConflictException`.
    pub single_conflicts: u64,
    /// The most write units one item took in one second of the clock (whole seconds from the
    /// stand-in's start): how hot the hottest item ran.
    pub peak_item_units: u64,
}

/// A token bucket of write units, refilled continuously, holding at most a second's worth.
#[derive(Debug, Clone, Copy)]
struct Budget {
    units: f64,
    at: Instant,
    /// Units taken in the second `second` (for `LoadStats::peak_item_units`).
    second: u64,
    used: u64,
}

impl Budget {
    fn take(&mut self, units: f64, now: Instant) -> bool {
        let refill = now.duration_since(self.at).as_secs_f64() * WRITE_UNITS_PER_SECOND;
        self.units = (self.units + refill).min(WRITE_UNITS_PER_SECOND);
        self.at = now;
        if self.units < units {
            return false;
        }
        self.units -= units;
        true
    }
}

#[derive(Debug)]
struct State {
    start: Instant,
    /// The item behind `LoadStats::peak_item_units`.
    hottest: String,
    /// Items held by a transaction in flight: item key -> until.
    held: HashMap<String, Instant>,
    items: HashMap<String, Budget>,
    partitions: HashMap<u32, Budget>,
    stats: LoadStats,
}

/// The stand-in; clones share it. Use it as the SDK's HTTP client (`sdk_config`).
#[derive(Clone, Debug)]
pub struct LoadDynamo {
    fake: FakeAws,
    rules: LoadRules,
    state: Arc<Mutex<State>>,
}

impl LoadDynamo {
    pub fn new(rules: LoadRules) -> Self {
        let fake = FakeAws::default();
        fake.check_conditions(true);
        let state = State {
            start: Instant::now(),
            hottest: String::new(),
            held: HashMap::new(),
            items: HashMap::new(),
            partitions: HashMap::new(),
            stats: LoadStats::default(),
        };
        Self { fake, rules, state: Arc::new(Mutex::new(state)) }
    }

    pub fn stats(&self) -> LoadStats {
        self.state().stats
    }

    /// The key (`pk|sk`) of the item that took `LoadStats::peak_item_units`.
    pub fn hottest_item(&self) -> String {
        self.state().hottest.clone()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A sampled service time: lognormal with the rules' median and 99th percentile.
    fn service_time(&self) -> Duration {
        use rand::Rng;
        let (median, p99) = (self.rules.median.as_secs_f64(), self.rules.p99.as_secs_f64());
        if median <= 0.0 {
            return Duration::ZERO;
        }
        let sigma = (p99 / median).ln() / 2.326;
        let mut rng = rand::rng();
        // Box-Muller: a standard normal from two uniforms.
        let (u1, u2): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        Duration::from_secs_f64(median * (sigma * z).exp())
    }

    fn partition(&self, key: &str) -> u32 {
        use std::hash::{Hash, Hasher};
        let pk = key.split('|').next().unwrap_or_default();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        pk.hash(&mut hasher);
        (hasher.finish() % u64::from(self.rules.partitions.max(1))) as u32
    }

    /// Takes `units` from the item's and its partition's budgets, both or neither.
    fn charge(&self, state: &mut State, key: &str, units: f64, now: Instant) -> bool {
        let fresh = Budget { units: WRITE_UNITS_PER_SECOND, at: now, second: 0, used: 0 };
        let mut item = *state.items.get(key).unwrap_or(&fresh);
        let partition = self.partition(key);
        let mut part = *state.partitions.get(&partition).unwrap_or(&fresh);
        if !(item.take(units, now) && part.take(units, now)) {
            return false;
        }
        let second = now.duration_since(state.start).as_secs();
        if item.second != second {
            (item.second, item.used) = (second, 0);
        }
        item.used += units as u64;
        if item.used > state.stats.peak_item_units {
            state.stats.peak_item_units = item.used;
            state.hottest = key.to_string();
        }
        state.items.insert(key.to_string(), item);
        state.partitions.insert(partition, part);
        true
    }

    fn call_async(&self, request: HttpRequest) -> HttpConnectorFuture {
        let op = operation(&request);
        let input: Value = serde_json::from_slice(request.body().bytes().unwrap_or_default()).unwrap_or_default();
        let this = self.clone();
        match op.as_str() {
            "dynamodb:TransactWriteItems" => {
                HttpConnectorFuture::new(async move { Ok(this.transact(&request, &input).await) })
            }
            "dynamodb:UpdateItem" | "dynamodb:PutItem" | "dynamodb:DeleteItem" => {
                HttpConnectorFuture::ready(Ok(this.single(&request, &input)))
            }
            _ => HttpConnectorFuture::ready(Ok(this.fake.answer_request(&request))),
        }
    }

    async fn transact(&self, request: &HttpRequest, input: &Value) -> HttpResponse {
        let keys: Vec<String> = input["TransactItems"]
            .as_array()
            .map(|items| items.iter().filter_map(|w| w.as_object()?.values().next()).map(write_key).collect())
            .unwrap_or_default();
        let hold = self.service_time();
        {
            let now = Instant::now();
            let mut state = self.state();
            state.stats.transactions += 1;
            state.held.retain(|_, until| *until > now);
            let held: Vec<bool> = keys.iter().map(|k| state.held.contains_key(k)).collect();
            if held.contains(&true) {
                state.stats.conflicts += 1;
                return cancelled(held.iter().map(|h| h.then_some("TransactionConflict")));
            }
            let mut budgets = Vec::new();
            for key in &keys {
                budgets.push(self.charge(&mut state, key, 2.0, now));
            }
            if budgets.contains(&false) {
                state.stats.throttled += 1;
                return cancelled(budgets.iter().map(|ok| (!ok).then_some("ThrottlingError")));
            }
            for key in &keys {
                state.held.insert(key.clone(), now + hold);
            }
        }
        tokio::time::sleep(hold).await;
        // Conditions and writes at commit, all at once (the fake holds its own lock).
        let response = self.fake.answer_request(request);
        let mut state = self.state();
        for key in &keys {
            state.held.remove(key);
        }
        if response.status().as_u16() == 200 {
            state.stats.committed += 1;
        }
        response
    }

    fn single(&self, request: &HttpRequest, input: &Value) -> HttpResponse {
        let key = write_key(input);
        let now = Instant::now();
        {
            let mut state = self.state();
            if state.held.get(&key).is_some_and(|until| *until > now) {
                state.stats.single_conflicts += 1;
                return error(
                    "com.amazonaws.dynamodb.v20120810#TransactionConflictException",
                    "Transaction is ongoing for the item",
                );
            }
            if !self.charge(&mut state, &key, 1.0, now) {
                state.stats.throttled += 1;
                return error("com.amazon.coral.availability#ThrottlingException", "Throughput exceeds the limit");
            }
        }
        self.fake.answer_request(request)
    }
}

/// `pk|sk` of a write (a `Put`'s item, or an update's, check's or delete's key).
fn write_key(write: &Value) -> String {
    let key = if write["Item"].is_object() { &write["Item"] } else { &write["Key"] };
    format!("{}|{}", key["pk"], key["sk"])
}

fn cancelled<'a>(codes: impl Iterator<Item = Option<&'a str>>) -> HttpResponse {
    let reasons: Vec<Value> = codes.map(|code| json!({ "Code": code.unwrap_or("None") })).collect();
    let listed: Vec<&str> = reasons.iter().map(|r| r["Code"].as_str().unwrap_or("None")).collect();
    let body = json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", listed.join(", ")),
        "CancellationReasons": reasons,
    });
    respond(400, body)
}

fn error(kind: &str, message: &str) -> HttpResponse {
    respond(400, json!({ "__type": kind, "message": message }))
}

/// A DynamoDB JSON answer (shared with `scripted`).
pub(crate) fn respond(status: u16, body: Value) -> HttpResponse {
    let mut response = HttpResponse::new(status.try_into().expect("a valid status"), SdkBody::from(body.to_string()));
    response.headers_mut().insert("content-type", "application/x-amz-json-1.0");
    response
}

impl HttpClient for LoadDynamo {
    fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

impl HttpConnector for LoadDynamo {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        self.call_async(request)
    }
}

/// SDK configuration whose calls go to `stand_in`, with one attempt a call (the code under
/// test meets each conflict and throttle itself; the SDK's own retries would hide them).
pub async fn sdk_config(stand_in: &LoadDynamo) -> aws_config::SdkConfig {
    crate::loader("http://load.invalid")
        .http_client(stand_in.clone())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .load()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

    fn update(pk: &str) -> TransactWriteItem {
        let update = Update::builder()
            .table_name("t")
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S("WINDOW".into()))
            .update_expression("ADD cnt :one")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .build()
            .expect("an update");
        TransactWriteItem::builder().update(update).build()
    }

    async fn client(rules: LoadRules) -> (aws_sdk_dynamodb::Client, LoadDynamo) {
        let stand_in = LoadDynamo::new(rules);
        (aws_sdk_dynamodb::Client::new(&sdk_config(&stand_in).await), stand_in)
    }

    fn reasons(
        err: &aws_sdk_dynamodb::error::SdkError<
            aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
            aws_smithy_runtime_api::client::orchestrator::HttpResponse,
        >,
    ) -> Vec<String> {
        match err.as_service_error() {
            Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(e)) => {
                e.cancellation_reasons().iter().map(|r| r.code().unwrap_or_default().to_string()).collect()
            }
            _ => vec![format!("{err:?}")],
        }
    }

    #[tokio::test(start_paused = true)]
    async fn when_two_transactions_overlap_on_one_item_should_cancel_exactly_one_at_that_item() {
        let (client, stand_in) = client(LoadRules::default()).await;
        let first = client.transact_write_items().transact_items(update("A")).transact_items(update("HOT")).send();
        let second = async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            client.transact_write_items().transact_items(update("B")).transact_items(update("HOT")).send().await
        };
        let (first, second) = tokio::join!(first, second);
        assert!(first.is_ok(), "{first:?}");
        assert_eq!(reasons(&second.unwrap_err()), ["None", "TransactionConflict"]);
        // A single-item write to an item a transaction holds meets the same conflict.
        let holding = client.transact_write_items().transact_items(update("HOT")).send();
        let single = async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            client
                .update_item()
                .table_name("t")
                .key("pk", AttributeValue::S("HOT".into()))
                .key("sk", AttributeValue::S("WINDOW".into()))
                .update_expression("ADD cnt :one")
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .send()
                .await
        };
        let (holding, single) = tokio::join!(holding, single);
        assert!(holding.is_ok());
        let err = single.unwrap_err();
        assert!(err.as_service_error().is_some_and(|e| e.is_transaction_conflict_exception()), "{err:?}");
        let stats = stand_in.stats();
        assert_eq!((stats.transactions, stats.committed, stats.conflicts, stats.single_conflicts), (3, 2, 1, 1));
        // Applied at commit: the two committed transactions and nothing else counted HOT.
        let got = client
            .get_item()
            .table_name("t")
            .key("pk", AttributeValue::S("HOT".into()))
            .key("sk", AttributeValue::S("WINDOW".into()))
            .send()
            .await
            .unwrap();
        assert_eq!(got.item().and_then(|i| i.get("cnt")), Some(&AttributeValue::N("2".into())));
    }

    #[tokio::test(start_paused = true)]
    async fn when_600_transactional_updates_a_second_hit_one_item_should_throttle_past_1000_units() {
        // No hold time: only the budget can refuse. 600 a second x 2 units = 1,200 units a
        // second against 1,000 (and a second's worth banked at the start): over 10 s, 12,000
        // units asked, 11,000 given.
        let rules = LoadRules { median: Duration::ZERO, p99: Duration::ZERO, ..LoadRules::default() };
        let (client, stand_in) = client(rules).await;
        let (mut throttled, mut sent) = (0, 0);
        // By absolute instants: tokio's timer counts whole milliseconds, so a sleep of
        // 1.67 ms is 2, while instants 1.67 ms apart keep the rate.
        let start = Instant::now();
        for n in 0..(600 * 10) {
            tokio::time::sleep_until(start + Duration::from_micros(n * 1_000_000 / 600)).await;
            sent += 1;
            if let Err(err) = client.transact_write_items().transact_items(update("ONE")).send().await {
                assert_eq!(reasons(&err), ["ThrottlingError"]);
                throttled += 1;
            }
        }
        let committed = sent - throttled;
        assert!((5_400..=5_500).contains(&committed), "committed {committed} of {sent}");
        assert_eq!(stand_in.stats().throttled, throttled);
        // Below the budget (400 a second = 800 units) nothing is refused.
        let (client, stand_in) = self::client(rules).await;
        let start = Instant::now();
        for n in 0..(400 * 5) {
            tokio::time::sleep_until(start + Duration::from_micros(n * 1_000_000 / 400)).await;
            client.transact_write_items().transact_items(update("ONE")).send().await.expect("within the budget");
        }
        assert_eq!(stand_in.stats().throttled, 0);
        // 400 transactional writes a second are 800 units an item-second: the peak says so.
        assert_eq!(stand_in.stats().peak_item_units, 800);
        assert!(stand_in.hottest_item().contains(r#""ONE""#), "{}", stand_in.hottest_item());
    }
}
