//! DynamoDB building blocks: attribute helpers, transactions with their cancellation
//! reasons, and an atomic windowed counter (rate limits and failure caps).
//!
//! Every invariant is a condition expression evaluated by DynamoDB, never a read followed by
//! a write, so it holds under any number of concurrent requests.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use crate::schema::{COUNT, PK, SK, TTL, WINDOW_SK, WINDOW_START, expression};

pub type Item = HashMap<String, AttributeValue>;

/// What a failed call came from: the SDK's error as it was (request id, code, HTTP answer),
/// or a cancelled transaction's reason.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// How many times a write is tried while it collides with concurrent writes to its items or
/// guessed a window wrong (one more try per window): enough for a few concurrent writers on
/// one item to take turns, and 8 back-offs of at most 40 ms stay far inside the function's
/// deadline. Past it, `Contention` (503): the caller's retry is the better back-off.
pub const MAX_WRITE_ATTEMPTS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    // The cause's whole context in the message: the SDK's own Display says only "service
    // error", and handlers log this message.
    #[error("DynamoDB call failed: {}", DisplayErrorContext(.0.as_ref()))]
    Aws(#[source] Cause),
    /// Throttled, a 5xx, a timeout or no connection, after the SDK's own retries: the
    /// request was sound and may pass later (503 and `Retry-After`, not 500).
    #[error("DynamoDB unavailable: {}", DisplayErrorContext(.0.as_ref()))]
    Unavailable(#[source] Cause),
    #[error("DynamoDB request could not be built: {0}")]
    Build(#[from] BuildError),
    #[error("too much contention on one item; try again")]
    Contention,
    #[error("stored item is malformed: {0}")]
    Malformed(&'static str),
}

impl StoreError {
    /// A failed SDK call, told apart by whether trying again later may pass: throttling,
    /// 5xx answers, timeouts and connection failures are `Unavailable`; anything else (a
    /// validation error, a missing table, denied access) is a fault of ours, `Aws`.
    pub fn sdk<E>(err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let transient = match &err {
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(context) => {
                context.raw().status().is_server_error() || context.err().code().is_some_and(is_throttling)
            }
            _ => false,
        };
        if transient { Self::Unavailable(err.into()) } else { Self::Aws(err.into()) }
    }

    /// Whether trying again later may pass: contention, and an unavailable DynamoDB
    /// (throttled, 5xx, unreachable); anything else is a fault of ours.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Contention | Self::Unavailable(_))
    }
}

/// A transaction DynamoDB cancelled for a reason other than a condition or a conflict, on
/// one of its items: the reason's code.
#[derive(Debug, thiserror::Error)]
#[error("transaction cancelled: {0}")]
pub struct Cancelled(pub String);

/// DynamoDB's throttling error codes (of a call, or of one item of a cancelled transaction).
fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "ProvisionedThroughputExceededException"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "ThrottlingError"
            | "ProvisionedThroughputExceeded"
    )
}

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

pub fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

pub fn get_b<'a>(item: &'a Item, name: &str) -> Option<&'a [u8]> {
    item.get(name).and_then(|v| v.as_b().ok()).map(|b| b.as_ref())
}

pub fn key(pk: &str, sk: &str) -> Item {
    HashMap::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))])
}

/// Why one item of a cancelled transaction was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Its condition was false; the item as it was, when it existed.
    Condition(Option<Item>),
    /// Another transaction touched it at the same moment: retrying may pass.
    Conflict,
    Other(String),
}

/// A cancellation for a reason other than a condition or a conflict (throttling, a
/// validation error) is a failure of the call, whatever the other items' reasons.
pub fn fail_on_other(reasons: &[Option<Refusal>]) -> Result<(), StoreError> {
    match reasons.iter().flatten().find(|r| matches!(r, Refusal::Other(_))) {
        Some(Refusal::Other(code)) if is_throttling(code) => Err(StoreError::Unavailable(cancelled(code))),
        Some(Refusal::Other(code)) => Err(StoreError::Aws(cancelled(code))),
        _ => Ok(()),
    }
}

fn cancelled(code: &str) -> Cause {
    Box::new(Cancelled(code.to_string()))
}

/// `Ok(None)`: written. `Ok(Some(reasons))`: cancelled, one entry per item (`None` = that
/// item was fine).
pub async fn transact(
    client: &Client,
    items: Vec<TransactWriteItem>,
) -> Result<Option<Vec<Option<Refusal>>>, StoreError> {
    match client.transact_write_items().set_transact_items(Some(items)).send().await {
        Ok(_) => Ok(None),
        Err(err) => match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => Ok(Some(
                cancelled
                    .cancellation_reasons()
                    .iter()
                    .map(|reason| match reason.code() {
                        None | Some("None") => None,
                        Some("ConditionalCheckFailed") => Some(Refusal::Condition(reason.item().cloned())),
                        Some("TransactionConflict") => Some(Refusal::Conflict),
                        Some(other) => Some(Refusal::Other(other.to_string())),
                    })
                    .collect(),
            )),
            _ => Err(StoreError::sdk(err)),
        },
    }
}

/// An atomic counter of events in a window that opens with the first event and lasts
/// `interval_ms`: "at most `max` events per window" (see `docs/table.md`).
#[derive(Debug, Clone)]
pub struct Window {
    pub table: String,
    pub pk: String,
    pub max: u32,
    pub interval_ms: u64,
}

/// What the stored window says at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowState {
    /// No window is open: the next event opens one.
    Closed,
    Open {
        count: u32,
        /// When it opened (epoch ms).
        start: u64,
    },
}

impl Window {
    pub fn new(table: impl Into<String>, pk: impl Into<String>, max: u32, interval_ms: u64) -> Self {
        Self { table: table.into(), pk: pk.into(), max, interval_ms }
    }

    /// After the window closes, for the clock of DynamoDB's TTL against ours: the window
    /// must still be there whenever this process can take it for open.
    const TTL_MARGIN_S: u64 = 60;

    fn cutoff(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.interval_ms)
    }

    fn ttl(&self, now_ms: u64) -> u64 {
        (now_ms + self.interval_ms) / 1000 + Self::TTL_MARGIN_S
    }

    pub fn key(&self) -> Item {
        key(&self.pk, WINDOW_SK)
    }

    pub fn state(&self, item: Option<&Item>, now_ms: u64) -> WindowState {
        let start = item.and_then(|item| get_n::<u64>(item, WINDOW_START));
        match (item, start) {
            (Some(item), Some(start)) if start > self.cutoff(now_ms) => {
                WindowState::Open { count: get_n(item, COUNT).unwrap_or(0), start }
            }
            _ => WindowState::Closed,
        }
    }

    /// Opens a new window with this event; refused while a window is open.
    pub fn open(&self, now_ms: u64) -> Result<Update, StoreError> {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(self.key()))
            .update_expression(expression!("SET {WINDOW_START} = :now, {COUNT} = :one, #ttl = :ttl"))
            .condition_expression(expression!("attribute_not_exists({PK}) OR {WINDOW_START} <= :cutoff"))
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", n(self.ttl(now_ms)))
            .expression_attribute_values(":cutoff", n(self.cutoff(now_ms)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::from)
    }

    /// Counts this event in the open window; refused when none is open or it is full.
    pub fn increment(&self, now_ms: u64) -> Result<Update, StoreError> {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(self.key()))
            .update_expression(expression!("SET {COUNT} = {COUNT} + :one"))
            .condition_expression(expression!("{WINDOW_START} > :cutoff AND {COUNT} < :max"))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":cutoff", n(self.cutoff(now_ms)))
            .expression_attribute_values(":max", n(self.max))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::from)
    }

    /// Passes while the window is not full.
    pub fn not_full(&self, now_ms: u64) -> Result<ConditionCheck, StoreError> {
        ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(self.key()))
            .condition_expression(expression!(
                "attribute_not_exists({PK}) OR {WINDOW_START} <= :cutoff OR {COUNT} < :max"
            ))
            .expression_attribute_values(":cutoff", n(self.cutoff(now_ms)))
            .expression_attribute_values(":max", n(self.max))
            .build()
            .map_err(StoreError::from)
    }
}

/// Where this process last saw each window open. A window's count is "open it" or "count in
/// it", and a transaction must name one; a refusal returns the window, and the retry is
/// right, at the price of a second call. This remembers the answer, so the next event for the
/// same key in a warm container (a resend, a second code) guesses right at once. Only a
/// guess: the conditions decide, and a stale hint costs the retry it would have saved.
#[derive(Debug, Default)]
pub struct WindowHints(std::sync::Mutex<HashMap<String, u64>>);

/// Bounds the memory of a long-lived container: past it, the hints start over.
const MAX_HINTS: usize = 1024;

impl WindowHints {
    /// When `window` opened, if this process saw it open and it has not expired since.
    fn start(&self, window: &Window, now_ms: u64) -> Option<u64> {
        let hints = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        hints.get(&window.pk).copied().filter(|start| *start > window.cutoff(now_ms))
    }

    fn remember(&self, window: &Window, start: u64) {
        let mut hints = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if hints.len() >= MAX_HINTS && !hints.contains_key(&window.pk) {
            hints.clear();
        }
        hints.insert(window.pk.clone(), start);
    }
}

/// How a transaction that counts one event in some windows ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Counted {
    Written,
    /// The window at this index is full: nothing was written.
    WindowFull(usize),
    /// The condition of `others[index]` was false (with the item as it was, when asked for).
    Refused {
        index: usize,
        item: Option<Item>,
    },
}

/// Writes `others` in one transaction that also counts one event in each window, choosing
/// for each window between opening a new one and counting in the open one: first from
/// `hints`, then from what a refusal returns. The counts are exact under races whatever the
/// guess; a right guess makes it one call.
pub async fn transact_counting(
    client: &Client,
    windows: &[Window],
    others: &[TransactWriteItem],
    hints: &WindowHints,
    now_ms: u64,
) -> Result<Counted, StoreError> {
    // For each window: when it opened, if it is taken to be open (then the event counts in it).
    let mut starts: Vec<Option<u64>> = windows.iter().map(|w| hints.start(w, now_ms)).collect();
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let mut items = Vec::with_capacity(windows.len() + others.len());
        for (window, start) in windows.iter().zip(&starts) {
            items.push(update_item(match start {
                Some(_) => window.increment(now_ms)?,
                None => window.open(now_ms)?,
            }));
        }
        items.extend(others.iter().cloned());
        let Some(reasons) = transact(client, items).await? else {
            for (window, start) in windows.iter().zip(&starts) {
                hints.remember(window, start.unwrap_or(now_ms));
            }
            return Ok(Counted::Written);
        };
        let reason = |i: usize| reasons.get(i).cloned().flatten();
        fail_on_other(&reasons)?;
        for index in 0..others.len() {
            if let Some(Refusal::Condition(item)) = reason(windows.len() + index) {
                return Ok(Counted::Refused { index, item });
            }
        }
        let mut conflict = false;
        for (i, window) in windows.iter().enumerate() {
            match reason(i) {
                Some(Refusal::Condition(old)) => match window.state(old.as_ref(), now_ms) {
                    WindowState::Closed => starts[i] = None,
                    WindowState::Open { count, start } if count < window.max => starts[i] = Some(start),
                    WindowState::Open { start, .. } => {
                        hints.remember(window, start);
                        return Ok(Counted::WindowFull(i));
                    }
                },
                Some(_) => conflict = true,
                None => {}
            }
        }
        if conflict || reasons.iter().all(Option::is_none) {
            backoff().await;
        }
    }
    Err(StoreError::Contention)
}

/// A short random pause before retrying a conflicting transaction.
pub async fn backoff() {
    use rand::Rng;
    let ms = rand::rng().random_range(5..40);
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

/// Runs a single-item write again while it collides with a transaction on the same item
/// (`TransactionConflictException`, which the SDK does not retry by itself).
pub async fn retry_conflicts<T, F, Fut>(mut write: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, SdkError<UpdateItemError, HttpResponse>>>,
{
    for _ in 0..MAX_WRITE_ATTEMPTS {
        match write().await {
            Ok(value) => return Ok(value),
            Err(err) if conflicted(&err) => backoff().await,
            Err(other) => return Err(StoreError::sdk(other)),
        }
    }
    Err(StoreError::Contention)
}

/// Sends a conditional `UpdateItem` (again while it collides with a transaction): `false`
/// when its condition refused it, which callers of this take as "nothing to do". Its own
/// loop, not `retry_conflicts`: one async layer fewer keeps the functions' futures within the
/// compiler's layout depth (the stream sender's overflowed it).
pub async fn update_unless_refused(
    request: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
) -> Result<bool, StoreError> {
    for _ in 0..MAX_WRITE_ATTEMPTS {
        match request.clone().send().await {
            Ok(_) => return Ok(true),
            Err(err) if condition_failed(&err) => return Ok(false),
            Err(err) if conflicted(&err) => backoff().await,
            Err(err) => return Err(StoreError::sdk(err)),
        }
    }
    Err(StoreError::Contention)
}

/// Whether an `UpdateItem` collided with a transaction on the same item.
fn conflicted(err: &SdkError<UpdateItemError, HttpResponse>) -> bool {
    matches!(err.as_service_error(), Some(UpdateItemError::TransactionConflictException(_)))
}

/// Whether an `UpdateItem` was refused by its condition.
pub fn condition_failed(err: &SdkError<UpdateItemError, HttpResponse>) -> bool {
    matches!(err.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_)))
}

pub fn update_item(update: Update) -> TransactWriteItem {
    TransactWriteItem::builder().update(update).build()
}

pub fn check_item(check: ConditionCheck) -> TransactWriteItem {
    TransactWriteItem::builder().condition_check(check).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cancellation(cause: &Cause) -> &str {
        cause.downcast_ref::<Cancelled>().map_or("", |c| c.0.as_str())
    }

    fn window() -> Window {
        Window::new("t", "RATE#x", 3, 10_000)
    }

    fn item(ws: u64, cnt: u32) -> Item {
        HashMap::from([(WINDOW_START.to_string(), n(ws)), (COUNT.to_string(), n(cnt))])
    }

    #[test]
    fn when_window_started_before_the_interval_should_be_closed() {
        let w = window();
        assert_eq!(w.state(None, 50_000), WindowState::Closed);
        assert_eq!(w.state(Some(&item(40_000, 3)), 50_000), WindowState::Closed);
        assert_eq!(w.state(Some(&item(40_001, 3)), 50_000), WindowState::Open { count: 3, start: 40_001 });
    }

    #[test]
    fn when_a_transaction_is_cancelled_for_another_reason_should_fail_the_call() {
        assert!(fail_on_other(&[None, Some(Refusal::Condition(None)), Some(Refusal::Conflict)]).is_ok());
        let err = fail_on_other(&[Some(Refusal::Condition(None)), Some(Refusal::Other("ValidationError".into()))]);
        assert!(matches!(err, Err(StoreError::Aws(cause)) if cancellation(&cause) == "ValidationError"));
    }

    #[test]
    fn when_a_transaction_item_was_throttled_should_be_unavailable_not_internal() {
        let err = fail_on_other(&[None, Some(Refusal::Other("ThrottlingError".into()))]);
        assert!(matches!(err, Err(StoreError::Unavailable(cause)) if cancellation(&cause) == "ThrottlingError"));
    }

    #[test]
    fn when_a_window_was_seen_open_should_hint_it_until_it_expires() {
        let (w, hints) = (window(), WindowHints::default());
        assert_eq!(hints.start(&w, 50_000), None);
        hints.remember(&w, 45_000);
        assert_eq!(hints.start(&w, 50_000), Some(45_000));
        assert_eq!(hints.start(&w, 55_000), None, "expired: the next event opens a new window");
        let other = Window { pk: "RATE#y".into(), ..window() };
        assert_eq!(hints.start(&other, 50_000), None);
    }
}
