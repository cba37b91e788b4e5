//! Using a stored one-time code: consuming it, or counting a failed attempt against it and
//! against its destinations' failure locks. Shared by the three families.
//!
//! Families B and C store codes of one shape (`docs/table.md`): hash and key version, expiry,
//! failed attempts and their maximum, verified at, delivery state. Family A keeps its code
//! inside the user item, under other names, and passes its own updates.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{ConditionCheck, Update};

use crate::dynamo::{
    Item, MAX_WRITE_ATTEMPTS, Refusal, StoreError, Window, WindowState, backoff, check_item, fail_on_other, n, s,
    transact, update_item,
};
use crate::schema::{ATTEMPTS, DELIVERY, DeliveryState, EXPIRES_AT, MAX_ATTEMPTS, PK, VERIFIED_AT, expression};

#[derive(Debug, Clone, PartialEq)]
pub enum Consumed {
    Yes,
    /// A lock window (by index) is full: too many failures for a destination.
    Locked(usize),
    /// A gate window (by index) is full: too many failures by the caller. The window as stored.
    Gated {
        index: usize,
        item: Option<Item>,
    },
    /// The code changed since it was read (verified, attempts, expiry): read it again.
    Changed,
}

/// Marks a code verified, if it is still usable and none of `locks` and `gates` is full, and
/// applies `credits` (counters of verified codes), in one step.
pub async fn consume_code(
    client: &Client,
    table: &str,
    item_key: Item,
    locks: &[Window],
    gates: &[ConditionCheck],
    credits: &[Update],
    now_ms: u64,
) -> Result<Consumed, StoreError> {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(item_key))
        .update_expression(expression!("SET {VERIFIED_AT} = :now"))
        .condition_expression(expression!(
            "attribute_exists({PK}) AND attribute_not_exists({VERIFIED_AT}) AND {ATTEMPTS} < {MAX_ATTEMPTS} \
             AND {EXPIRES_AT} > :now AND {DELIVERY} <> :failed"
        ))
        .expression_attribute_values(":now", n(now_ms))
        .expression_attribute_values(":failed", s(DeliveryState::Failed.as_str()))
        .build()?;
    let mut items = locks.iter().map(|l| l.not_full(now_ms).map(check_item)).collect::<Result<Vec<_>, _>>()?;
    items.extend(gates.iter().cloned().map(check_item));
    items.push(update_item(update));
    items.extend(credits.iter().cloned().map(update_item));
    match transact(client, items).await? {
        None => Ok(Consumed::Yes),
        Some(reasons) => {
            fail_on_other(&reasons)?;
            if let Some(index) = reasons.iter().take(locks.len()).position(|r| matches!(r, Some(Refusal::Condition(_))))
            {
                return Ok(Consumed::Locked(index));
            }
            for (index, reason) in reasons.iter().skip(locks.len()).take(gates.len()).enumerate() {
                if let Some(Refusal::Condition(item)) = reason {
                    return Ok(Consumed::Gated { index, item: item.clone() });
                }
            }
            Ok(Consumed::Changed)
        }
    }
}

/// The update that counts one failed attempt on a code of the shared shape: refused once the
/// code is verified or used up.
pub fn failed_attempt(table: &str, item_key: Item) -> Result<Update, StoreError> {
    Update::builder()
        .table_name(table)
        .set_key(Some(item_key))
        .update_expression(expression!("SET {ATTEMPTS} = {ATTEMPTS} + :one"))
        .condition_expression(expression!(
            "attribute_exists({PK}) AND attribute_not_exists({VERIFIED_AT}) AND {ATTEMPTS} < {MAX_ATTEMPTS}"
        ))
        .expression_attribute_values(":one", n(1))
        .build()
        .map_err(StoreError::from)
}

#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// Counted on the code and on every lock; `locked`: a lock reached its limit with it.
    /// The code's new count is not returned (a transaction returns no values): callers
    /// report the count they read plus one, which concurrent failures on the same code can
    /// make an underestimate; the limit itself is enforced by the condition, exactly.
    Counted { locked: bool },
    /// The code was verified or used up since it was read: read it again.
    Changed,
    /// A gate window (by index) was already full: nothing was counted. The window as stored.
    Gated { index: usize, item: Option<Item> },
}

/// Which update a failure makes to one lock window. A transaction returns no values, so each
/// step is chosen to tell by its success alone whether the lock is now full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LockStep {
    /// Opens a new window: the count is now 1.
    Open,
    /// Counts in the open window while the count stays below the limit.
    Below,
    /// Counts past the limit (failures keep being counted while locked).
    Past,
}

impl LockStep {
    fn update(self, lock: &Window, now_ms: u64) -> Result<Update, StoreError> {
        match self {
            Self::Open => lock.open(now_ms),
            Self::Below => Window { max: lock.max.saturating_sub(1), ..lock.clone() }.increment(now_ms),
            Self::Past => Window { max: u32::MAX, ..lock.clone() }.increment(now_ms),
        }
    }

    /// Whether the lock is full once this step succeeded.
    fn locks(self, lock: &Window) -> bool {
        match self {
            Self::Open => lock.max <= 1,
            Self::Below => false,
            Self::Past => true,
        }
    }

    /// The step to try after a refusal that returned the window as it was.
    fn after(lock: &Window, old: Option<&Item>, now_ms: u64) -> Self {
        match lock.state(old, now_ms) {
            WindowState::Closed => Self::Open,
            WindowState::Open { count, .. } if count.saturating_add(1) < lock.max => Self::Below,
            WindowState::Open { .. } => Self::Past,
        }
    }
}

/// Whether the destinations' lock windows are likely open: a DynamoDB update cannot choose
/// between opening a window and counting in it, so the first try guesses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockGuess {
    /// The code has failed before: that failure opened the windows, unless a day has passed.
    LikelyOpen,
    LikelyClosed,
}

impl LockGuess {
    /// The guess for a code that has failed `attempts` times.
    pub fn after(attempts: u32) -> Self {
        if attempts > 0 { Self::LikelyOpen } else { Self::LikelyClosed }
    }
}

/// Counts one failed attempt: `attempt` (the code's own update, refused when the code is no
/// longer usable) and one event in each lock window, all in one transaction, so a code's
/// failures and its destinations' counts never disagree.
///
/// A lock window is either closed (the next failure opens it) or open (it counts): the first
/// try follows `guess`. A wrong guess costs one more call; the refusal returns the window, so
/// the second try is right.
///
/// `gates` count the failure too (the caller's failures, `guards::Guard::count_update`): one
/// that is already full refuses the whole step, so a caller over its limit spends none of the
/// code's attempts.
pub async fn count_failure(
    client: &Client,
    attempt: Update,
    locks: &[Window],
    gates: &[Update],
    guess: LockGuess,
    now_ms: u64,
) -> Result<Failure, StoreError> {
    let first = match guess {
        LockGuess::LikelyOpen => LockStep::Below,
        LockGuess::LikelyClosed => LockStep::Open,
    };
    let mut steps = vec![first; locks.len()];
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let mut items = vec![update_item(attempt.clone())];
        for (lock, step) in locks.iter().zip(&steps) {
            items.push(update_item(step.update(lock, now_ms)?));
        }
        items.extend(gates.iter().cloned().map(update_item));
        let Some(reasons) = transact(client, items).await? else {
            return Ok(Failure::Counted { locked: locks.iter().zip(&steps).any(|(lock, step)| step.locks(lock)) });
        };
        fail_on_other(&reasons)?;
        let reason = |i: usize| reasons.get(i).cloned().flatten();
        if let Some(Refusal::Condition(_)) = reason(0) {
            return Ok(Failure::Changed);
        }
        let mut conflict = matches!(reason(0), Some(Refusal::Conflict));
        for (i, lock) in locks.iter().enumerate() {
            match reason(i + 1) {
                Some(Refusal::Condition(old)) => steps[i] = LockStep::after(lock, old.as_ref(), now_ms),
                Some(_) => conflict = true,
                None => {}
            }
        }
        for index in 0..gates.len() {
            match reason(1 + locks.len() + index) {
                Some(Refusal::Condition(item)) => return Ok(Failure::Gated { index, item }),
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::schema::{COUNT, WINDOW_START};

    fn lock(max: u32) -> Window {
        Window::new("t", "FAIL#x", max, 10_000)
    }

    fn window(ws: u64, cnt: u32) -> Item {
        HashMap::from([(WINDOW_START.to_string(), n(ws)), (COUNT.to_string(), n(cnt))])
    }

    #[test]
    fn when_a_refused_lock_step_is_chosen_again_should_follow_the_window_returned() {
        let now = 50_000;
        assert_eq!(LockStep::after(&lock(3), None, now), LockStep::Open);
        assert_eq!(LockStep::after(&lock(3), Some(&window(40_000, 9)), now), LockStep::Open);
        assert_eq!(LockStep::after(&lock(3), Some(&window(45_000, 1)), now), LockStep::Below);
        assert_eq!(LockStep::after(&lock(3), Some(&window(45_000, 2)), now), LockStep::Past);
        assert_eq!(LockStep::after(&lock(3), Some(&window(45_000, 7)), now), LockStep::Past);
    }

    #[test]
    fn when_a_lock_step_succeeds_should_tell_whether_the_limit_is_reached() {
        // Below succeeds only while the count stays under the limit; Past only when it does not.
        assert!(!LockStep::Open.locks(&lock(3)) && LockStep::Open.locks(&lock(1)));
        assert!(!LockStep::Below.locks(&lock(3)) && LockStep::Past.locks(&lock(3)));
        let below = LockStep::Below.update(&lock(3), 50_000).unwrap();
        assert_eq!(below.expression_attribute_values().unwrap()[":max"], n(2));
    }
}
