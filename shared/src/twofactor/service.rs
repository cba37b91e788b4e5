//! Family C operations: create an OTP (and send it), verify an OTP.

use std::sync::Arc;

use aws_config::SdkConfig;
use uuid::Uuid;

use super::PURPOSE;
use super::request::{CreateRequest, VerifyRequest};
use super::store::{DeliveryEnd, Finishing, NewOtp, StoredOtp, TwoFactorStore, otp_pk};
use super::{TwoFactorConfig, TwoFactorProfile};
use crate::aws::sns::{SYNC_ATTEMPTS, SmsSender, send_patiently};
use crate::config::ConfigError;
use crate::config::test_destinations::{TestDestinations, TestUse};
use crate::domain::clock::Clock;
use crate::domain::ids::{self, OtpIdPlain};
use crate::domain::phone::Phone;
use crate::domain::{codes, mask};
use crate::edge::Failure;
use crate::ops::startup::Seams;
use crate::store::dynamo::{Sending, Window};
use crate::store::guards::Guard;
use crate::store::idempotency::Idempotency;
use crate::store::schema::{DeliveryState, TWO_FACTOR_TEST_PREFIX};

/// Upper bounds of the request's own limits (API.md: the interval at most one day).
const MAX_SMS_INTERVAL_SECONDS: i64 = 86_400;
const MAX_SMS_COUNT: i64 = 1_000;
/// Draws of a fresh id (and OTP id) before a create gives up as busy.
const CREATE_ATTEMPTS: usize = 5;

/// What a create decided before drawing an OTP (`TwoFactor::prepare`).
struct Prepared<'a> {
    profile: &'a TwoFactorProfile,
    limits: Limits,
    phone: Phone,
    language: String,
    /// The number's send windows: none for a test destination.
    windows: Vec<Window>,
    /// The guards: a test destination's only one is its count of uses today.
    guards: Vec<Guard>,
    lock: Guard,
    /// The test destinations `phone` is one of: its code is theirs and nothing is sent.
    test: Option<&'a TestDestinations>,
    /// A test destination used past its `dailyUses` today (counted again without the limit).
    over_test_limit: bool,
}

/// One drawn OTP: as stored, as answered, and its code (`TwoFactor::draft`).
struct Draft {
    otp: NewOtp,
    created: Created,
    code: String,
}

/// How the OTP's transaction ended.
enum Stored {
    Written,
    /// Its ids are taken: draw new ones.
    IdTaken,
    /// The request's answer: a refusal, or the first answer of a reused key.
    Answered(Result<Created, Failure>),
    /// A test destination's uses today are past its `dailyUses`: count it anyway.
    OverTestLimit,
}

pub struct TwoFactor {
    pub config: Arc<TwoFactorConfig>,
    pub store: TwoFactorStore,
    pub sms: Arc<dyn SmsSender>,
    pub clock: Arc<dyn Clock>,
    /// Where the handlers' metric lines go (stdout in a Lambda).
    pub metrics: crate::ops::metrics::Metrics,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub numeric_id: u64,
    pub otp_id: Uuid,
    pub reference: String,
    /// Only when the deployment enables returning it.
    pub code: Option<String>,
    pub expires_in_seconds: u64,
    pub phone: String,
    /// For a test destination: nothing was sent, and whether it is past its daily uses.
    pub test_use: Option<TestUse>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub otp_id: Uuid,
    pub remaining_attempts: u32,
    /// Where the code was sent: the backend checks it is the number it has on file.
    pub phone: String,
    /// A test destination's code (no conversion credited).
    pub test: bool,
}

impl Created {
    /// What an `Idempotency-Key` replays: the answer without the code (never stored plain).
    fn to_answer(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.numeric_id, "otp": self.otp_id.to_string(), "ref": self.reference,
            "exp": self.expires_in_seconds, "phone": self.phone,
        })
    }

    fn from_answer(answer: &serde_json::Value) -> Option<Self> {
        Some(Self {
            numeric_id: answer["id"].as_u64()?,
            otp_id: Uuid::parse_str(answer["otp"].as_str()?).ok()?,
            reference: answer["ref"].as_str()?.to_string(),
            code: None,
            expires_in_seconds: answer["exp"].as_u64()?,
            phone: answer["phone"].as_str()?.to_string(),
            test_use: None,
        })
    }
}

/// Request values after defaults and bounds.
struct Limits {
    max_sms_count: u32,
    interval_seconds: u64,
    expiration_seconds: u64,
}

fn limits(request: &CreateRequest, profile: &TwoFactorProfile) -> Result<Limits, Failure> {
    let or_default = |value: i64, default: i64| if value == 0 { default } else { value };
    let count = or_default(request.max_sms_count, profile.default_max_sms_count);
    let interval = or_default(request.max_sms_interval, profile.default_max_sms_interval_seconds);
    let expiration = or_default(request.otp_expiration_period, profile.default_otp_expiration_seconds);
    let mut errors = Vec::new();
    if count > MAX_SMS_COUNT {
        errors.push(format!("MaxSMSCount must be at most {MAX_SMS_COUNT}"));
    }
    if interval > MAX_SMS_INTERVAL_SECONDS {
        errors.push(format!("MaxSMSInterval must be at most {MAX_SMS_INTERVAL_SECONDS} seconds"));
    }
    if expiration > profile.max_otp_expiration_seconds {
        errors.push(format!("OtpExpirationPeriod must be at most {} seconds", profile.max_otp_expiration_seconds));
    }
    if !errors.is_empty() {
        return Err(Failure::invalid(errors.join("; ")));
    }
    Ok(Limits { max_sms_count: count as u32, interval_seconds: interval as u64, expiration_seconds: expiration as u64 })
}

/// The SMS text: the profile's template with the code and the reference filled in, folded
/// into GSM-7, and the profile's autofill lines (`sms_text`).
pub fn sms_text(profile: &TwoFactorProfile, language: &str, code: &str, reference: &str) -> String {
    let (_, template) = profile.message(Some(language));
    profile.autofill.render(&template.replace("{code}", code).replace("{ref}", reference), code)
}

impl TwoFactor {
    /// Everything a family C function needs, from the environment (fails the cold start
    /// with the name of a missing or invalid variable).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = TwoFactorConfig::from_env()?;
        Ok(Self::new(config, &crate::aws::sdk_config().await, Seams::default()))
    }

    /// The one way a family C app is built (functions, local server, tests, benches).
    pub fn new(config: TwoFactorConfig, sdk: &SdkConfig, seams: Seams) -> Self {
        let common = &config.common;
        Self {
            store: TwoFactorStore::new(crate::aws::dynamodb(sdk), common.table_name.clone()),
            sms: seams.sms(sdk, &common.guards.sms_max_price_usd),
            clock: seams.clock(),
            metrics: seams.metrics(&common.metrics_namespace),
            config: Arc::new(config),
        }
    }

    fn profile(&self, id: i64) -> Result<&TwoFactorProfile, Failure> {
        self.config.profiles.get(&id).ok_or(Failure::UnknownConfiguration(id))
    }

    /// `idempotency`: the request's `Idempotency-Key`, if any (see `idempotency`).
    pub async fn create(
        &self,
        request: CreateRequest,
        accept_language: Option<&str>,
        idempotency: Option<&Idempotency>,
    ) -> Result<Created, Failure> {
        self.create_with_ids(request, accept_language, idempotency, codes::numeric_id).await
    }

    /// `create`, drawing numeric ids from `next_id` (tests force collisions with it).
    #[tracing::instrument(
        name = "two_factor_create",
        skip_all,
        fields(phone = %crate::domain::mask::phone(&request.gsm_number), configuration = request.configuration_id)
    )]
    pub async fn create_with_ids(
        &self,
        request: CreateRequest,
        accept_language: Option<&str>,
        idempotency: Option<&Idempotency>,
        mut next_id: impl FnMut() -> u64,
    ) -> Result<Created, Failure> {
        let mut send = self.prepare(&request, accept_language)?;
        // Ids are drawn from 2^31 values, so a taken one is rare but not astronomically so
        // (one in 700 with 3 million OTPs retained); five draws make a refusal negligible.
        for _ in 0..CREATE_ATTEMPTS {
            let now = self.clock.now_ms();
            let draft = self.draft(&request, &send, next_id(), now)?;
            match self.store_otp(&send, &draft, idempotency, now).await? {
                Stored::Written => {}
                Stored::IdTaken => continue,
                Stored::Answered(answer) => return answer,
                Stored::OverTestLimit => {
                    send.over_test_limit = true;
                    send.guards = send.guards.iter().map(|uses| uses.with_max(u32::MAX)).collect();
                    continue;
                }
            }
            let (phone, otp) = (send.phone.as_str(), draft.otp.id);
            if send.test.is_some() {
                let over_limit = send.over_test_limit;
                tracing::warn!(phone = %mask::phone(phone), otp = %otp, over_limit, "test destination: OTP created, nothing sent");
                let test_use = Some(if over_limit { TestUse::OverDailyUses } else { TestUse::Within });
                return Ok(Created { test_use, ..draft.created });
            }
            if request.is_sync {
                self.deliver(&send, &draft, idempotency).await?;
            }
            tracing::info!(phone = %mask::phone(phone), otp = %otp, sync = request.is_sync, "OTP created");
            return Ok(Created { code: self.config.return_otp_code.then_some(draft.code), ..draft.created });
        }
        Err(Failure::Busy)
    }

    /// Everything a create decides before drawing an OTP: its profile and limits, the number,
    /// the language, and the counters its transaction checks.
    fn prepare(&self, request: &CreateRequest, accept_language: Option<&str>) -> Result<Prepared<'_>, Failure> {
        let profile = self.profile(request.configuration_id)?;
        let limits = limits(request, profile)?;
        let now = self.clock.now_ms();
        // A test number is taken as configured (no SMS goes to it, so no allowlist applies).
        // (Read twice only where the profile has test numbers.)
        let listed =
            profile.test.as_ref().and_then(|test| Phone::listed(&request.gsm_number, |e| test.has_number(e, now)));
        let phone = match listed {
            Some(phone) => phone,
            None => Phone::parse_for_sms(&request.gsm_number, &self.config.sms_allowed_countries)
                .map_err(|e| Failure::invalid(format!("GsmNumber {e}")))?,
        };
        let language = profile.message(accept_language).0.to_string();
        let lock = &self.config.common.failure_lock;
        let lock = self.store.failure_lock(phone.as_str(), lock.limit, lock.window_ms());
        let (table, budget) = (self.store.table(), crate::store::guards::Budget::TwoFactor);
        // A test destination costs nothing and reaches nobody: no window, ceiling or breaker
        // counts it (its failure lock and attempt limits still hold).
        let test = profile.test_number(phone.as_str(), now);
        let (windows, guards) = match test {
            Some(test) => {
                (vec![], vec![Guard::test_uses(table, TWO_FACTOR_TEST_PREFIX, phone.as_str(), test.daily_uses)])
            }
            None => (
                vec![
                    self.store.rate_window(phone.as_str(), limits.max_sms_count, limits.interval_seconds * 1000),
                    self.store.daily_window(phone.as_str(), self.config.sms_daily_limit_per_number),
                ],
                self.config.common.guards.sms(table, budget, phone.as_str(), phone.region(), None),
            ),
        };
        Ok(Prepared { profile, limits, phone, language, windows, guards, lock, test, over_test_limit: false })
    }

    /// A new OTP: its ids, code and reference, as stored and as answered.
    fn draft(&self, request: &CreateRequest, send: &Prepared<'_>, numeric_id: u64, now: u64) -> Result<Draft, Failure> {
        let keys = &self.config.common.keys;
        let (profile, phone) = (send.profile, send.phone.as_str());
        let (id, id_plain) = self.new_id(phone, now)?;
        let code = match send.test {
            Some(test) => test.code().to_string(),
            None => codes::numeric_code(profile.code_length),
        };
        let reference = codes::reference_code(profile.reference_length);
        let pk = otp_pk(&id);
        let otp = NewOtp {
            id,
            numeric_id,
            user_id: request.user_id,
            phone: phone.to_string(),
            hash: keys.hash(keys.current_version(), PURPOSE, &id.to_string(), &code).ok_or(Failure::Internal)?,
            key_version: keys.current_version(),
            reference: reference.clone(),
            profile: profile.id,
            language: send.language.clone(),
            source: request.source.clone(),
            created_ms: now,
            expires_ms: now + send.limits.expiration_seconds * 1000,
            max_attempts: self.config.common.max_verify_attempts,
            // A test destination's code is never sent, so never sealed for the sender.
            sealed_code: (!request.is_sync && send.test.is_none()).then(|| keys.seal(code.as_bytes(), pk.as_bytes())),
            id_plain: Some(id_plain),
        };
        let created = Created {
            numeric_id,
            otp_id: id,
            reference,
            code: None,
            expires_in_seconds: send.limits.expiration_seconds,
            phone: phone.to_string(),
            test_use: None,
        };
        Ok(Draft { otp, created, code })
    }

    /// The OTP's one transaction: the OTP, its windows, the number's lock, the guards and the
    /// key's record; a refusal is the request's answer.
    async fn store_otp(
        &self,
        send: &Prepared<'_>,
        draft: &Draft,
        idempotency: Option<&Idempotency>,
        now: u64,
    ) -> Result<Stored, Failure> {
        let phone = send.phone.as_str();
        let mut checks = Guard::plan(&send.guards, now)?;
        if let Some(idempotency) = idempotency {
            checks.append(idempotency.plan(&draft.created.to_answer(), now)?);
        }
        let refused = match self.store.create(&draft.otp, &send.windows, &send.lock, checks, now).await? {
            Sending::Written => return Ok(Stored::Written),
            Sending::Taken { .. } => return Ok(Stored::IdTaken),
            Sending::WindowFull => {
                tracing::info!(phone = %mask::phone(phone), "OTP refused: send limit reached");
                Failure::DestinationLimit
            }
            Sending::KeyTaken { item } => {
                let idempotency = idempotency.ok_or(Failure::KeyInFlight)?;
                let answer = idempotency.replayed(item.as_ref(), now)?;
                return Ok(Stored::Answered(Created::from_answer(&answer).ok_or(Failure::Internal)));
            }
            Sending::Guarded { .. } if send.test.is_some() => return Ok(Stored::OverTestLimit),
            Sending::Guarded { guard, item } => {
                let refusal = send.guards[guard].refusal(item.as_ref(), now);
                tracing::warn!(phone = %mask::phone(phone), rule = ?refusal.rule, "OTP refused: {refusal}");
                Failure::Refused(refusal)
            }
            Sending::Locked => {
                tracing::warn!(phone = %mask::phone(phone), "OTP refused: number locked by failed verifications");
                Failure::TooManyAttempts
            }
        };
        Ok(Stored::Answered(Err(refused)))
    }

    /// The SMS of an `IsSync: true` OTP. Refused, the code never reached the user: it is made
    /// unusable, and a retry with the same key answers the failure again.
    async fn deliver(
        &self,
        send: &Prepared<'_>,
        draft: &Draft,
        idempotency: Option<&Idempotency>,
    ) -> Result<(), Failure> {
        let (profile, phone, id) = (send.profile, send.phone.as_str(), draft.otp.id);
        let text = sms_text(profile, &send.language, &draft.code, &draft.otp.reference);
        let sms = (phone, text.as_str(), profile.sender_id.as_str());
        let Err(err) = send_patiently(&*self.sms, sms, SYNC_ATTEMPTS).await else { return Ok(()) };
        let error = mask::redact(&err.to_string(), phone, &draft.code);
        tracing::error!(phone = %mask::phone(phone), otp = %id, error, "SMS send failed");
        let end = DeliveryEnd::Failed { why: "SMS send failed" };
        self.store.finish_delivery(&id, end, Finishing::Always).await?;
        if let Some(idempotency) = idempotency {
            self.store.key_failed(idempotency).await?;
        }
        Err(Failure::DeliveryFailed)
    }

    /// An opaque id (`ids`) for an OTP sent now to `e164`, and its plaintext.
    fn new_id(&self, e164: &str, now: u64) -> Result<(Uuid, [u8; 16]), Failure> {
        let keys = &self.config.common.keys;
        let cipher = keys.id_cipher(keys.current_version()).ok_or(Failure::Internal)?;
        let mut plain = OtpIdPlain::new(e164, now).ok_or(Failure::Internal)?;
        let id = ids::seal(cipher, plain.pack(), |_| {
            plain = OtpIdPlain::new(e164, now).unwrap_or(plain);
            plain.pack()
        });
        Ok((Uuid::from_bytes(id), plain.pack().to_be_bytes()))
    }

    /// Why a stored OTP cannot be verified now, checked in the order a user would want to
    /// hear it: a used code is "already verified" even when it has expired since.
    pub(super) fn unusable(&self, otp: &StoredOtp, request: &VerifyRequest, now: u64) -> Option<Failure> {
        if otp.user_id != request.user_id.to_string() || otp.delivery == DeliveryState::Failed {
            Some(Failure::NotFound)
        } else if otp.verified {
            Some(Failure::AlreadyUsed)
        } else if otp.attempts >= otp.max_attempts {
            Some(Failure::TooManyAttempts)
        } else if otp.expires_ms <= now {
            Some(Failure::Expired)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> TwoFactorProfile {
        let config = TwoFactorConfig::from_lookup(&|name: &str| match name {
            "TABLE_NAME" => Some("t".into()),
            "OTP_KEYS" => Some(crate::config::LOCAL_ONLY_KEY.into()),
            "ALLOW_LOCAL_SECRETS" => Some("true".into()),
            _ => None,
        })
        .unwrap();
        config.profiles[&1].clone()
    }

    fn request(count: i64, interval: i64, expiration: i64) -> CreateRequest {
        CreateRequest {
            user_id: Uuid::new_v4(),
            gsm_number: "+905321234567".into(),
            configuration_id: 1,
            max_sms_count: count,
            max_sms_interval: interval,
            otp_expiration_period: expiration,
            is_sync: true,
            source: None,
        }
    }

    #[test]
    fn when_limits_are_zero_should_take_the_profile_defaults() {
        let l = limits(&request(0, 0, 0), &profile()).unwrap();
        assert_eq!((l.max_sms_count, l.interval_seconds, l.expiration_seconds), (5, 300, 180));
        let l = limits(&request(2, 60, 600), &profile()).unwrap();
        assert_eq!((l.max_sms_count, l.interval_seconds, l.expiration_seconds), (2, 60, 600));
    }

    #[test]
    fn when_limits_exceed_their_bounds_should_refuse_each() {
        let Err(invalid @ Failure::Invalid(_)) = limits(&request(1001, 86_401, 601), &profile()) else {
            panic!("expected InvalidRequest");
        };
        let message = invalid.to_string();
        assert!(message.contains("MaxSMSCount"));
        assert!(message.contains("MaxSMSInterval"));
        assert!(message.contains("OtpExpirationPeriod must be at most 600"));
    }

    #[test]
    fn when_sms_text_is_built_should_contain_code_and_reference_in_the_language() {
        let p = profile();
        let text = sms_text(&p, "tr", "012345", "ABCD");
        assert!(text.contains("012345") && text.contains("ABCD") && text.starts_with("Dogrulama"), "{text}");
        assert!(sms_text(&p, "es", "1", "R").starts_with("Tu codigo"), "folded into GSM-7");
        assert!(sms_text(&p, "xx", "1", "R").starts_with("Your"));
    }
}
