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

use aws_sdk_dynamodb::types::Update;

use super::service::{Signup, refused};
use super::store::User;
use super::{PURPOSE, SignupError};
use crate::dynamo::{Item, Refusal, backoff, check_item, fail_on_other, transact, update_item};
use crate::email::EmailAddress;
use crate::guards::{Caller, Guard};
use crate::mask;
use crate::schema::UserStatus;

/// Rounds of "confirm, then count a wrong code" before answering busy: each round that does
/// not end lost a race to another request on the same user or lock.
const ROUNDS: usize = 8;

enum Round {
    Answer(Result<User, SignupError>),
    Again,
}

/// What one confirmation works with.
struct Attempt<'a> {
    address: &'a str,
    code: &'a str,
    lock: Guard,
    gate: Option<Guard>,
}

impl Signup {
    /// Every failed confirmation counts against the caller. An address that never asked for a
    /// code answers like a wrong code, after the same calls, so confirming does not tell which
    /// addresses have signed up.
    pub async fn confirm(
        &self,
        address: &EmailAddress,
        code: &str,
        caller: Option<&Caller>,
    ) -> Result<User, SignupError> {
        let address = address.as_str();
        let keys = &self.config.common.keys;
        // The submitted code's keyed hash under every active version: the stored code's
        // version is not known before the write, and each costs one HMAC whether or not the
        // user exists.
        let hashes: Vec<(u32, [u8; 32])> =
            keys.versions().filter_map(|v| Some((v, keys.hash(v, PURPOSE, address, code)?))).collect();
        let user_id = keys.user_id(keys.current_version(), address).ok_or(SignupError::Internal)?.to_string();
        let attempt = Attempt {
            address,
            code,
            lock: self.lock(address),
            gate: caller.map(|c| self.config.common.guards.caller_failures(self.store.table(), c)),
        };
        let lock = &attempt.lock;
        // "Below the limit minus one": a wrong code then does not lock the address, so the
        // failure is counted without a guess. A right code at exactly limit - 1 checks again
        // against the limit itself.
        let mut below = lock.with_max(lock.max.saturating_sub(1).max(1));
        for _ in 0..ROUNDS {
            let now = self.clock.now_ms();
            let confirm = self.store.confirm_update(address, &user_id, &hashes, now)?;
            let reasons = match self.transact_confirm(confirm, &below, attempt.gate.as_ref(), now).await? {
                None => {
                    tracing::info!(email = %mask::email(address), "user confirmed");
                    return Ok(confirmed(user_id, address));
                }
                Some(reasons) => reasons,
            };
            let [user, lock_state, gate_state] = reasons;
            if let (Some(gate), Some(Refusal::Condition(item))) = (&attempt.gate, gate_state) {
                return Err(refused(gate, item, now));
            }
            match (user, lock_state) {
                (Some(Refusal::Condition(old)), lock_state) => {
                    match self.refused_confirm(&attempt, old, lock_state, now).await? {
                        Round::Answer(answer) => return answer,
                        Round::Again => continue,
                    }
                }
                (None, Some(Refusal::Condition(stored))) => {
                    if Guard::count_in(stored.as_ref()) >= u64::from(lock.max) {
                        tracing::warn!(email = %mask::email(address), "confirmation refused: address locked");
                        let gate = attempt.gate.as_ref();
                        return Err(self.failed(SignupError::TooManyFailedAttempts, gate, now).await);
                    }
                    below = lock.with_max(lock.max);
                }
                _ => backoff().await,
            }
        }
        Err(SignupError::Busy)
    }

    /// One confirming transaction (`confirm`, the lock's check, the caller's): `None` when it
    /// was written, else each item's refusal.
    async fn transact_confirm(
        &self,
        confirm: Update,
        lock: &Guard,
        gate: Option<&Guard>,
        now: u64,
    ) -> Result<Option<[Option<Refusal>; 3]>, SignupError> {
        let mut items = Vec::with_capacity(3);
        items.push(update_item(confirm));
        items.push(check_item(lock.not_full(now)?));
        if let Some(gate) = gate {
            items.push(check_item(gate.not_full(now)?));
        }
        let Some(reasons) = transact(self.store.client(), items).await? else { return Ok(None) };
        fail_on_other(&reasons)?;
        let mut reasons = reasons.into_iter();
        Ok(Some([reasons.next().flatten(), reasons.next().flatten(), reasons.next().flatten()]))
    }

    /// The user refused the confirmation: why, from the user as it was, in today's order.
    async fn refused_confirm(
        &self,
        attempt: &Attempt<'_>,
        old: Option<Item>,
        lock_state: Option<Refusal>,
        now: u64,
    ) -> Result<Round, SignupError> {
        let gate = attempt.gate.as_ref();
        let Some(old) = old else {
            // Nobody asked for a code here: counted like a wrong code, on the address's lock
            // too, so the answer and the calls are a wrong code's.
            return self.count_failure(attempt, None, lock_state, now).await;
        };
        let user = User::from_item(&old)?;
        let usable = match &user.code {
            _ if user.status == UserStatus::Confirmed => Err(SignupError::AlreadyConfirmed),
            None => Err(SignupError::ExpiredCode),
            Some(c) if c.attempts >= c.max_attempts => Err(SignupError::TooManyFailedAttempts),
            Some(c) if c.expires_ms <= now => Err(SignupError::ExpiredCode),
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
        self.count_failure(attempt, Some(&code.id), lock_state, now).await
    }

    /// Confirms a code checked here (today's conditions, by its id), the lock and the caller
    /// checked in the same transaction.
    async fn confirm_checked(
        &self,
        attempt: &Attempt<'_>,
        user_id: String,
        code_id: &str,
        now: u64,
    ) -> Result<Round, SignupError> {
        let (address, gate) = (attempt.address, attempt.gate.as_ref());
        let confirm = self.store.confirm_checked(address, code_id, now)?;
        let Some([user, lock, gate_state]) = self.transact_confirm(confirm, &attempt.lock, gate, now).await? else {
            tracing::info!(email = %mask::email(address), "user confirmed (code checked here)");
            return Ok(Round::Answer(Ok(confirmed(user_id, address))));
        };
        if let (Some(gate), Some(Refusal::Condition(item))) = (gate, gate_state) {
            return Ok(Round::Answer(Err(refused(gate, item, now))));
        }
        if let Some(Refusal::Condition(_)) = lock {
            tracing::warn!(email = %mask::email(address), "confirmation refused: address locked");
            return Ok(Round::Answer(Err(self.failed(SignupError::TooManyFailedAttempts, gate, now).await)));
        }
        // Changed since (confirmed, replaced, used up), or a conflict: confirm again.
        if !matches!(user, Some(Refusal::Condition(_))) {
            backoff().await;
        }
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
        lock_state: Option<Refusal>,
        now: u64,
    ) -> Result<Round, SignupError> {
        let (address, lock, gate) = (attempt.address, &attempt.lock, attempt.gate.as_ref());
        let mut step = match lock_state {
            Some(Refusal::Condition(_)) => lock.with_max(u32::MAX),
            _ if lock.max <= 1 => lock.with_max(u32::MAX),
            _ => lock.with_max(lock.max - 1),
        };
        for _ in 0..ROUNDS {
            let mut items = Vec::with_capacity(3);
            if let Some(code_id) = code_id {
                items.push(update_item(self.store.failed_attempt(address, code_id)?));
            }
            items.push(update_item(step.count_update(now)?));
            if let Some(gate) = gate {
                items.push(update_item(gate.count_update(now)?));
            }
            let Some(reasons) = transact(self.store.client(), items).await? else {
                tracing::info!(email = %mask::email(address), "confirmation code mismatch");
                if step.max == u32::MAX {
                    tracing::warn!(email = %mask::email(address), "address locked by failed confirmations");
                    return Ok(Round::Answer(Err(SignupError::TooManyFailedAttempts)));
                }
                return Ok(Round::Answer(Err(SignupError::CodeMismatch)));
            };
            fail_on_other(&reasons)?;
            let mut reasons = reasons.into_iter();
            let code_state = if code_id.is_some() { reasons.next().flatten() } else { None };
            let (lock_state, gate_state) = (reasons.next().flatten(), reasons.next().flatten());
            // Confirmed, replaced or used up since: confirm again, which answers why.
            if let Some(Refusal::Condition(_)) = code_state {
                return Ok(Round::Again);
            }
            if let (Some(gate), Some(Refusal::Condition(item))) = (gate, gate_state) {
                return Ok(Round::Answer(Err(refused(gate, item, now))));
            }
            match lock_state {
                Some(Refusal::Condition(_)) => step = lock.with_max(u32::MAX),
                _ => backoff().await,
            }
        }
        Err(SignupError::Busy)
    }
}

fn confirmed(user_id: String, address: &str) -> User {
    User { user_id, email: address.to_string(), status: UserStatus::Confirmed, email_verified: true, code: None }
}
