//! Family C's section: the SMS profiles, where SMS may go, and its own limits.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::config::test_destinations::{Allowed, CODE_VARIABLE, TestDestinations};
use crate::config::{Common, ConfigError, Lookup, flag, number, sms_allowed_countries};
use crate::domain::clock::{Clock, SystemClock};
use crate::domain::codes::{MAX_CODE_LENGTH, MIN_CODE_LENGTH};
use crate::domain::sms_text::{Autofill, check_one_segment};

/// Profiles shipped with the service; `TWO_FACTOR_PROFILES` replaces them.
pub(crate) const DEFAULT_PROFILES: &str = include_str!("../../../config/two-factor-profiles.json");

#[derive(Debug)]
pub struct TwoFactorConfig {
    pub common: Common,
    pub sms_allowed_countries: BTreeSet<String>,
    pub profiles: BTreeMap<i64, TwoFactorProfile>,
    /// Return the plain OTP in the create answer (test deployments only; off by default).
    pub return_otp_code: bool,
    /// SMS per number per 24 h whatever the requests' own limits say (they come from the
    /// caller, so they cannot be the only bound).
    pub sms_daily_limit_per_number: u32,
    /// Asynchronous SMS: failed sends of one OTP after which the sender gives up and records
    /// it on the item (the stream mapping's first try and its `MaximumRetryAttempts`: 3).
    pub sms_delivery_attempts: u32,
}

impl TwoFactorConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&crate::config::environment)
    }

    pub fn from_lookup(get: &impl Lookup) -> Result<Self, ConfigError> {
        let common = Common::from_lookup(get)?;
        let profiles_json = get("TWO_FACTOR_PROFILES").filter(|v| !v.trim().is_empty());
        let profiles: Vec<TwoFactorProfile> =
            serde_json::from_str(profiles_json.as_deref().unwrap_or(DEFAULT_PROFILES))
                .map_err(|e| ConfigError::Invalid { name: "TWO_FACTOR_PROFILES", reason: e.to_string() })?;
        let mut by_id = BTreeMap::new();
        let test_code = get(CODE_VARIABLE);
        let now = SystemClock.now_ms();
        for mut profile in profiles {
            profile
                .check(test_code.as_deref(), now, common.allow_local_secrets)
                .map_err(|reason| ConfigError::Invalid { name: "TWO_FACTOR_PROFILES", reason })?;
            by_id.insert(profile.id, profile);
        }
        let return_otp_code = flag(get, "RETURN_OTP_CODE")?;
        if return_otp_code && !flag(get, "ALLOW_TEST_CODES")? {
            return Err(ConfigError::Invalid {
                name: "RETURN_OTP_CODE",
                reason: "answering codes needs ALLOW_TEST_CODES=true (test stages only)".into(),
            });
        }
        Ok(Self {
            common,
            sms_allowed_countries: sms_allowed_countries(get)?,
            profiles: by_id,
            return_otp_code,
            sms_daily_limit_per_number: number(get, "SMS_DAILY_LIMIT_PER_NUMBER", 20, 1..=10_000)? as u32,
            sms_delivery_attempts: number(get, "SMS_DELIVERY_ATTEMPTS", 4, 1..=100)? as u32,
        })
    }
}

impl TwoFactorConfig {
    /// Whether `e164` is a test destination of any profile now: its verification credits no
    /// block (the OTP's profile is not read on the one-call path).
    pub fn is_test_number(&self, e164: &str, now_ms: u64) -> bool {
        self.profiles.values().any(|profile| profile.test_number(e164, now_ms).is_some())
    }
}

/// A `TwoFactorConfigurationId` profile: code shape, texts and default limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TwoFactorProfile {
    pub id: i64,
    pub code_length: usize,
    pub reference_length: usize,
    pub sender_id: String,
    pub default_language: String,
    pub default_max_sms_count: i64,
    pub default_max_sms_interval_seconds: i64,
    pub default_otp_expiration_seconds: i64,
    pub max_otp_expiration_seconds: i64,
    /// Language (ISO 639-1) -> text with `{code}` and `{ref}` placeholders.
    pub messages: BTreeMap<String, String>,
    /// Autofill (`sms_text::Autofill`): the host of the site the codes are for, the host of
    /// the iframe that asks for them when the site embeds it, the Android apps' SMS Retriever
    /// hashes. All optional.
    #[serde(default)]
    pub origin: Option<String>,
    #[serde(default)]
    pub embedded_origin: Option<String>,
    #[serde(default)]
    pub android_app_hashes: Vec<String>,
    /// Made of the three above by `check`.
    #[serde(skip)]
    pub autofill: Autofill,
    /// Test destinations (`config::test_destinations`), as written; `test` once checked.
    #[serde(default)]
    pub test_destinations: Option<serde_json::Value>,
    #[serde(skip)]
    pub test: Option<TestDestinations>,
}

impl TwoFactorProfile {
    /// Refuses a profile that could not work, and makes its `autofill`: every message, with
    /// the longest code and reference and the autofill lines, must fit one SMS segment.
    fn check(&mut self, test_code: Option<&str>, now_ms: u64, local: bool) -> Result<(), String> {
        let id = self.id;
        if !(MIN_CODE_LENGTH..=MAX_CODE_LENGTH).contains(&self.code_length) {
            return Err(format!("profile {id}: codeLength must be {MIN_CODE_LENGTH} to {MAX_CODE_LENGTH}"));
        }
        if !(2..=8).contains(&self.reference_length) {
            return Err(format!("profile {id}: referenceLength must be 2 to 8"));
        }
        if !self.messages.contains_key(&self.default_language) {
            return Err(format!("profile {id}: no message for defaultLanguage"));
        }
        if let Some((lang, _)) = self.messages.iter().find(|(_, t)| !t.contains("{code}") || !t.contains("{ref}")) {
            return Err(format!("profile {id}: message '{lang}' lacks {{code}} or {{ref}}"));
        }
        let positive = [
            self.default_max_sms_count,
            self.default_max_sms_interval_seconds,
            self.default_otp_expiration_seconds,
            self.max_otp_expiration_seconds,
        ];
        if positive.iter().any(|v| *v <= 0) || self.default_otp_expiration_seconds > self.max_otp_expiration_seconds {
            return Err(format!("profile {id}: limits must be positive and the default expiry within the maximum"));
        }
        self.autofill =
            Autofill::new(self.origin.as_deref(), self.embedded_origin.as_deref(), &self.android_app_hashes)
                .map_err(|why| format!("profile {id}: {why}"))?;
        // The longest code and reference (a reference is capital letters: one septet each).
        let (code, reference) = ("9".repeat(self.code_length), "W".repeat(self.reference_length));
        for (language, message) in &self.messages {
            let text = self.autofill.render(&message.replace("{code}", &code).replace("{ref}", &reference), &code);
            check_one_segment(&text).map_err(|why| format!("profile {id}, message '{language}': {why}"))?;
        }
        if let Some(list) = &self.test_destinations {
            let allowed = Allowed { numbers: true, email: false, code_length: self.code_length, local };
            let test = TestDestinations::parse(list, test_code, allowed, now_ms)
                .map_err(|why| format!("profile {id}: {why}"))?;
            test.log(&format!("TWO_FACTOR_PROFILES profile {id}"), now_ms);
            self.test = Some(test);
        }
        Ok(())
    }

    /// The profile's test destinations holding `e164` now, if it is one.
    pub fn test_number(&self, e164: &str, now_ms: u64) -> Option<&TestDestinations> {
        self.test.as_ref().filter(|test| test.has_number(e164, now_ms))
    }

    /// The message text for an `Accept-Language` value, else the profile's default language.
    pub fn message(&self, accept_language: Option<&str>) -> (&str, &str) {
        let wanted = accept_language.into_iter().flat_map(|h| h.split(',')).filter_map(|part| {
            let tag = part.split(';').next()?.trim();
            tag.split(['-', '_']).next().map(str::to_ascii_lowercase)
        });
        for lang in wanted {
            if let Some((key, text)) = self.messages.get_key_value(lang.as_str()) {
                return (key, text);
            }
        }
        let text = &self.messages[&self.default_language];
        (&self.default_language, text)
    }
}
