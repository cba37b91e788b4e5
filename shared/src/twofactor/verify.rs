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

use uuid::Uuid;

use super::PURPOSE;
use super::request::VerifyRequest;
use super::service::{TwoFactor, Verified};
use super::store::{Acceptance, FailureCount, StoredOtp, Verifying};
use crate::domain::ids::{self, OtpIdPlain};
use crate::domain::mask;
use crate::edge::Failure;
use crate::store::attempts::{SubmittedHash, submitted_hashes};
use crate::store::backoff::Backoff;
use crate::store::guards::Guard;

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
        let acceptance =
            Acceptance { otp_id: &request.otp_id, user_id: &request.user_id, plain: target.plain, hashes, now_ms: now };
        let budget = crate::store::guards::Budget::TwoFactor;
        let block = self.config.common.guards.number_block(self.store.table(), budget, &target.phone, None);
        // A test destination's verification is no conversion: crediting its block would let a
        // fixed code launder the real numbers beside it. Judged when the OTP was sent (the id
        // says when): a test code verified after its list expired is still no conversion.
        let test = self.config.is_test_number(&target.phone, target.created_ms);
        let credit = (!test).then_some(&block);
        let backoff = Backoff::new();
        for _ in 0..ROUNDS {
            match self.store.verify(&acceptance, &below, credit, target.created_ms).await? {
                Verifying::Verified => {
                    tracing::info!(otp = %request.otp_id, phone = %mask::phone(&target.phone), test, "OTP verified");
                    let phone = target.phone.clone();
                    let verified = Verified { otp_id: request.otp_id, remaining_attempts: 0, phone, test };
                    return Ok(Round::Answer(Ok(verified)));
                }
                Verifying::NotFound => return Ok(Round::Answer(Err(Failure::NotFound))),
                Verifying::Refused { otp, lock_full } => {
                    return self.refused(request, target, &otp, &lock, lock_full, now).await;
                }
                Verifying::LockFull { count } => {
                    if count >= u64::from(lock.max) {
                        tracing::warn!(phone = %mask::phone(&target.phone), "OTP refused: number locked");
                        return Ok(Round::Answer(Err(Failure::TooManyAttempts)));
                    }
                    below = lock.with_max(lock.max);
                }
                Verifying::Conflict => backoff.wait().await,
            }
        }
        Err(Failure::Busy)
    }

    /// The OTP refused the code: why, from the OTP as it was, in the order a user expects.
    async fn refused(
        &self,
        request: &VerifyRequest,
        target: &Target,
        otp: &StoredOtp,
        lock: &Guard,
        lock_full: bool,
        now: u64,
    ) -> Result<Round, Failure> {
        if let Some(err) = self.unusable(otp, request, now) {
            return Ok(Round::Answer(Err(err)));
        }
        if target.plain.is_some() && otp.id_plain.as_deref() != target.plain.as_ref().map(<[u8; 16]>::as_slice) {
            return Ok(Round::NotThisTarget);
        }
        let id = request.otp_id.to_string();
        if self.config.common.keys.matches(otp.key_version, PURPOSE, &id, &request.otp_code, &otp.hash) {
            // Usable and matching, yet refused: it changed in between; verify again.
            return Ok(Round::Again);
        }
        // A wrong code. The first call's lock check passed ("below"): this failure does not
        // lock the number, unless others got there first (then it counts past the limit).
        let mut locks = match lock_full {
            true => lock.with_max(u32::MAX),
            false if lock.max <= 1 => lock.with_max(u32::MAX),
            false => lock.with_max(lock.max - 1),
        };
        let backoff = Backoff::new();
        for _ in 0..ROUNDS {
            match self.store.count_failure(&otp.id, &locks, now).await? {
                FailureCount::Counted => {}
                // Verified or used up since: verify again, which answers why.
                FailureCount::OtpChanged => return Ok(Round::Again),
                FailureCount::LockFull => {
                    locks = lock.with_max(u32::MAX);
                    continue;
                }
                FailureCount::Conflict => {
                    backoff.wait().await;
                    continue;
                }
            }
            let attempts = otp.attempts + 1;
            tracing::info!(otp = %otp.id, phone = %mask::phone(&otp.phone), attempts, "OTP mismatch");
            if locks.max == u32::MAX {
                tracing::warn!(phone = %mask::phone(&otp.phone), "number locked by failed verifications");
                return Ok(Round::Answer(Err(Failure::TooManyAttempts)));
            }
            let remaining = otp.max_attempts.saturating_sub(attempts);
            return Ok(Round::Answer(Err(Failure::Mismatch { remaining: Some(remaining) })));
        }
        Err(Failure::Busy)
    }
}
