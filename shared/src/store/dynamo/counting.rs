//! The send's one transaction: the plan, a count in each of the destination's windows and a
//! shard of each sharded count, tried again while it loses races (`transact_counting`), and
//! what its cancellation means (`Counted`, `Sending`).

use aws_sdk_dynamodb::Client;

use super::{
    Cancellation, Item, MAX_WRITE_ATTEMPTS, Plan, Refusal, Slot, StoreError, Window, is_throttling, reasons_of,
    update_item,
};
use crate::store::backoff::Backoff;

/// How a transaction that counts one event in some windows ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Counted<S> {
    Written,
    /// The window at this index is full: nothing was written.
    WindowFull(usize),
    /// The condition of an item of the plan was false (with the item as it was, when asked
    /// for): the first such item in the plan's order.
    Refused {
        slot: S,
        item: Option<Item>,
    },
}

/// What a send's counting transaction means, whichever family sent: the same slots refuse
/// for the same reasons.
#[derive(Debug, Clone, PartialEq)]
pub enum Sending {
    Written,
    /// A destination's send window is full.
    WindowFull,
    /// A destination is locked by failed verifications.
    Locked,
    /// The request's guard at this index refused (with its bucket as stored).
    Guarded {
        guard: usize,
        item: Option<Item>,
    },
    /// The `Idempotency-Key`'s record exists (as stored): the key was used before.
    KeyTaken {
        item: Option<Item>,
    },
    /// The record, a reservation or a pointer refused (as it was): for an OTP or a code, its
    /// id is taken (draw new ones); a user says why itself.
    Taken {
        slot: Slot,
        item: Option<Item>,
    },
}

impl From<Counted<Slot>> for Sending {
    fn from(counted: Counted<Slot>) -> Self {
        match counted {
            Counted::Written => Self::Written,
            Counted::WindowFull(_) => Self::WindowFull,
            Counted::Refused { slot: Slot::Lock, .. } => Self::Locked,
            Counted::Refused { slot: Slot::Guard(guard), item } => Self::Guarded { guard, item },
            Counted::Refused { slot: Slot::Idempotency, item } => Self::KeyTaken { item },
            Counted::Refused { slot: slot @ (Slot::Record | Slot::Reservation | Slot::Pointer), item } => {
                Self::Taken { slot, item }
            }
        }
    }
}

/// What a counting transaction's item is: a window's count, or an item of the plan.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Counting<S> {
    Window(usize),
    Planned(S),
    /// The plan's sharded count at this index.
    Shard(usize),
}

/// Attempts that may meet a held shard, and nothing else held: twice `MAX_WRITE_ATTEMPTS`, so
/// that a burst that finds shard after shard held (its first pauses, of a few ms, are shorter
/// than a transaction's hold) still has the attempts of a lone conflict once it has spread
/// out. With the pauses capped at 250 ms, 16 attempts wait 2.75 s at most, inside the deadline.
const SHARD_CONFLICT_ATTEMPTS: usize = 2 * MAX_WRITE_ATTEMPTS;

/// Writes `plan` in one transaction that also counts one event in each window
/// (`Window::count`: one write per window whatever its state, so no guess and no second
/// call). The counts are exact under races: each is a condition. A refused item of the plan
/// is reported before a full window.
///
/// Each of the plan's sharded counts is written in one shard, picked at random among those
/// not known full (`shards`). A shard that refuses as full, conflicts or is throttled sends
/// the next attempt to another shard: a shared count never fails a request while another
/// shard can take it. The attempts are bounded: at most `MAX_WRITE_ATTEMPTS` with an item
/// other than a shard in conflict and `SHARD_CONFLICT_ATTEMPTS` with only shards (each after
/// a pause), and one per shard seen full (each remembered, so never twice). A sharded count is
/// refused once every shard is known full.
pub async fn transact_counting<S: Copy + PartialEq>(
    client: &Client,
    windows: &[Window],
    plan: &Plan<S>,
    now_ms: u64,
) -> Result<Counted<S>, StoreError> {
    let backoff = Backoff::new();
    let mut picks: Vec<Option<u32>> = vec![None; plan.sharded.len()];
    let mut full_items: Vec<Option<Item>> = vec![None; plan.sharded.len()];
    let mut full_seen: Vec<u32> = vec![0; plan.sharded.len()];
    let (mut contended, mut shard_contended) = (0, 0);
    while contended < MAX_WRITE_ATTEMPTS && shard_contended < SHARD_CONFLICT_ATTEMPTS {
        let mut counting = Plan::new();
        for (i, window) in windows.iter().enumerate() {
            counting.push(Counting::Window(i), update_item(window.count(now_ms)?));
        }
        counting.push_all_planned(plan);
        for (j, (slot, shards)) in plan.sharded.iter().enumerate() {
            // Every shard known full; or, as a bound should the memory ever fail to keep one,
            // as many full ones seen by this request as there are shards.
            let exhausted = full_seen[j] >= shards.count();
            let Some(shard) = shards.pick(picks[j]).filter(|_| !exhausted) else {
                return Ok(Counted::Refused { slot: *slot, item: full_items[j].take() });
            };
            picks[j] = Some(shard);
            counting.push(Counting::Shard(j), shards.count_in(shard)?);
        }
        let (slots, items) = counting.split()?;
        let written = client.transact_write_items().set_transact_items(Some(items)).send().await;
        let Some(reasons) = reasons_of(written)? else {
            return Ok(Counted::Written);
        };
        let cancellation = Cancellation::read(slots.iter().copied(), throttled_shards_conflict(&slots, reasons))?;
        if let Some(outcome) = counted(&cancellation) {
            return Ok(outcome);
        }
        let mut learnt = false;
        for (j, (_, shards)) in plan.sharded.iter().enumerate() {
            if let (Some(item), Some(shard)) = (cancellation.refused(Counting::Shard(j)), picks[j]) {
                shards.mark_full(shard);
                full_items[j] = item.cloned();
                full_seen[j] += 1;
                learnt = true;
            }
        }
        // A full shard is news, not contention: the next attempt goes to another at once. A
        // conflict anywhere (or a cancellation that taught nothing) pauses, growing with full
        // jitter: a burst that finds every shard it tries held spreads out instead of burning
        // its attempts in the same instant.
        let conflicted = |shard: bool| {
            let on_shard = |slot: &Counting<S>| matches!(slot, Counting::Shard(_));
            cancellation.reasons.iter().any(|(slot, r)| *r == Refusal::Conflict && on_shard(slot) == shard)
        };
        if conflicted(false) || !(learnt || conflicted(true)) {
            contended += 1;
            backoff.wait().await;
        } else if conflicted(true) {
            shard_contended += 1;
            backoff.wait().await;
        }
    }
    Err(StoreError::Contention)
}

/// A shard refused by its throughput (`ThrottlingError`) is another shard's chance, as a
/// conflict is; a throttle anywhere else fails the call (`fail_on_other`).
fn throttled_shards_conflict<S>(slots: &[Counting<S>], reasons: Vec<Option<Refusal>>) -> Vec<Option<Refusal>> {
    reasons
        .into_iter()
        .zip(slots)
        .map(|(reason, slot)| match (slot, reason) {
            (Counting::Shard(_), Some(Refusal::Other(code))) if is_throttling(&code) => Some(Refusal::Conflict),
            (_, reason) => reason,
        })
        .collect()
}

impl<S: Copy + PartialEq> Plan<Counting<S>> {
    fn push_all_planned(&mut self, plan: &Plan<S>) {
        self.items.extend(plan.items.iter().map(|(slot, item)| (Counting::Planned(*slot), item.clone())));
    }
}

/// What a cancelled counting transaction means; `None`: only conflicts, try again.
fn counted<S: Copy + PartialEq>(cancellation: &Cancellation<Counting<S>>) -> Option<Counted<S>> {
    let refused = |planned: bool| {
        cancellation.reasons.iter().find_map(|(slot, reason)| match (slot, reason) {
            (Counting::Planned(slot), Refusal::Condition(item)) if planned => {
                Some(Counted::Refused { slot: *slot, item: item.clone() })
            }
            (Counting::Window(i), Refusal::Condition(_)) if !planned => Some(Counted::WindowFull(*i)),
            _ => None,
        })
    };
    refused(true).or_else(|| refused(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_counting_transaction_is_cancelled_should_name_the_refused_slot_not_its_position() {
        let windows = [Counting::Window(0), Counting::Window(1)];
        let planned = [Slot::Lock, Slot::Record, Slot::Guard(0), Slot::Guard(1), Slot::Idempotency, Slot::Idempotency];
        let slots = windows.into_iter().chain(planned.map(Counting::Planned));
        let condition = || Some(Refusal::Condition(None));
        let read = |reasons: Vec<Option<Refusal>>| counted(&Cancellation::read(slots.clone(), reasons).unwrap());
        // The second idempotency item (a check under another key version) is still the key's.
        let mut reasons = vec![None; 8];
        reasons[7] = condition();
        assert_eq!(read(reasons.clone()), Some(Counted::Refused { slot: Slot::Idempotency, item: None }));
        // A guard before a full window; the first refused planned item wins.
        reasons[1] = condition();
        reasons[5] = condition();
        assert_eq!(read(reasons.clone()), Some(Counted::Refused { slot: Slot::Guard(1), item: None }));
        // A full window alone.
        let mut reasons = vec![None; 8];
        reasons[1] = condition();
        assert_eq!(read(reasons), Some(Counted::WindowFull(1)));
        // Conflicts only: try again.
        let mut reasons = vec![None; 8];
        reasons[3] = Some(Refusal::Conflict);
        assert_eq!(read(reasons), None);
        let cancellation = Cancellation::read(slots.clone(), {
            let mut reasons = vec![None; 8];
            reasons[3] = Some(Refusal::Conflict);
            reasons
        })
        .unwrap();
        assert!(cancellation.conflicted(Counting::Planned(Slot::Record)));
        assert!(cancellation.refused(Counting::Planned(Slot::Record)).is_none());
    }
}
