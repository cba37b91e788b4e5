//! Typed configuration, read once from environment variables at cold start, in sections: the
//! `Common` section every function reads, and one section per family that only that family's
//! functions read (a bad family B variable cannot stop family C's cold start). A missing or
//! invalid variable fails the cold start with a message naming it.

mod guards;
pub mod test_destinations;

use std::collections::BTreeSet;
use std::time::Duration;

pub use guards::Guards;

use crate::domain::crypto::{KeyError, KeyRing};

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

/// How a section reads a variable: the process environment in a Lambda, a map in tests.
pub trait Lookup: Fn(&str) -> Option<String> {}
impl<F: Fn(&str) -> Option<String>> Lookup for F {}

/// What every function reads: the table, the keys, verification limits, the guards, and how
/// it reports and bounds a request.
#[derive(Debug)]
pub struct Common {
    pub table_name: String,
    pub keys: KeyRing,
    /// The public local secrets may be used (`ALLOW_LOCAL_SECRETS=true`, local runs only).
    pub allow_local_secrets: bool,
    pub max_verify_attempts: u32,
    pub failure_lock: FailureLock,
    /// Per-caller limits, SMS ceilings and the number-block breaker.
    pub guards: Guards,
    /// The CloudWatch namespace of the metric lines (`METRICS_NAMESPACE`; see `metrics`).
    pub metrics_namespace: String,
    /// Every request is answered within this, whatever stalls (below the function's 10 s
    /// timeout, so the caller gets the family's answer, not API Gateway's 503).
    pub request_deadline: Duration,
}

/// Failed verifications per destination after which it is locked, in a window.
#[derive(Debug, Clone, Copy)]
pub struct FailureLock {
    pub limit: u32,
    pub window_seconds: u64,
}

impl FailureLock {
    pub fn window_ms(&self) -> u64 {
        self.window_seconds * 1000
    }
}

/// How often codes may be sent to one destination, and how long a code lives (families A
/// and B: `SIGNUP_*` and `CNF_*`).
#[derive(Debug, Clone, Copy)]
pub struct SendPolicy {
    /// Codes per destination per window.
    pub limit: u32,
    pub window_seconds: u64,
    /// The least time between two codes to one destination (0: none).
    pub resend_gap_seconds: u64,
    pub code_ttl_seconds: u64,
}

/// The variables of one family's send policy, and its code lifetime's default and range.
pub struct SendPolicyVariables {
    pub limit: &'static str,
    pub window: &'static str,
    pub gap: &'static str,
    pub ttl: &'static str,
    pub ttl_default: u64,
    pub ttl_range: std::ops::RangeInclusive<u64>,
}

impl SendPolicy {
    pub fn from_lookup(get: &impl Lookup, vars: SendPolicyVariables) -> Result<Self, ConfigError> {
        Ok(Self {
            limit: number(get, vars.limit, 5, 1..=1000)? as u32,
            window_seconds: number(get, vars.window, 3600, 1..=86_400)?,
            resend_gap_seconds: number(get, vars.gap, 30, 0..=3600)?,
            code_ttl_seconds: number(get, vars.ttl, vars.ttl_default, vars.ttl_range)?,
        })
    }
}

impl Common {
    pub fn from_lookup(get: &impl Lookup) -> Result<Self, ConfigError> {
        let key_spec = required(get, "OTP_KEYS")?;
        // Fail closed: the public local keys and test switches need an explicit opt-in, which
        // local/local.env gives and the template never does. (AWS_EXECUTION_ENV, the earlier
        // test, is not set on OS-only runtimes such as provided.al2023.)
        let allow_local_secrets = flag(get, "ALLOW_LOCAL_SECRETS")?;
        let local_secret = LOCAL_ONLY_KEY.split_once(':').map(|(_, secret)| secret).unwrap_or_default();
        let uses_local_secret =
            key_spec.split(',').any(|k| k.split_once(':').is_some_and(|(_, secret)| secret.trim() == local_secret));
        if uses_local_secret && !allow_local_secrets {
            return Err(ConfigError::Invalid {
                name: "OTP_KEYS",
                reason: "the public local development key needs ALLOW_LOCAL_SECRETS=true (local use only)".into(),
            });
        }
        Ok(Self {
            table_name: required(get, "TABLE_NAME")?,
            keys: KeyRing::parse(&key_spec)?,
            allow_local_secrets,
            max_verify_attempts: number(get, "MAX_VERIFY_ATTEMPTS", 5, 1..=20)? as u32,
            failure_lock: FailureLock {
                limit: number(get, "DESTINATION_FAILURE_LIMIT", 20, 1..=1000)? as u32,
                window_seconds: number(get, "DESTINATION_FAILURE_WINDOW_SECONDS", 3600, 60..=30 * 86_400)?,
            },
            guards: Guards::from_lookup(get)?,
            metrics_namespace: metrics_namespace(get("METRICS_NAMESPACE"))
                .map_err(|reason| ConfigError::Invalid { name: "METRICS_NAMESPACE", reason })?,
            request_deadline: Duration::from_millis(number(get, "REQUEST_DEADLINE_MS", 8000, 50..=9500)?),
        })
    }
}

/// `METRICS_NAMESPACE`, checked as CloudWatch checks namespaces: 1-255 characters of letters,
/// digits and `. - _ / # : ` and space, not in the `AWS/` space.
pub fn metrics_namespace(value: Option<String>) -> Result<String, String> {
    let value = value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let namespace = value.unwrap_or_else(|| crate::ops::metrics::DEFAULT_NAMESPACE.to_string());
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c);
    if namespace.len() > 255 || !namespace.chars().all(allowed) {
        return Err("expected 1-255 letters, digits, spaces or . - _ / # :".into());
    }
    if namespace.starts_with("AWS/") {
        return Err("the AWS/ namespaces are AWS's own".into());
    }
    Ok(namespace)
}

/// The process environment, as sections read it.
pub fn environment(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn required(get: &impl Lookup, name: &'static str) -> Result<String, ConfigError> {
    get(name).filter(|v| !v.trim().is_empty()).ok_or(ConfigError::Missing(name))
}

/// The countries SMS may go to (families B and C), ISO 3166-1 alpha-2.
pub fn sms_allowed_countries(get: &impl Lookup) -> Result<BTreeSet<String>, ConfigError> {
    let countries = get("SMS_ALLOWED_COUNTRIES").unwrap_or_else(|| DEFAULT_SMS_COUNTRIES.to_string());
    let allowed: BTreeSet<String> =
        countries.split(',').map(|c| c.trim().to_ascii_uppercase()).filter(|c| !c.is_empty()).collect();
    match allowed.iter().find(|c| c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic())) {
        Some(bad) => Err(ConfigError::Invalid {
            name: "SMS_ALLOWED_COUNTRIES",
            reason: format!("'{bad}' is not an ISO 3166-1 alpha-2 code"),
        }),
        None => Ok(allowed),
    }
}

/// The sender of e-mail (families A and B): an address of the SES identity.
pub fn email_from(get: &impl Lookup) -> Result<String, ConfigError> {
    match get("EMAIL_FROM") {
        None => Ok("no-reply@example.com".to_string()),
        Some(from) => crate::domain::email::normalise_address(&from)
            .ok_or(ConfigError::Invalid { name: "EMAIL_FROM", reason: "not an e-mail address".into() }),
    }
}

/// An optional number within `range`, else `default`.
pub fn number(
    get: &impl Lookup,
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
pub fn flag(get: &impl Lookup, name: &'static str) -> Result<bool, ConfigError> {
    match get(name).as_deref().map(str::trim) {
        None | Some("") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ConfigError::Invalid { name, reason: "expected true or false".into() }),
    }
}
#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::preregistration::PreregistrationConfig;
    use crate::signup::SignupConfig;
    use crate::twofactor::TwoFactorConfig;
    use crate::twofactor::config as two_factor;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    const BASE: [(&str, &str); 3] =
        [("TABLE_NAME", "t"), ("OTP_KEYS", LOCAL_ONLY_KEY), ("ALLOW_LOCAL_SECRETS", "true")];

    #[test]
    fn when_only_required_variables_are_set_should_use_shipped_defaults() {
        let config = TwoFactorConfig::from_lookup(&env(&BASE)).unwrap();
        assert_eq!(config.common.table_name, "t");
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
        assert_eq!(config.common.max_verify_attempts, 5);
        assert_eq!(config.common.failure_lock.limit, 20);
        assert_eq!(config.common.failure_lock.window_seconds, 3600);
        let deadline = config.common.request_deadline;
        assert_eq!(deadline, std::time::Duration::from_secs(8), "below the template's 10 s Timeout");
        assert_eq!(config.sms_delivery_attempts, 4, "the mapping's first try and its 3 retries");
    }

    #[test]
    fn when_a_required_variable_is_missing_should_name_it() {
        let err =
            Common::from_lookup(&env(&[("OTP_KEYS", LOCAL_ONLY_KEY), ("ALLOW_LOCAL_SECRETS", "true")])).unwrap_err();
        assert!(err.to_string().contains("TABLE_NAME"), "{err}");
        let err = Common::from_lookup(&env(&[("TABLE_NAME", "t")])).unwrap_err();
        assert!(err.to_string().contains("OTP_KEYS"), "{err}");
    }

    #[test]
    fn when_the_local_key_is_not_explicitly_allowed_should_refuse_to_start() {
        // As on provided.al2023: no AWS_EXECUTION_ENV, and no opt-in.
        let mut vars = vec![("TABLE_NAME", "t"), ("OTP_KEYS", LOCAL_ONLY_KEY)];
        let err = Common::from_lookup(&env(&vars)).unwrap_err();
        assert!(err.to_string().contains("ALLOW_LOCAL_SECRETS"), "{err}");
        // Under another version number, or behind a current key, it is still refused.
        let renumbered = LOCAL_ONLY_KEY.replacen("1:", "7:", 1);
        let rotated = format!("2:0123456789abcdef0123456789abcdef,{renumbered}");
        vars[1] = ("OTP_KEYS", rotated.as_str());
        let err = Common::from_lookup(&env(&vars)).unwrap_err();
        assert!(err.to_string().contains("ALLOW_LOCAL_SECRETS"), "{err}");
        vars.push(("ALLOW_LOCAL_SECRETS", "false"));
        assert!(Common::from_lookup(&env(&vars)).is_err());
        vars.pop();
        vars.push(("ALLOW_LOCAL_SECRETS", "true"));
        assert!(Common::from_lookup(&env(&vars)).is_ok());
    }

    #[test]
    fn when_codes_are_to_be_answered_without_the_test_switch_should_refuse_to_start() {
        let mut vars = BASE.to_vec();
        vars.push(("RETURN_OTP_CODE", "true"));
        let err = TwoFactorConfig::from_lookup(&env(&vars)).unwrap_err();
        assert!(err.to_string().contains("ALLOW_TEST_CODES"), "{err}");
        vars.push(("ALLOW_TEST_CODES", "true"));
        assert!(TwoFactorConfig::from_lookup(&env(&vars)).unwrap().return_otp_code);
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
        let err = PreregistrationConfig::from_lookup(&env(&vars)).unwrap_err();
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
            let err = TwoFactorConfig::from_lookup(&env(&vars)).unwrap_err();
            assert!(err.to_string().contains(name), "{name}: {err}");
        }
    }

    #[test]
    fn when_profile_message_lacks_the_code_should_refuse() {
        let profiles = two_factor::DEFAULT_PROFILES.replace("Your verification code is {code}", "Hello");
        let mut vars = BASE.to_vec();
        vars.push(("TWO_FACTOR_PROFILES", &profiles));
        assert!(TwoFactorConfig::from_lookup(&env(&vars)).is_err());
    }

    #[test]
    fn when_autofill_could_not_fit_or_is_not_a_host_should_refuse_to_start_naming_the_setting() {
        let profile = |origin: &str| {
            let mut profiles: serde_json::Value = serde_json::from_str(two_factor::DEFAULT_PROFILES).unwrap();
            profiles[0]["origin"] = serde_json::json!(origin);
            profiles[0]["androidAppHashes"] = serde_json::json!(["FA+9qCX9VSu"]);
            profiles.to_string()
        };
        let start = |profiles: &str| {
            let mut vars = BASE.to_vec();
            vars.push(("TWO_FACTOR_PROFILES", profiles));
            TwoFactorConfig::from_lookup(&env(&vars)).map(|_| ())
        };
        assert!(start(&profile("login.example.com")).is_ok());
        for (origin, why) in
            [("https://login.example.com", "no scheme"), (&format!("{}.example.com", "a".repeat(60)), "segment")]
        {
            let err = start(&profile(origin)).unwrap_err().to_string();
            assert!(err.contains("TWO_FACTOR_PROFILES") && err.contains(why), "{origin}: {err}");
        }
        // Family B: per application, in every language.
        let b = |autofill: &str| {
            let mut vars = BASE.to_vec();
            vars.extend([("CNF_APPLICATIONS", "app"), ("CNF_APP_AUTOFILL", autofill)]);
            PreregistrationConfig::from_lookup(&env(&vars)).map(|c| c.autofill.len())
        };
        assert_eq!(b(r#"{"app": {"origin": "signup.example.com"}}"#).unwrap(), 1);
        let long = format!(r#"{{"app": {{"origin": "{}.{}.example.com"}}}}"#, "b".repeat(63), "c".repeat(40));
        for (autofill, why) in [
            (r#"{"nobody": {"origin": "signup.example.com"}}"#, "not in CNF_APPLICATIONS"),
            (r#"{"app": {"origin": "signup.example.com", "androidAppHashes": ["short"]}}"#, "11 characters"),
            (r#"{"app": {"origins": "x"}}"#, "documented JSON"),
            (long.as_str(), "segment"),
        ] {
            let err = b(autofill).unwrap_err().to_string();
            assert!(err.contains("CNF_APP_AUTOFILL") && err.contains(why), "{autofill}: {err}");
        }
    }

    #[test]
    fn when_accept_language_names_a_known_language_should_pick_its_text() {
        let config = TwoFactorConfig::from_lookup(&env(&BASE)).unwrap();
        let profile = &config.profiles[&1];
        assert_eq!(profile.message(Some("tr-TR,tr;q=0.9")).0, "tr");
        assert_eq!(profile.message(Some("de-DE, es;q=0.5")).0, "es");
        assert_eq!(profile.message(Some("de")).0, "en");
        assert_eq!(profile.message(None).0, "en");
    }

    #[test]
    fn when_another_familys_variable_is_invalid_should_still_start() {
        // Family C does not read CNF_APPLICATIONS, SIGNUP_* or EMAIL_FROM; family A does not
        // read the SMS profiles or countries.
        let mut vars = BASE.to_vec();
        vars.extend([("CNF_APPLICATIONS", "demo:NO_SUCH_KEY"), ("EMAIL_FROM", "nobody"), ("SIGNUP_SEND_LIMIT", "x")]);
        assert!(TwoFactorConfig::from_lookup(&env(&vars)).is_ok());
        assert!(PreregistrationConfig::from_lookup(&env(&vars)).is_err());
        assert!(SignupConfig::from_lookup(&env(&vars)).is_err());
        let mut vars = BASE.to_vec();
        vars.extend([("TWO_FACTOR_PROFILES", "[]x"), ("SMS_DELIVERY_ATTEMPTS", "0"), ("CNF_SEND_LIMIT", "0")]);
        assert!(SignupConfig::from_lookup(&env(&vars)).is_ok());
        assert!(TwoFactorConfig::from_lookup(&env(&vars)).is_err());
        assert!(PreregistrationConfig::from_lookup(&env(&vars)).is_err());
    }

    #[test]
    fn when_families_a_and_b_set_their_send_policies_should_each_read_its_own() {
        let mut vars = BASE.to_vec();
        vars.extend([("SIGNUP_SEND_LIMIT", "7"), ("SIGNUP_CODE_TTL_SECONDS", "7200"), ("CNF_RESEND_GAP_SECONDS", "0")]);
        let signup = SignupConfig::from_lookup(&env(&vars)).unwrap().send;
        assert_eq!(
            (signup.limit, signup.window_seconds, signup.resend_gap_seconds, signup.code_ttl_seconds),
            (7, 3600, 30, 7200)
        );
        let cnf = PreregistrationConfig::from_lookup(&env(&vars)).unwrap().send;
        assert_eq!((cnf.limit, cnf.window_seconds, cnf.resend_gap_seconds, cnf.code_ttl_seconds), (5, 3600, 0, 600));
        vars.push(("CNF_CODE_TTL_SECONDS", "7200"));
        let err = PreregistrationConfig::from_lookup(&env(&vars)).unwrap_err();
        assert!(err.to_string().contains("CNF_CODE_TTL_SECONDS"), "family B's codes live at most an hour: {err}");
    }

    #[test]
    fn when_a_namespace_is_configured_should_accept_only_what_cloudwatch_does() {
        assert_eq!(metrics_namespace(None).unwrap(), crate::ops::metrics::DEFAULT_NAMESPACE);
        assert_eq!(
            metrics_namespace(Some("VerificationCodes/prod-stack".into())).unwrap(),
            "VerificationCodes/prod-stack"
        );
        for bad in ["AWS/Lambda", "a\"b", "x".repeat(256).as_str(), "ünï"] {
            assert!(metrics_namespace(Some(bad.into())).is_err(), "{bad}");
        }
    }
}
