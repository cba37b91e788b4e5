//! Typed configuration, read once from environment variables at cold start. A missing or
//! invalid variable fails the cold start with a message naming it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::codes::{MAX_CODE_LENGTH, MIN_CODE_LENGTH};
use crate::crypto::{KeyError, KeyRing};

/// Profiles shipped with the service; `TWO_FACTOR_PROFILES` replaces them.
const DEFAULT_PROFILES: &str = include_str!("../../config/two-factor-profiles.json");
const DEFAULT_SMS_COUNTRIES: &str = "AR,BR,CL,CO,ES,MX,PE,PT,TR,US,UY";
/// The key in `local/local.env`; public, so it is refused unless `ALLOW_LOCAL_SECRETS=true`.
pub const LOCAL_ONLY_KEY: &str = "1:local-development-key-never-use-in-production";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("environment variable OTP_KEYS is invalid: {0}")]
    Keys(#[from] KeyError),
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
}

impl TwoFactorProfile {
    fn check(&self) -> Result<(), String> {
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
        Ok(())
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

#[derive(Debug)]
pub struct Config {
    pub table_name: String,
    pub keys: KeyRing,
    pub sms_allowed_countries: BTreeSet<String>,
    pub profiles: BTreeMap<i64, TwoFactorProfile>,
    /// Return the plain OTP in the create answer (test deployments only; off by default).
    pub return_otp_code: bool,
    pub max_verify_attempts: u32,
    /// Family C: SMS per number per 24 h whatever the requests' own limits say (they come
    /// from the caller, so they cannot be the only bound).
    pub sms_daily_limit_per_number: u32,
    pub destination_failure_limit: u32,
    pub destination_failure_window_seconds: u64,
    /// Family A: the user pool the users belong to, as Cognito names it.
    pub user_pool_id: String,
    pub user_pool_client_id: String,
    /// Sender of e-mail (an address of the SES identity).
    pub email_from: String,
    /// Family A send limits per address: `signup_send_limit` per window, and a gap between two.
    pub signup_send_limit: u32,
    pub signup_send_window_seconds: u64,
    pub signup_resend_gap_seconds: u64,
    pub signup_code_ttl_seconds: u64,
    /// Family A: an UNCONFIRMED user is removed (DynamoDB TTL) this long after its last code.
    pub unconfirmed_user_ttl_days: u64,
    /// Family B: the applications allowed to ask for codes, and their send limits.
    pub applications: crate::preregistration::apps::Applications,
    pub cnf_code_ttl_seconds: u64,
    pub cnf_send_limit: u32,
    pub cnf_send_window_seconds: u64,
    pub cnf_resend_gap_seconds: u64,
    /// Per-caller limits, SMS ceilings and the number-block breaker.
    pub guards: crate::guards::Guards,
    /// The CloudWatch namespace of the metric lines (`METRICS_NAMESPACE`; see `metrics`).
    pub metrics_namespace: String,
    /// Every request is answered within this, whatever stalls (below the function's 10 s
    /// timeout, so the caller gets the family's answer, not API Gateway's 503).
    pub request_deadline: std::time::Duration,
    /// Asynchronous SMS: failed sends of one OTP after which the sender gives up and records
    /// it on the item (the stream mapping's first try and its `MaximumRetryAttempts`: 3).
    pub sms_delivery_attempts: u32,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required =
            |name: &'static str| get(name).filter(|v| !v.trim().is_empty()).ok_or(ConfigError::Missing(name));
        let number =
            |name: &'static str, default: u64, range: std::ops::RangeInclusive<u64>| number(&get, name, default, range);

        let key_spec = required("OTP_KEYS")?;
        // Fail closed: the public local keys and test switches need an explicit opt-in, which
        // local/local.env gives and the template never does. (AWS_EXECUTION_ENV, the earlier
        // test, is not set on OS-only runtimes such as provided.al2023.)
        let allow_local_secrets = flag(&get, "ALLOW_LOCAL_SECRETS")?;
        let allow_test_codes = flag(&get, "ALLOW_TEST_CODES")?;
        let local_secret = LOCAL_ONLY_KEY.split_once(':').map(|(_, secret)| secret).unwrap_or_default();
        let uses_local_secret =
            key_spec.split(',').any(|k| k.split_once(':').is_some_and(|(_, secret)| secret.trim() == local_secret));
        if uses_local_secret && !allow_local_secrets {
            return Err(ConfigError::Invalid {
                name: "OTP_KEYS",
                reason: "the public local development key needs ALLOW_LOCAL_SECRETS=true (local use only)".into(),
            });
        }
        let profiles_json = get("TWO_FACTOR_PROFILES").filter(|v| !v.trim().is_empty());
        let profiles: Vec<TwoFactorProfile> =
            serde_json::from_str(profiles_json.as_deref().unwrap_or(DEFAULT_PROFILES))
                .map_err(|e| ConfigError::Invalid { name: "TWO_FACTOR_PROFILES", reason: e.to_string() })?;
        let mut by_id = BTreeMap::new();
        for profile in profiles {
            profile.check().map_err(|reason| ConfigError::Invalid { name: "TWO_FACTOR_PROFILES", reason })?;
            by_id.insert(profile.id, profile);
        }

        let countries = get("SMS_ALLOWED_COUNTRIES").unwrap_or_else(|| DEFAULT_SMS_COUNTRIES.to_string());
        let sms_allowed_countries: BTreeSet<String> =
            countries.split(',').map(|c| c.trim().to_ascii_uppercase()).filter(|c| !c.is_empty()).collect();
        if let Some(bad) =
            sms_allowed_countries.iter().find(|c| c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic()))
        {
            return Err(ConfigError::Invalid {
                name: "SMS_ALLOWED_COUNTRIES",
                reason: format!("'{bad}' is not an ISO 3166-1 alpha-2 code"),
            });
        }

        let return_otp_code = flag(&get, "RETURN_OTP_CODE")?;
        if return_otp_code && !allow_test_codes {
            return Err(ConfigError::Invalid {
                name: "RETURN_OTP_CODE",
                reason: "answering codes needs ALLOW_TEST_CODES=true (test stages only)".into(),
            });
        }

        Ok(Self {
            table_name: required("TABLE_NAME")?,
            keys: KeyRing::parse(&key_spec)?,
            sms_allowed_countries,
            profiles: by_id,
            return_otp_code,
            max_verify_attempts: number("MAX_VERIFY_ATTEMPTS", 5, 1..=20)? as u32,
            sms_daily_limit_per_number: number("SMS_DAILY_LIMIT_PER_NUMBER", 20, 1..=10_000)? as u32,
            destination_failure_limit: number("DESTINATION_FAILURE_LIMIT", 20, 1..=1000)? as u32,
            destination_failure_window_seconds: number("DESTINATION_FAILURE_WINDOW_SECONDS", 3600, 60..=30 * 86_400)?,
            user_pool_id: get("USER_POOL_ID").unwrap_or_else(|| "us-east-1_LocalPool".to_string()),
            user_pool_client_id: get("USER_POOL_CLIENT_ID").unwrap_or_else(|| "local-client".to_string()),
            email_from: match get("EMAIL_FROM") {
                None => "no-reply@example.com".to_string(),
                Some(from) => crate::email::normalise_address(&from)
                    .ok_or(ConfigError::Invalid { name: "EMAIL_FROM", reason: "not an e-mail address".into() })?,
            },
            signup_send_limit: number("SIGNUP_SEND_LIMIT", 5, 1..=1000)? as u32,
            signup_send_window_seconds: number("SIGNUP_SEND_WINDOW_SECONDS", 3600, 1..=86_400)?,
            signup_resend_gap_seconds: number("SIGNUP_RESEND_GAP_SECONDS", 30, 0..=3600)?,
            signup_code_ttl_seconds: number("SIGNUP_CODE_TTL_SECONDS", 86_400, 60..=7 * 86_400)?,
            unconfirmed_user_ttl_days: number("UNCONFIRMED_USER_TTL_DAYS", 30, 1..=3650)?,
            applications: crate::preregistration::apps::Applications::parse(
                &get("CNF_APPLICATIONS").unwrap_or_default(),
                &get,
                !allow_local_secrets,
            )
            .map_err(|reason| ConfigError::Invalid { name: "CNF_APPLICATIONS", reason })?,
            cnf_code_ttl_seconds: number("CNF_CODE_TTL_SECONDS", 600, 60..=3600)?,
            cnf_send_limit: number("CNF_SEND_LIMIT", 5, 1..=1000)? as u32,
            cnf_send_window_seconds: number("CNF_SEND_WINDOW_SECONDS", 3600, 1..=86_400)?,
            cnf_resend_gap_seconds: number("CNF_RESEND_GAP_SECONDS", 30, 0..=3600)?,
            guards: crate::guards::Guards::from_lookup(&get)?,
            metrics_namespace: crate::metrics::namespace(get("METRICS_NAMESPACE"))
                .map_err(|reason| ConfigError::Invalid { name: "METRICS_NAMESPACE", reason })?,
            request_deadline: std::time::Duration::from_millis(number("REQUEST_DEADLINE_MS", 8000, 50..=9500)?),
            sms_delivery_attempts: number("SMS_DELIVERY_ATTEMPTS", 4, 1..=100)? as u32,
        })
    }
}

/// An optional number within `range`, else `default`.
pub(crate) fn number(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    match get(name).filter(|v| !v.trim().is_empty()) {
        None => Ok(default),
        Some(v) => v.trim().parse::<u64>().ok().filter(|n| range.contains(n)).ok_or_else(|| ConfigError::Invalid {
            name,
            reason: format!("expected {}..={}", range.start(), range.end()),
        }),
    }
}

/// An optional `true`/`false`, `false` when absent.
fn flag(get: &impl Fn(&str) -> Option<String>, name: &'static str) -> Result<bool, ConfigError> {
    match get(name).as_deref().map(str::trim) {
        None | Some("") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ConfigError::Invalid { name, reason: "expected true or false".into() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    const BASE: [(&str, &str); 3] =
        [("TABLE_NAME", "t"), ("OTP_KEYS", LOCAL_ONLY_KEY), ("ALLOW_LOCAL_SECRETS", "true")];

    #[test]
    fn when_only_required_variables_are_set_should_use_shipped_defaults() {
        let config = Config::from_lookup(env(&BASE)).unwrap();
        assert_eq!(config.table_name, "t");
        let profile = &config.profiles[&1];
        assert_eq!(profile.code_length, 6);
        assert_eq!(profile.default_max_sms_count, 5);
        assert_eq!(profile.default_max_sms_interval_seconds, 300);
        assert_eq!(profile.default_otp_expiration_seconds, 180);
        assert_eq!(profile.max_otp_expiration_seconds, 600);
        for lang in ["en", "es", "tr"] {
            assert!(profile.messages.contains_key(lang));
        }
        assert_eq!(config.sms_allowed_countries.len(), 11);
        assert!(config.sms_allowed_countries.contains("TR"));
        assert!(!config.return_otp_code);
        assert_eq!(config.max_verify_attempts, 5);
        assert_eq!(config.destination_failure_limit, 20);
        assert_eq!(config.destination_failure_window_seconds, 3600);
        assert_eq!(config.request_deadline, std::time::Duration::from_secs(8), "below the template's 10 s Timeout");
        assert_eq!(config.sms_delivery_attempts, 4, "the mapping's first try and its 3 retries");
    }

    #[test]
    fn when_a_required_variable_is_missing_should_name_it() {
        let err =
            Config::from_lookup(env(&[("OTP_KEYS", LOCAL_ONLY_KEY), ("ALLOW_LOCAL_SECRETS", "true")])).unwrap_err();
        assert!(err.to_string().contains("TABLE_NAME"), "{err}");
        let err = Config::from_lookup(env(&[("TABLE_NAME", "t")])).unwrap_err();
        assert!(err.to_string().contains("OTP_KEYS"), "{err}");
    }

    #[test]
    fn when_the_local_key_is_not_explicitly_allowed_should_refuse_to_start() {
        // As on provided.al2023: no AWS_EXECUTION_ENV, and no opt-in.
        let mut vars = vec![("TABLE_NAME", "t"), ("OTP_KEYS", LOCAL_ONLY_KEY)];
        let err = Config::from_lookup(env(&vars)).unwrap_err();
        assert!(err.to_string().contains("ALLOW_LOCAL_SECRETS"), "{err}");
        // Under another version number, or behind a current key, it is still refused.
        let renumbered = LOCAL_ONLY_KEY.replacen("1:", "7:", 1);
        let rotated = format!("2:0123456789abcdef0123456789abcdef,{renumbered}");
        vars[1] = ("OTP_KEYS", rotated.as_str());
        let err = Config::from_lookup(env(&vars)).unwrap_err();
        assert!(err.to_string().contains("ALLOW_LOCAL_SECRETS"), "{err}");
        vars.push(("ALLOW_LOCAL_SECRETS", "false"));
        assert!(Config::from_lookup(env(&vars)).is_err());
        vars.pop();
        vars.push(("ALLOW_LOCAL_SECRETS", "true"));
        assert!(Config::from_lookup(env(&vars)).is_ok());
    }

    #[test]
    fn when_codes_are_to_be_answered_without_the_test_switch_should_refuse_to_start() {
        let mut vars = BASE.to_vec();
        vars.push(("RETURN_OTP_CODE", "true"));
        let err = Config::from_lookup(env(&vars)).unwrap_err();
        assert!(err.to_string().contains("ALLOW_TEST_CODES"), "{err}");
        vars.push(("ALLOW_TEST_CODES", "true"));
        assert!(Config::from_lookup(env(&vars)).unwrap().return_otp_code);
    }

    #[test]
    fn when_the_demo_key_is_not_explicitly_allowed_should_refuse_to_start() {
        let key = crate::preregistration::apps::LOCAL_DEMO_KEY;
        let vars = [
            ("TABLE_NAME", "t"),
            ("OTP_KEYS", "1:0123456789abcdef0123456789abcdef"),
            ("CNF_APPLICATIONS", "app:APP_KEY"),
            ("APP_KEY", key),
        ];
        let err = Config::from_lookup(env(&vars)).unwrap_err();
        assert!(err.to_string().contains("public local key"), "{err}");
    }

    #[test]
    fn when_values_are_invalid_should_refuse_with_the_variable_name() {
        for (name, value) in [
            ("SMS_ALLOWED_COUNTRIES", "TR,TUR"),
            ("RETURN_OTP_CODE", "yes"),
            ("MAX_VERIFY_ATTEMPTS", "0"),
            ("TWO_FACTOR_PROFILES", "[{\"id\":1}]"),
        ] {
            let mut vars = BASE.to_vec();
            vars.push((name, value));
            let err = Config::from_lookup(env(&vars)).unwrap_err();
            assert!(err.to_string().contains(name), "{name}: {err}");
        }
    }

    #[test]
    fn when_profile_message_lacks_the_code_should_refuse() {
        let profiles = DEFAULT_PROFILES.replace("Your verification code is {code}", "Hello");
        let mut vars = BASE.to_vec();
        vars.push(("TWO_FACTOR_PROFILES", &profiles));
        assert!(Config::from_lookup(env(&vars)).is_err());
    }

    #[test]
    fn when_accept_language_names_a_known_language_should_pick_its_text() {
        let config = Config::from_lookup(env(&BASE)).unwrap();
        let profile = &config.profiles[&1];
        assert_eq!(profile.message(Some("tr-TR,tr;q=0.9")).0, "tr");
        assert_eq!(profile.message(Some("de-DE, es;q=0.5")).0, "es");
        assert_eq!(profile.message(Some("de")).0, "en");
        assert_eq!(profile.message(None).0, "en");
    }
}
