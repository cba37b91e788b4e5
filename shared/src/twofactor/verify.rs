//! Family C verification in one DynamoDB call when the code is right, two when it is wrong.
//!
//! The accepting write must check the number's failure lock, whose key only the OTP knows.
//! An opaque id (`ids`) carries the number, so the first call is the whole verification: one
//! transaction that marks the OTP verified only if the keyed hash of the submitted code equals
//! the stored one (one term per active key version) and the lock is not full, and credits the
//! number's block. DynamoDB compares keyed hashes, never codes: a guess tells nothing about
//! another guess, and every guess is counted.
//!
//! When that transaction is cancelled, DynamoDB returns the OTP and the lock as they were
//! (`ALL_OLD`), and the answer is chosen from them in the order a user expects (unknown, used,
//! too many attempts, expired, then a wrong code), with no read. A wrong code is then counted
//! on the OTP and on the lock in a second transaction. Fixed lock buckets (`guards::Guard`)
//! need no guess whether a window is open: the first call checks "below the limit minus one",
//! so it already knows whether this failure locks the number.
//!
//! Ids issued before opaque ids (v4 UUIDs) take one read first to learn the number.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure, Update};
use uuid::Uuid;

use super::PURPOSE;
use super::request::VerifyRequest;
use super::service::{TwoFactor, Verified};
use super::store::{StoredOtp, otp_pk};
use crate::attempts::{AcceptCondition, SubmittedHash, bind_hashes, submitted_hashes};
use crate::dynamo::{Item, Refusal, StoreError, backoff, check_item, fail_on_other, get_b, key, n, s, update_item};
use crate::edge::Failure;
use crate::guards::Guard;
use crate::ids::{self, OtpIdPlain};
use crate::mask;
use crate::schema::{
    ATTEMPTS, DELIVERY, DeliveryState, EXPIRES_AT, ID_PLAIN, MAX_ATTEMPTS, OTP_SK, USER_ID, VERIFIED_AT, expression,
};

/// Rounds of "verify, then count a wrong code" before answering busy: each round that does
/// not end lost a race to another request on the same OTP or lock, and 8 in a row means
/// heavy contention on one number.
const ROUNDS: usize = 8;

/// What the verifying call needs to know without reading the OTP.
struct Target {
    phone: String,
    created_ms: u64,
    /// The id's plaintext, checked by the write (`None` for a legacy id, read from the item).
    plain: Option<[u8; 16]>,
}

enum Round {
    Answer(Result<Verified, Failure>),
    /// The id opened under another key version than the OTP's: try the next candidate.
    NotThisTarget,
    Again,
}

impl TwoFactor {
    #[tracing::instrument(name = "two_factor_verify", skip_all, fields(otp = %request.otp_id))]
    pub async fn verify(&self, request: VerifyRequest) -> Result<Verified, Failure> {
        let hashes = self.hashes(&request);
        for target in self.targets(&request.otp_id).await? {
            for _ in 0..ROUNDS {
                match self.round(&request, &target, &hashes).await? {
                    Round::Answer(answer) => return answer,
                    Round::NotThisTarget => break,
                    Round::Again => continue,
                }
            }
        }
        Err(Failure::NotFound)
    }

    /// The numbers the id may carry: one per active key version it opens under with family
    /// C's layout (almost always exactly one), or, for a legacy id, the stored OTP's.
    async fn targets(&self, id: &Uuid) -> Result<Vec<Target>, Failure> {
        let keys = &self.config.common.keys;
        if ids::is_legacy(id.as_bytes()) {
            let otp = self.store.get(id).await?.ok_or(Failure::NotFound)?;
            return Ok(vec![Target { phone: otp.phone, created_ms: otp.created_ms, plain: None }]);
        }
        Ok(keys
            .versions()
            .filter_map(|v| keys.id_cipher(v))
            .map(|cipher| cipher.decrypt(*id.as_bytes()))
            .filter_map(|plain| OtpIdPlain::unpack(plain).map(|p| (plain, p)))
            .map(|(plain, p)| Target { phone: p.e164(), created_ms: p.created_ms(), plain: Some(plain.to_be_bytes()) })
            .collect())
    }

    /// The submitted code's keyed hash under every active key version: the OTP's version is
    /// not known before the write, and each costs one HMAC whether or not the OTP exists.
    fn hashes(&self, request: &VerifyRequest) -> Vec<SubmittedHash> {
        submitted_hashes(&self.config.common.keys, PURPOSE, &request.otp_id.to_string(), &request.otp_code)
    }

    fn lock(&self, phone: &str) -> Guard {
        let lock = &self.config.common.failure_lock;
        self.store.failure_lock(phone, lock.limit, lock.window_ms())
    }

    /// One verifying transaction, and what its outcome means.
    async fn round(
        &self,
        request: &VerifyRequest,
        target: &Target,
        hashes: &[SubmittedHash],
    ) -> Result<Round, Failure> {
        let now = self.clock.now_ms();
        let lock = self.lock(&target.phone);
        // "Below the limit minus one": a wrong code then does not lock the number, so the
        // failure is counted without a guess. A right code at exactly limit - 1 checks again
        // against the limit itself.
        let mut below = lock.with_max(lock.max.saturating_sub(1).max(1));
        for _ in 0..ROUNDS {
            let budget = crate::guards::Budget::TwoFactor;
            let block = self.config.common.guards.number_block(self.store.table(), budget, &target.phone, None);
            let items = vec![
                update_item(self.accept(request, target, hashes, now)?),
                check_item(below.not_full(now)?),
                update_item(block.credit(target.created_ms)?),
            ];
            let Some(reasons) = crate::dynamo::transact(self.store.client(), items).await? else {
                tracing::info!(otp = %request.otp_id, phone = %mask::phone(&target.phone), "OTP verified");
                let verified = Verified { otp_id: request.otp_id, remaining_attempts: 0, phone: target.phone.clone() };
                return Ok(Round::Answer(Ok(verified)));
            };
            fail_on_other(&reasons)?;
            let reason = |i: usize| reasons.get(i).cloned().flatten();
            match (reason(0), reason(1)) {
                (Some(Refusal::Condition(None)), _) => return Ok(Round::Answer(Err(Failure::NotFound))),
                (Some(Refusal::Condition(Some(old))), lock_state) => {
                    return self.refused(request, target, &old, &lock, lock_state, now).await;
                }
                (None, Some(Refusal::Condition(stored))) => {
                    if Guard::count_in(stored.as_ref()) >= u64::from(lock.max) {
                        tracing::warn!(phone = %mask::phone(&target.phone), "OTP refused: number locked");
                        return Ok(Round::Answer(Err(Failure::TooManyAttempts)));
                    }
                    below = lock.with_max(lock.max);
                }
                _ => backoff().await,
            }
        }
        Err(Failure::Busy)
    }

    /// Marks the OTP verified, if the code's keyed hash is the stored one and the OTP is the
    /// caller's, usable, and the one the id names.
    fn accept(
        &self,
        request: &VerifyRequest,
        target: &Target,
        hashes: &[SubmittedHash],
        now: u64,
    ) -> Result<Update, StoreError> {
        static ACCEPT: AcceptCondition = AcceptCondition::new();
        static ACCEPT_LEGACY: AcceptCondition = AcceptCondition::new();
        let condition = match target.plain {
            Some(_) => ACCEPT.get(
                expression!(
                    "{USER_ID} = :uid AND attribute_not_exists({VERIFIED_AT}) AND {ATTEMPTS} < {MAX_ATTEMPTS} \
                     AND {EXPIRES_AT} > :now AND {DELIVERY} <> :failed AND {ID_PLAIN} = :lk"
                ),
                hashes.len(),
            ),
            None => ACCEPT_LEGACY.get(
                expression!(
                    "{USER_ID} = :uid AND attribute_not_exists({VERIFIED_AT}) AND {ATTEMPTS} < {MAX_ATTEMPTS} \
                     AND {EXPIRES_AT} > :now AND {DELIVERY} <> :failed"
                ),
                hashes.len(),
            ),
        };
        let mut update = Update::builder()
            .table_name(self.store.table())
            .set_key(Some(key(&otp_pk(&request.otp_id), OTP_SK)))
            .update_expression(expression!("SET {VERIFIED_AT} = :now"))
            .condition_expression(condition)
            .expression_attribute_values(":uid", s(request.user_id.to_string()))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":failed", s(DeliveryState::Failed.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(plain) = target.plain {
            update = update.expression_attribute_values(":lk", AttributeValue::B(Blob::new(plain.to_vec())));
        }
        bind_hashes(update, hashes).build().map_err(StoreError::Build)
    }

    /// The OTP refused the code: why, from the OTP as it was, in the order a user expects.
    async fn refused(
        &self,
        request: &VerifyRequest,
        target: &Target,
        old: &Item,
        lock: &Guard,
        lock_state: Option<Refusal>,
        now: u64,
    ) -> Result<Round, Failure> {
        let otp = StoredOtp::from_item(old)?;
        if let Some(err) = self.unusable(&otp, request, now) {
            return Ok(Round::Answer(Err(err)));
        }
        if target.plain.is_some() && get_b(old, ID_PLAIN) != target.plain.as_ref().map(<[u8; 16]>::as_slice) {
            return Ok(Round::NotThisTarget);
        }
        let id = request.otp_id.to_string();
        if self.config.common.keys.matches(otp.key_version, PURPOSE, &id, &request.otp_code, &otp.hash) {
            // Usable and matching, yet refused: it changed in between; verify again.
            return Ok(Round::Again);
        }
        // A wrong code. The first call's lock check passed ("below"): this failure does not
        // lock the number, unless others got there first (then it counts past the limit).
        let mut locks = match lock_state {
            Some(Refusal::Condition(_)) => lock.with_max(u32::MAX),
            _ if lock.max <= 1 => lock.with_max(u32::MAX),
            _ => lock.with_max(lock.max - 1),
        };
        for _ in 0..ROUNDS {
            let attempt = crate::attempts::failed_attempt(self.store.table(), key(&otp_pk(&otp.id), OTP_SK))?;
            let items = vec![update_item(attempt), update_item(locks.count_update(now)?)];
            let Some(reasons) = crate::dynamo::transact(self.store.client(), items).await? else {
                let attempts = otp.attempts + 1;
                tracing::info!(otp = %otp.id, phone = %mask::phone(&otp.phone), attempts, "OTP mismatch");
                if locks.max == u32::MAX {
                    tracing::warn!(phone = %mask::phone(&otp.phone), "number locked by failed verifications");
                    return Ok(Round::Answer(Err(Failure::TooManyAttempts)));
                }
                let remaining = otp.max_attempts.saturating_sub(attempts);
                return Ok(Round::Answer(Err(Failure::Mismatch { remaining: Some(remaining) })));
            };
            fail_on_other(&reasons)?;
            match (reasons.first().cloned().flatten(), reasons.get(1).cloned().flatten()) {
                // Verified or used up since: verify again, which answers why.
                (Some(Refusal::Condition(_)), _) => return Ok(Round::Again),
                (_, Some(Refusal::Condition(_))) => locks = lock.with_max(u32::MAX),
                _ => backoff().await,
            }
        }
        Err(Failure::Busy)
    }
}
