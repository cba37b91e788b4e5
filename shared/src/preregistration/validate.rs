//! Family B validation in one DynamoDB call when the code is right, two when it is wrong
//! (plus the pointer read when the code is named by its destination).
//!
//! The accepting write must check the failure lock of each of the code's destinations, whose
//! keys only the code knew. An opaque confirmation id (`ids::CnfIdPlain`) carries them: the
//! mobile number, and a keyed tag of the e-mail address, which keys the address's lock. So
//! the first call is the whole validation: one transaction that marks the code verified only
//! if the keyed hash of the submitted code equals the stored one (one term per active key
//! version), the code is this application's, usable and the one the id names (`lk`), no
//! destination is locked and the caller is under its failure limit, and credits the mobile
//! number's block. DynamoDB compares keyed hashes, never codes.
//!
//! When that transaction is cancelled, DynamoDB returns the code, the locks and the caller's
//! bucket as they were (`ALL_OLD`), and the answer is chosen from them in today's order (the
//! caller over its limit, unknown, used, too many attempts, expired, then a wrong code), with
//! no read. A wrong code is then counted on the code, on each lock and on the caller in a
//! second transaction; the first call checked the locks "below the limit minus one", so no
//! guess is needed. A failure that touched no code counts against the caller alone
//! (`Guard::count_alone`), as before.
//!
//! Ids issued before opaque ids (v4 UUIDs) take one read first to learn the destinations.

use uuid::Uuid;

use super::PURPOSE;
use super::channels::{self, CodeChannel};
use super::request::ValidateRequest;
use super::response::ValidateResponse;
use super::service::{Preregistration, Validated, destinations, refused};
use super::store::{Acceptance, FailureCount, StoredCode, Validating};
use crate::domain::caller::Caller;
use crate::domain::ids::{self, CnfIdPlain};
use crate::edge::Failure;
use crate::store::attempts::{SubmittedHash, submitted_hashes};
use crate::store::backoff::Backoff;
use crate::store::guards::Guard;

/// Rounds of "validate, then count a wrong code" before answering busy: each round that does
/// not end lost a race to another request on the same code, lock or caller.
const ROUNDS: usize = 8;

/// What the validating call needs to know without reading the code.
struct Target {
    mobile: Option<String>,
    email_tag: Option<u64>,
    created_ms: u64,
    /// The id's plaintext, checked by the write (`None` for a legacy id, read from the item).
    plain: Option<[u8; 16]>,
}

impl Target {
    /// The channel a submitted code claims (`channels`): of a code sent by both, its bit; else
    /// the one channel.
    fn channel(&self, id_text: &str, code: &str) -> CodeChannel {
        match (&self.mobile, self.email_tag) {
            (Some(_), Some(_)) => channels::channel_of(id_text, code),
            (Some(_), None) => CodeChannel::Sms,
            (None, _) => CodeChannel::Email,
        }
    }
}

/// Where the destinations come from.
enum Source {
    /// A candidate plaintext of an opaque id (one per key version it opens under).
    Opaque(Target),
    /// A legacy (v4) id: the code is read first, every round.
    Legacy,
}

enum Round {
    Answer(Result<Validated, Failure>),
    /// The id opened under another key version than the code's: try the next candidate.
    NotThisTarget,
    Again,
}

/// What a code, as stored, says about the submitted one, in the order a user expects.
enum Verdict {
    Unusable(Failure),
    OtherTarget,
    /// Usable and matching: a refused write means the code changed in between.
    Matches,
    Wrong(StoredCode),
}

impl Preregistration {
    /// `caller`: the source address API Gateway saw, when there is one: every failed
    /// validation counts against it, and a caller over its limit is refused (see `guards`).
    #[tracing::instrument(name = "preregistration_validate", skip_all, fields(application = %request.application_id))]
    pub async fn validate(&self, request: ValidateRequest, caller: Option<&Caller>) -> Result<Validated, Failure> {
        self.application(&request.application_id)?;
        let gate = caller.map(|c| self.config.common.guards.caller_failures(self.store.table(), c));
        let sends = caller.map(|c| self.config.common.guards.caller_sends(self.store.table(), c));
        let id = match self.confirmation_id(&request).await {
            Err(Failure::NotFound) => {
                return Err(self.failed(Failure::NotFound, gate.as_ref(), self.clock.now_ms()).await);
            }
            other => other?,
        };
        let id_text = id.to_string();
        let hashes = self.hashes(&id_text, &request.confirmation_code);
        for source in self.sources(&id) {
            for round in 0.. {
                if round == ROUNDS {
                    return Err(Failure::Busy);
                }
                let callers = (gate.as_ref(), sends.as_ref());
                match self.round(&request, &id, &id_text, &source, &hashes, callers).await? {
                    Round::Answer(answer) => return answer,
                    Round::NotThisTarget => break,
                    Round::Again => continue,
                }
            }
        }
        Err(self.failed(Failure::NotFound, gate.as_ref(), self.clock.now_ms()).await)
    }

    /// The code's id: the request's, or the latest code of its destination (one read).
    async fn confirmation_id(&self, request: &ValidateRequest) -> Result<Uuid, Failure> {
        if let Some(id) = &request.confirmation_id {
            return Uuid::parse_str(id).map_err(|_| Failure::NotFound);
        }
        let fields = (&request.international_prefix, &request.mobile_number, &request.email_address);
        let (mobile, email) = destinations(&self.config, &request.application_id, self.clock.now_ms(), fields)?;
        let destination = match (&mobile, &email) {
            (Some(phone), _) => phone.as_str(),
            (None, Some(address)) => address.as_str(),
            (None, None) => return Err(Failure::NotFound),
        };
        self.store.latest(&request.application_id, destination).await?.ok_or(Failure::NotFound)
    }

    /// The destinations the id may carry: one candidate per active key version it opens
    /// under with family B's layout (almost always exactly one), or the legacy read.
    fn sources(&self, id: &Uuid) -> Vec<Source> {
        if ids::is_legacy(id.as_bytes()) {
            return vec![Source::Legacy];
        }
        let keys = &self.config.common.keys;
        let now = self.clock.now_ms();
        keys.versions()
            .filter_map(|v| keys.id_cipher(v))
            .map(|cipher| cipher.decrypt(*id.as_bytes()))
            .filter_map(|plain| {
                let p = CnfIdPlain::unpack(plain)?;
                Some(Source::Opaque(Target {
                    mobile: p.mobile(),
                    email_tag: p.email_tag,
                    created_ms: p.created_ms(now),
                    plain: Some(plain.to_be_bytes()),
                }))
            })
            .collect()
    }

    /// The destinations of a code stored under a legacy id. Its e-mail lock is keyed by the
    /// current version's tag, as new codes of the address are.
    fn legacy_target(&self, code: &StoredCode) -> Target {
        let keys = &self.config.common.keys;
        let email_tag = code.email.as_deref().and_then(|address| keys.email_tag(keys.current_version(), address));
        Target { mobile: code.mobile.clone(), email_tag, created_ms: code.created_ms, plain: None }
    }

    /// The submitted code's keyed hash under every active key version: the code's version
    /// is not known before the write, and each costs one HMAC whether or not the code exists.
    fn hashes(&self, id_text: &str, code: &str) -> Vec<SubmittedHash> {
        submitted_hashes(&self.config.common.keys, PURPOSE, id_text, code)
    }

    /// One validating transaction, and what its outcome means. `(gate, sends)`: the caller's
    /// failures (checked) and sends (credited when the code is right).
    async fn round(
        &self,
        request: &ValidateRequest,
        id: &Uuid,
        id_text: &str,
        source: &Source,
        hashes: &[SubmittedHash],
        (gate, sends): (Option<&Guard>, Option<&Guard>),
    ) -> Result<Round, Failure> {
        let now = self.clock.now_ms();
        let legacy;
        let target = match source {
            Source::Opaque(target) => target,
            Source::Legacy => {
                let Some(code) = self.store.get(id).await? else {
                    return Ok(Round::Answer(Err(self.failed(Failure::NotFound, gate, now).await)));
                };
                legacy = self.legacy_target(&code);
                // Judged from the read, as before opaque ids: only a match goes on to the write.
                match self.verdict(request, id_text, &legacy, code, now) {
                    Verdict::Matches => &legacy,
                    verdict => {
                        let locks = self.locks(legacy.mobile.as_deref(), legacy.email_tag);
                        return self.judged(verdict, &locks, &[], gate, now).await;
                    }
                }
            }
        };
        let locks = self.locks(target.mobile.as_deref(), target.email_tag);
        let limit = self.config.common.failure_lock.limit;
        // "Below the limit minus one": a wrong code then does not lock a destination, so the
        // failure is counted without a guess. A right code at exactly limit - 1 checks again
        // against the limit itself.
        let mut check_max = limit.saturating_sub(1).max(1);
        let channel = target.channel(id_text, &request.confirmation_code);
        let acceptance =
            Acceptance { id, application: &request.application_id, plain: target.plain, channel, hashes, now_ms: now };
        // Only the SMS's own code proves the SMS reached the person: only it credits the
        // number's block (an e-mail code of the same send proves nothing about the SMS).
        let block = match (&target.mobile, channel) {
            (Some(mobile), CodeChannel::Sms) => {
                let budget = crate::store::guards::Budget::Preregistration;
                Some(self.config.common.guards.number_block(self.store.table(), budget, mobile, None))
            }
            _ => None,
        };
        // The caller's codes convert: its send budget is credited (in the send's bucket). A
        // test number's code is no conversion: it credits nothing (its send counted nothing).
        // Judged when the code was sent (the id says when), as the send was.
        let test = target
            .mobile
            .as_deref()
            .is_some_and(|m| self.config.test_number(&request.application_id, m, target.created_ms).is_some());
        let credits: Vec<&Guard> = if test { vec![] } else { block.iter().chain(sends).collect() };
        let backoff = Backoff::new();
        for _ in 0..ROUNDS {
            let checked: Vec<Guard> = locks.iter().map(|lock| lock.with_max(check_max)).collect();
            match self.store.validate(&acceptance, &checked, gate, &credits, target.created_ms).await? {
                Validating::Validated => {
                    tracing::info!(code_id = %id, test, "confirmation code validated");
                    return Ok(Round::Answer(Ok(Validated {
                        payload: ValidateResponse { confirmation_id: id_text.to_string(), valid: true },
                        sms_country: target
                            .mobile
                            .as_deref()
                            .filter(|_| channel == CodeChannel::Sms)
                            .and_then(crate::ops::metrics::Country::of_phone),
                        channel,
                        test,
                    })));
                }
                // A caller over its limit is refused whatever the code, and nothing is counted.
                Validating::CallerRefused { item } => return Ok(Round::Answer(Err(refused(gate, item, now)))),
                Validating::NotFound => {
                    return Ok(Round::Answer(Err(self.failed(Failure::NotFound, gate, now).await)));
                }
                Validating::Refused { code, locks_full } => {
                    let verdict = self.verdict(request, id_text, target, *code, now);
                    return self.judged(verdict, &locks, &locks_full, gate, now).await;
                }
                Validating::LocksFull { counts } => {
                    if counts.iter().flatten().any(|count| *count >= u64::from(limit)) {
                        tracing::warn!(code_id = %id, "confirmation code refused: destination locked");
                        let locked = self.failed(Failure::TooManyAttempts, gate, now).await;
                        return Ok(Round::Answer(Err(locked)));
                    }
                    check_max = limit;
                }
                Validating::Conflict => backoff.wait().await,
            }
        }
        Err(Failure::Busy)
    }

    /// Why a stored code refuses the submitted one, in today's order: another application's
    /// or undelivered (unknown), used, too many attempts, expired; then another key
    /// version's id, a match (changed meanwhile), or a wrong code.
    fn verdict(
        &self,
        request: &ValidateRequest,
        id_text: &str,
        target: &Target,
        code: StoredCode,
        now: u64,
    ) -> Verdict {
        let unusable = if code.application != request.application_id || code.delivery_failed {
            Some(Failure::NotFound)
        } else if code.verified {
            Some(Failure::AlreadyUsed)
        } else if code.attempts >= code.max_attempts {
            Some(Failure::TooManyAttempts)
        } else if code.expires_ms <= now {
            Some(Failure::Expired)
        } else {
            None
        };
        if let Some(err) = unusable {
            return Verdict::Unusable(err);
        }
        if target.plain.is_some() && code.id_plain.as_deref() != target.plain.as_ref().map(<[u8; 16]>::as_slice) {
            return Verdict::OtherTarget;
        }
        let keys = &self.config.common.keys;
        let stored = match target.channel(id_text, &request.confirmation_code) {
            CodeChannel::Email => code.email_hash.as_deref().unwrap_or(&code.hash),
            CodeChannel::Sms => &code.hash,
        };
        if keys.matches(code.key_version, PURPOSE, id_text, &request.confirmation_code, stored) {
            return Verdict::Matches;
        }
        Verdict::Wrong(code)
    }

    /// Answers a verdict: a wrong code is counted (`refused_locks`: the locks the first call
    /// found at the limit minus one or above; none for a legacy read).
    async fn judged(
        &self,
        verdict: Verdict,
        locks: &[Guard],
        refused_locks: &[bool],
        gate: Option<&Guard>,
        now: u64,
    ) -> Result<Round, Failure> {
        match verdict {
            Verdict::Unusable(err) => Ok(Round::Answer(Err(self.failed(err, gate, now).await))),
            Verdict::OtherTarget => Ok(Round::NotThisTarget),
            Verdict::Matches => Ok(Round::Again),
            Verdict::Wrong(code) => self.count_wrong(&code, locks, refused_locks, gate, now).await,
        }
    }

    /// Counts a wrong code on the code, on each destination's lock and on the caller, in one
    /// transaction. A lock whose check passed counts "below the limit minus one" (this
    /// failure does not lock it); one that refused, or refuses now (concurrent failures got
    /// there first), counts past the limit and the answer is "too many attempts".
    async fn count_wrong(
        &self,
        code: &StoredCode,
        locks: &[Guard],
        refused_locks: &[bool],
        gate: Option<&Guard>,
        now: u64,
    ) -> Result<Round, Failure> {
        let limit = self.config.common.failure_lock.limit;
        let below = if limit <= 1 { u32::MAX } else { limit - 1 };
        let mut steps: Vec<u32> = (0..locks.len())
            .map(|i| if refused_locks.get(i).copied().unwrap_or(false) { u32::MAX } else { below })
            .collect();
        let backoff = Backoff::new();
        for _ in 0..ROUNDS {
            let counted: Vec<Guard> = locks.iter().zip(&steps).map(|(lock, max)| lock.with_max(*max)).collect();
            match self.store.count_failure(&code.id, &counted, gate, now).await? {
                FailureCount::Counted => {
                    let attempts = code.attempts + 1;
                    tracing::info!(code_id = %code.id, attempts, "confirmation code mismatch");
                    if steps.contains(&u32::MAX) {
                        return Ok(Round::Answer(Err(Failure::TooManyAttempts)));
                    }
                    let remaining = code.max_attempts.saturating_sub(attempts);
                    return Ok(Round::Answer(Err(Failure::Mismatch { remaining: Some(remaining) })));
                }
                // Verified or used up since: validate again, which answers why.
                FailureCount::CodeChanged => return Ok(Round::Again),
                FailureCount::CallerRefused { item } => return Ok(Round::Answer(Err(refused(gate, item, now)))),
                FailureCount::LocksFull(full) => {
                    for (step, full) in steps.iter_mut().zip(full) {
                        if full {
                            *step = u32::MAX;
                        }
                    }
                }
                FailureCount::Conflict => backoff.wait().await,
            }
        }
        Err(Failure::Busy)
    }
}
