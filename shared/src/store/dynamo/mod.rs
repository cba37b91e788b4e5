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

use crate::store::backoff::Backoff;

mod counting;
mod shards;

use crate::store::schema::{COUNT, PK, SK, TTL, WINDOW_SK, WINDOW_START, bucket_pk, expression};
pub use counting::{Counted, Sending, transact_counting};
pub use shards::{Shards, share};

pub type Item = HashMap<String, AttributeValue>;

/// What a failed call came from: the SDK's error as it was (request id, code, HTTP answer),
/// or a cancelled transaction's reason.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// How many times a write is tried while it collides with concurrent writes to its items or
/// guessed a window wrong (one more try per window): enough for a few concurrent writers on
/// one item to take turns; the pauses grow with full jitter (`backoff`: ~0.75 s for all 8 at
/// most), far inside the request's deadline. Past it, `Contention` (503): the caller's retry
/// is the better back-off.
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
    reasons_of(client.transact_write_items().set_transact_items(Some(items)).send().await)
}

/// What a `TransactWriteItems` answered: `None` when written, else each item's reason. Not an
/// `async fn` of its own: each async layer deepens every caller's future, and the compiler
/// bounds how deep a future's layout may go.
fn reasons_of<T>(
    result: Result<T, SdkError<TransactWriteItemsError, HttpResponse>>,
) -> Result<Option<Vec<Option<Refusal>>>, StoreError> {
    match result {
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

    /// Counts one send in one write, whatever the window's state. A window of one (the gap
    /// between two sends) opens only when none is open, so the spacing stays exact. A larger
    /// one counts in the fixed bucket of `interval_ms` that `now` falls in: there is no "open
    /// a window or count in the open one" to guess between (a wrong guess cost a second
    /// call), at the price of the bucket boundary, up to twice `max` across it, which an
    /// anchored window allows too (one event at its start, `max - 1` just before its end,
    /// `max` just after).
    pub fn count(&self, now_ms: u64) -> Result<Update, StoreError> {
        if self.max <= 1 {
            return self.open(now_ms);
        }
        let bucket_end_s = (now_ms / self.interval_ms + 1) * self.interval_ms / 1000;
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(&bucket_pk(&self.pk, self.interval_ms, now_ms, true), WINDOW_SK)))
            .update_expression(expression!("SET #ttl = if_not_exists(#ttl, :ttl) ADD {COUNT} :one"))
            .condition_expression(expression!("attribute_not_exists({COUNT}) OR {COUNT} < :max"))
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(self.max))
            .expression_attribute_values(":ttl", n(bucket_end_s + Self::TTL_MARGIN_S))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::from)
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
}

/// What an item of a send's transaction is there for: a cancellation names the item it
/// refused by this, never by its position, so reordering a plan cannot change what a refusal
/// means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// A check that a destination is not locked by failed verifications.
    Lock,
    /// The item the send writes: the OTP, the code, the user.
    Record,
    /// An item that only has to be new: an id's reservation, an OTP's watch.
    Reservation,
    /// An item written whatever its state (a destination's pointer to its latest code).
    Pointer,
    /// The count of the request's guard at this index (`guards::Guard`).
    Guard(usize),
    /// The `Idempotency-Key`'s record, or its check under another key version.
    Idempotency,
}

/// The items of one transaction, each with what it is there for, and the counts kept in
/// shards (`shards`): one item of each, picked when the transaction is written.
#[derive(Debug, Clone)]
pub struct Plan<S> {
    items: Vec<(S, TransactWriteItem)>,
    sharded: Vec<(S, Shards)>,
}

impl<S> Default for Plan<S> {
    fn default() -> Self {
        Self { items: Vec::new(), sharded: Vec::new() }
    }
}

impl<S: Copy + PartialEq> Plan<S> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, slot: S, item: TransactWriteItem) -> &mut Self {
        self.items.push((slot, item));
        self
    }

    /// Several items for one purpose (an `Idempotency-Key`'s record and its checks).
    pub fn push_all(&mut self, slot: S, items: impl IntoIterator<Item = TransactWriteItem>) -> &mut Self {
        self.items.extend(items.into_iter().map(|item| (slot, item)));
        self
    }

    /// A count kept in shards: each attempt writes one of them (`counting`).
    pub fn push_sharded(&mut self, slot: S, shards: Shards) -> &mut Self {
        self.sharded.push((slot, shards));
        self
    }

    /// This plan's items, then `other`'s.
    pub fn append(&mut self, other: Plan<S>) -> &mut Self {
        self.items.extend(other.items);
        self.sharded.extend(other.sharded);
        self
    }

    /// The slots, and the items as the SDK takes them: moved, not copied (an item holds maps
    /// of attribute values, and a request copies them once already, into its plan). A
    /// sharded count outside a counting transaction gets one try, at a shard picked at random.
    fn split(self) -> Result<(Vec<S>, Vec<TransactWriteItem>), StoreError> {
        let mut items = self.items;
        for (slot, shards) in self.sharded {
            items.push((slot, shards.count_in(shards.pick(None).unwrap_or(0))?));
        }
        Ok(items.into_iter().unzip())
    }
}

/// A cancelled transaction, read by slot.
#[derive(Debug, Clone, PartialEq)]
pub struct Cancellation<S> {
    /// Each item that had a reason, in the plan's order.
    reasons: Vec<(S, Refusal)>,
}

impl<S: Copy + PartialEq> Cancellation<S> {
    /// Pairs DynamoDB's reasons (one per item, in order) with the plan's slots; fails the
    /// call on a reason other than a condition or a conflict (`fail_on_other`).
    fn read(slots: impl Iterator<Item = S>, reasons: Vec<Option<Refusal>>) -> Result<Self, StoreError> {
        fail_on_other(&reasons)?;
        let reasons = slots.zip(reasons).filter_map(|(slot, reason)| reason.map(|r| (slot, r))).collect();
        Ok(Self { reasons })
    }

    /// Whether the condition of (an item of) `slot` was false; `Some(item as it was)` then.
    pub fn refused(&self, slot: S) -> Option<Option<&Item>> {
        self.reasons.iter().find_map(|(s, reason)| match reason {
            Refusal::Condition(item) if *s == slot => Some(item.as_ref()),
            _ => None,
        })
    }

    /// Whether no item of `slot` had a reason (neither refused nor in a conflict).
    pub fn is_clear(&self, slot: S) -> bool {
        !self.reasons.iter().any(|(s, _)| *s == slot)
    }

    /// Whether another transaction held (an item of) `slot`.
    pub fn conflicted(&self, slot: S) -> bool {
        self.reasons.iter().any(|(s, reason)| *s == slot && matches!(reason, Refusal::Conflict))
    }
}

/// Writes a planned transaction: `Ok(None)` when written, else what refused it, by slot.
pub async fn transact_plan<S: Copy + PartialEq>(
    client: &Client,
    plan: Plan<S>,
) -> Result<Option<Cancellation<S>>, StoreError> {
    let (slots, items) = plan.split()?;
    match reasons_of(client.transact_write_items().set_transact_items(Some(items)).send().await)? {
        None => Ok(None),
        Some(reasons) => Cancellation::read(slots.into_iter(), reasons).map(Some),
    }
}

/// Runs a single-item write again while it collides with a transaction on the same item
/// (`TransactionConflictException`, which the SDK does not retry by itself).
pub async fn retry_conflicts<T, F, Fut>(mut write: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, SdkError<UpdateItemError, HttpResponse>>>,
{
    let backoff = Backoff::new();
    for _ in 0..MAX_WRITE_ATTEMPTS {
        match write().await {
            Ok(value) => return Ok(value),
            Err(err) if conflicted(&err) => backoff.wait().await,
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
    let backoff = Backoff::new();
    for _ in 0..MAX_WRITE_ATTEMPTS {
        match request.clone().send().await {
            Ok(_) => return Ok(true),
            Err(err) if condition_failed(&err) => return Ok(false),
            Err(err) if conflicted(&err) => backoff.wait().await,
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

    #[test]
    fn when_a_window_counts_a_send_should_write_its_bucket_or_open_a_gap() {
        // A window of several sends counts in the fixed bucket `now` falls in (its length in the
        // key: a request's own interval never shares an item with another's).
        let rate = Window::new("t", "2FA#RATE#+905321234567", 3, 60_000).count(125_000).unwrap();
        assert_eq!(rate.key()["pk"], s("2FA#RATE#+905321234567#60#2"));
        assert_eq!(rate.condition_expression(), Some("attribute_not_exists(cnt) OR cnt < :max"));
        // A window of one (a gap) opens with its send, only when none is open: exact spacing.
        let gap = Window::new("t", "CNF#GAP#a@b.c", 1, 30_000).count(125_000).unwrap();
        assert_eq!(gap.key()["pk"], s("CNF#GAP#a@b.c"));
        assert_eq!(gap.condition_expression(), Some("attribute_not_exists(pk) OR ws <= :cutoff"));
    }

    #[test]
    fn when_a_cancellation_is_read_should_tell_each_slot_its_own_reason() {
        // Slots 0..3; item 0 passed, item 1's condition was false, item 2 met another transaction.
        let reasons = vec![None, Some(Refusal::Condition(None)), Some(Refusal::Conflict)];
        let read = Cancellation::read([0, 1, 2].into_iter(), reasons).unwrap();
        assert_eq!(
            [0, 1, 2].map(|slot| (read.is_clear(slot), read.refused(slot).is_some(), read.conflicted(slot))),
            [(true, false, false), (false, true, false), (false, false, true)],
            "a conflict at one slot is not another's, nor is a refusal a conflict"
        );
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
}
