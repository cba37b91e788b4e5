//! Family A confirmation in one DynamoDB call when the code is right, two when it is wrong.
//!
//! The request carries the address and the code, and everything a confirmation touches is
//! keyed by them: the user, the address's failure lock (and the caller's failures). So the
//! first call is the whole confirmation: one transaction that confirms the user only if its
//! code's keyed hash equals the submitted code's (bound to the address; one term per active
//! key version) and the user is the one whose id the address derives (the success answer
//! names it, and a transaction returns nothing), with the lock "below the limit minus one"
//! and the caller not over its limit.
//!
//! When it is cancelled, DynamoDB returns the user and the buckets as they were (`ALL_OLD`),
//! and the answer is chosen from them in today's order (caller refused, unknown, confirmed, no
//! code, too many attempts, expired, wrong code), with no read. A wrong code (and an unknown
//! address, which must look the same) is counted in a second transaction. A user stored
//! before hashes bound the address, or whose id is not the derived one, is compared here from
//! the returned item (constant time) and consumed by its code's id: two calls, still no read.

use super::PURPOSE;
use super::service::{Signup, refused};
use super::store::{Confirmation, Refused, User};
use crate::domain::caller::Caller;
use crate::domain::email::EmailAddress;
use crate::domain::mask;
use crate::edge::Failure;
use crate::store::attempts::submitted_hashes;
use crate::store::backoff::Backoff;
use crate::store::dynamo::Item;
use crate::store::guards::Guard;
use crate::store::schema::UserStatus;

/// Rounds of "confirm, then count a wrong code" before answering busy: each round that does
/// not end lost a race to another request on the same user or lock.
const ROUNDS: usize = 8;

enum Round {
    Answer(Result<User, Failure>),
    Again,
}

/// What one confirmation works with.
struct Attempt<'a> {
    address: &'a str,
    code: &'a str,
    lock: Guard,
    gate: Option<Guard>,
    /// The caller's sends, credited by a confirmation (its codes convert).
    sends: Option<Guard>,
    /// The pauses of this confirmation's writes (its steps take turns on the same items).
    backoff: Backoff,
}

impl Signup {
    /// Every failed confirmation counts against the caller. An address that never asked for a
    /// code answers like a wrong code, after the same calls, so confirming does not tell which
    /// addresses have signed up.
    #[tracing::instrument(name = "signup_confirm", skip_all, fields(email = %crate::domain::mask::email(address.as_str())))]
    /// `test`: a test address, whose confirmation credits no caller's sends (no conversion).
    pub async fn confirm(
        &self,
        address: &EmailAddress,
        code: &str,
        caller: Option<&Caller>,
        test: bool,
    ) -> Result<User, Failure> {
        let address = address.as_str();
        let keys = &self.config.common.keys;
        let hashes = submitted_hashes(keys, PURPOSE, address, code);
        let user_id = keys.user_id(keys.current_version(), address).ok_or(Failure::Internal)?.to_string();
        let attempt = Attempt {
            address,
            code,
            lock: self.lock(address, test),
            gate: caller.map(|c| self.config.common.guards.caller_failures(self.store.table(), c)),
            sends: caller.filter(|_| !test).map(|c| self.config.common.guards.caller_sends(self.store.table(), c)),
            backoff: Backoff::new(),
        };
        let lock = &attempt.lock;
        // "Below the limit minus one": a wrong code then does not lock the address, so the
        // failure is counted without a guess. A right code at exactly limit - 1 checks again
        // against the limit itself.
        let mut below = lock.with_max(lock.max.saturating_sub(1).max(1));
        for _ in 0..ROUNDS {
            let now = self.clock.now_ms();
            let by_hash = Confirmation::ByHash { user_id: &user_id, hashes: &hashes };
            let cancelled = match self.transact_confirm(by_hash, &below, &attempt, now).await? {
                None => {
                    tracing::info!(email = %mask::email(address), "user confirmed");
                    return Ok(confirmed(user_id, address));
                }
                Some(cancelled) => cancelled,
            };
            match first_call(cancelled, lock.max) {
                First::Gated(item) => match &attempt.gate {
                    Some(gate) => return Err(refused(gate, item, now)),
                    None => attempt.backoff.wait().await,
                },
                First::UserRefused { old, lock_refused } => {
                    match self.refused_confirm(&attempt, old, lock_refused, now).await? {
                        Round::Answer(answer) => return answer,
                        Round::Again => continue,
                    }
                }
                First::Locked => {
                    tracing::warn!(email = %mask::email(address), "confirmation refused: address locked");
                    let gate = attempt.gate.as_ref();
                    return Err(self.failed(Failure::TooManyAttempts, gate, now).await);
                }
                First::AtLimit => below = lock.with_max(lock.max),
                First::Retry => attempt.backoff.wait().await,
            }
        }
        Err(Failure::Busy)
    }

    /// One confirming transaction: the user, the lock's check, the caller's, and the credit
    /// of the caller's sends (which never refuses).
    async fn transact_confirm(
        &self,
        confirmation: Confirmation<'_>,
        lock: &Guard,
        attempt: &Attempt<'_>,
        now: u64,
    ) -> Result<Option<Refused>, Failure> {
        let (gate, sends) = (attempt.gate.as_ref(), attempt.sends.as_ref());
        Ok(self.store.confirm(attempt.address, confirmation, lock, gate, sends, now).await?)
    }

    /// The user refused the confirmation: why, from the user as it was, in today's order.
    async fn refused_confirm(
        &self,
        attempt: &Attempt<'_>,
        old: Option<User>,
        lock_refused: bool,
        now: u64,
    ) -> Result<Round, Failure> {
        let gate = attempt.gate.as_ref();
        let Some(user) = old else {
            // Nobody asked for a code here: counted like a wrong code, on the address's lock
            // too, so the answer and the calls are a wrong code's.
            return self.count_failure(attempt, None, lock_refused, now).await;
        };
        let usable = match &user.code {
            _ if user.status == UserStatus::Confirmed => Err(Failure::AlreadyUsed),
            None => Err(Failure::Expired),
            Some(c) if c.attempts >= c.max_attempts => Err(Failure::TooManyAttempts),
            Some(c) if c.expires_ms <= now => Err(Failure::Expired),
            Some(c) => Ok(c),
        };
        let code = match usable {
            Ok(code) => code,
            Err(err) => return Ok(Round::Answer(Err(self.failed(err, gate, now).await))),
        };
        let keys = &self.config.common.keys;
        if keys.matches(code.key_version, PURPOSE, code.binding(attempt.address), attempt.code, &code.hash) {
            // Usable and matching, yet refused: a code bound the old way, or a user whose id
            // is not the derived one. Consumed by its id, answered with the stored user id.
            return self.confirm_checked(attempt, user.user_id, &code.id, now).await;
        }
        self.count_failure(attempt, Some(&code.id), lock_refused, now).await
    }

    /// Confirms a code checked here (today's conditions, by its id), the lock and the caller
    /// checked in the same transaction.
    async fn confirm_checked(
        &self,
        attempt: &Attempt<'_>,
        user_id: String,
        code_id: &str,
        now: u64,
    ) -> Result<Round, Failure> {
        let (address, gate) = (attempt.address, attempt.gate.as_ref());
        let by_code_id = Confirmation::ByCodeId { code_id };
        let Some(cancelled) = self.transact_confirm(by_code_id, &attempt.lock, attempt, now).await? else {
            tracing::info!(email = %mask::email(address), "user confirmed (code checked here)");
            return Ok(Round::Answer(Ok(confirmed(user_id, address))));
        };
        match checked_call(cancelled) {
            Checked::Gated(item) => {
                if let Some(gate) = gate {
                    return Ok(Round::Answer(Err(refused(gate, item, now))));
                }
            }
            Checked::Locked => {
                tracing::warn!(email = %mask::email(address), "confirmation refused: address locked");
                return Ok(Round::Answer(Err(self.failed(Failure::TooManyAttempts, gate, now).await)));
            }
            Checked::Changed => {}
            Checked::Conflict => attempt.backoff.wait().await,
        }
        // Changed since (confirmed, replaced, used up), or a conflict: confirm again.
        Ok(Round::Again)
    }

    /// Counts a wrong code (`code_id`: on the code too; `None`: an unknown address) on the
    /// address's lock and against the caller, in one transaction. The first call's lock check
    /// passed ("below"): this failure does not lock the address, unless others got there
    /// first (then it counts past the limit).
    async fn count_failure(
        &self,
        attempt: &Attempt<'_>,
        code_id: Option<&str>,
        lock_refused: bool,
        now: u64,
    ) -> Result<Round, Failure> {
        let (address, lock, gate) = (attempt.address, &attempt.lock, attempt.gate.as_ref());
        let mut step = match lock_refused {
            true => lock.with_max(u32::MAX),
            false if lock.max <= 1 => lock.with_max(u32::MAX),
            false => lock.with_max(lock.max - 1),
        };
        for _ in 0..ROUNDS {
            let Some(cancelled) = self.store.count_failure(address, code_id, &step, gate, now).await? else {
                tracing::info!(email = %mask::email(address), "confirmation code mismatch");
                if step.max == u32::MAX {
                    tracing::warn!(email = %mask::email(address), "address locked by failed confirmations");
                    return Ok(Round::Answer(Err(Failure::TooManyAttempts)));
                }
                return Ok(Round::Answer(Err(Failure::Mismatch { remaining: None })));
            };
            match counting_call(cancelled) {
                Counting::Changed => return Ok(Round::Again),
                Counting::Gated(item) => match gate {
                    Some(gate) => return Ok(Round::Answer(Err(refused(gate, item, now)))),
                    None => attempt.backoff.wait().await,
                },
                Counting::Past => step = lock.with_max(u32::MAX),
                Counting::Conflict => attempt.backoff.wait().await,
            }
        }
        Err(Failure::Busy)
    }
}

/// What a cancelled first call (user, lock "below", caller) says, in today's order: the
/// caller first (a refused caller spends nothing), then the user, then the lock.
#[derive(Debug, PartialEq)]
enum First {
    /// The caller is over its limit: its bucket as stored.
    Gated(Option<Item>),
    /// The user refused (as it was; `None`: no user), the lock refused or not.
    UserRefused { old: Option<User>, lock_refused: bool },
    /// The code matched, and the address is locked.
    Locked,
    /// The code matched, and the address is one failure below its limit: check the limit.
    AtLimit,
    /// Conflicts only: try again.
    Retry,
}

fn first_call(refused: Refused, lock_max: u32) -> First {
    if let Some(item) = refused.caller {
        return First::Gated(item);
    }
    match (refused.user, refused.lock) {
        (Some(old), lock) => First::UserRefused { old, lock_refused: lock.is_some() },
        (None, Some(count)) if !refused.user_conflict && count >= u64::from(lock_max) => First::Locked,
        (None, Some(_)) if !refused.user_conflict => First::AtLimit,
        _ => First::Retry,
    }
}

/// What a cancelled confirmation of a code checked in Lambda says.
#[derive(Debug, PartialEq)]
enum Checked {
    Gated(Option<Item>),
    Locked,
    /// The user changed since its refusal: confirm again.
    Changed,
    Conflict,
}

fn checked_call(refused: Refused) -> Checked {
    match refused {
        Refused { caller: Some(item), .. } => Checked::Gated(item),
        Refused { lock: Some(_), .. } => Checked::Locked,
        Refused { user: Some(_), .. } => Checked::Changed,
        _ => Checked::Conflict,
    }
}

/// What a cancelled count of a wrong code (the code's attempt, the lock, the caller) says.
#[derive(Debug, PartialEq)]
enum Counting {
    /// The code was confirmed, replaced or used up since: confirm again, which answers why.
    Changed,
    Gated(Option<Item>),
    /// Concurrent failures reached the limit first: count past it (locked).
    Past,
    Conflict,
}

fn counting_call(refused: Refused) -> Counting {
    match refused {
        Refused { user: Some(_), .. } => Counting::Changed,
        Refused { caller: Some(item), .. } => Counting::Gated(item),
        Refused { lock: Some(_), .. } => Counting::Past,
        _ => Counting::Conflict,
    }
}

fn confirmed(user_id: String, address: &str) -> User {
    User { user_id, email: address.to_string(), status: UserStatus::Confirmed, email_verified: true, code: None }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::store::dynamo::n;

    fn bucket(count: u32) -> Option<Item> {
        Some(HashMap::from([("cnt".to_string(), n(count))]))
    }

    fn user() -> User {
        User {
            user_id: "u".into(),
            email: "a@b.c".into(),
            status: UserStatus::Confirmed,
            email_verified: true,
            code: None,
        }
    }

    fn refused(user: Option<Option<User>>, lock: Option<u64>, caller: Option<Option<Item>>) -> Refused {
        Refused { user, user_conflict: false, lock, caller }
    }

    #[test]
    fn when_the_first_call_is_cancelled_should_answer_the_caller_then_the_user_then_the_lock() {
        // The caller over its limit wins, whatever else refused.
        assert_eq!(first_call(refused(Some(Some(user())), Some(20), Some(bucket(60))), 20), First::Gated(bucket(60)));
        assert_eq!(first_call(refused(Some(None), None, Some(None)), 20), First::Gated(None));
        // Then the user, as it was, with the lock's state for counting a wrong code.
        assert_eq!(
            first_call(refused(Some(Some(user())), Some(19), None), 20),
            First::UserRefused { old: Some(user()), lock_refused: true }
        );
        assert_eq!(
            first_call(refused(Some(None), None, None), 20),
            First::UserRefused { old: None, lock_refused: false }
        );
        // A matching code refused by the lock alone: locked, or one below (check the limit).
        assert_eq!(first_call(refused(None, Some(20), None), 20), First::Locked);
        assert_eq!(first_call(refused(None, Some(19), None), 20), First::AtLimit);
        assert_eq!(first_call(refused(None, Some(0), None), 1), First::AtLimit);
        // Conflicts alone, or a lock refused while the user was held: again.
        assert_eq!(first_call(Refused::default(), 20), First::Retry);
        let held = Refused { user_conflict: true, ..refused(None, Some(20), None) };
        assert_eq!(first_call(held, 20), First::Retry);
    }

    #[test]
    fn when_a_checked_confirmation_is_cancelled_should_answer_the_caller_then_the_lock() {
        assert_eq!(checked_call(refused(Some(None), Some(20), Some(bucket(60)))), Checked::Gated(bucket(60)));
        assert_eq!(checked_call(refused(Some(None), Some(20), None)), Checked::Locked);
        assert_eq!(checked_call(refused(Some(None), None, None)), Checked::Changed);
        assert_eq!(checked_call(Refused::default()), Checked::Conflict);
    }

    #[test]
    fn when_counting_a_wrong_code_is_cancelled_should_confirm_again_then_answer_the_caller_then_count_past() {
        assert_eq!(counting_call(refused(Some(None), Some(20), Some(bucket(60)))), Counting::Changed);
        assert_eq!(counting_call(refused(None, Some(20), Some(bucket(60)))), Counting::Gated(bucket(60)));
        assert_eq!(counting_call(refused(None, Some(19), None)), Counting::Past);
        assert_eq!(counting_call(Refused::default()), Counting::Conflict);
        assert_eq!(counting_call(refused(None, None, Some(None))), Counting::Gated(None));
    }
}
