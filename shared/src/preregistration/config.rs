//! Family B's section: the applications that may ask for codes, where SMS may go, and the
//! send policy (`CNF_*`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::apps::Applications;
use super::{CODE_LENGTH, Language, texts};
use crate::config::test_destinations::{Allowed, CODE_VARIABLE, TestDestinations};
use crate::config::{Common, ConfigError, Lookup, SendPolicy, SendPolicyVariables, email_from, sms_allowed_countries};
use crate::domain::clock::{Clock, SystemClock};
use crate::domain::sms_text::{Autofill, check_one_segment};

#[derive(Debug)]
pub struct PreregistrationConfig {
    pub common: Common,
    pub sms_allowed_countries: BTreeSet<String>,
    /// The applications allowed to ask for codes (and their keys).
    pub applications: Applications,
    pub email_from: String,
    pub send: SendPolicy,
    /// Each application's autofill (`CNF_APP_AUTOFILL`); none for an application not named.
    pub autofill: BTreeMap<String, Autofill>,
    /// Each application's test numbers (`CNF_TEST_DESTINATIONS`, `config::test_destinations`).
    pub test_destinations: BTreeMap<String, TestDestinations>,
}

impl PreregistrationConfig {
    /// `application`'s test destinations holding `e164` now, if it is one.
    pub fn test_number(&self, application: &str, e164: &str, now_ms: u64) -> Option<&TestDestinations> {
        self.test_destinations.get(application).filter(|test| test.has_number(e164, now_ms))
    }
}

/// `CNF_TEST_DESTINATIONS`: `{"<application>": <a list of test destinations>}`. Numbers only:
/// a validation knows an e-mail address by its keyed tag alone, so it could not tell a test
/// address's code from a real one's without a read.
fn test_destinations(
    get: &impl Lookup,
    applications: &Applications,
    local: bool,
) -> Result<BTreeMap<String, TestDestinations>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid { name: "CNF_TEST_DESTINATIONS", reason };
    let raw = get("CNF_TEST_DESTINATIONS").filter(|v| !v.trim().is_empty()).unwrap_or_else(|| "{}".into());
    let lists: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&raw).map_err(|e| invalid(format!("not the documented JSON: {e}")))?;
    let (code, now) = (get(CODE_VARIABLE), SystemClock.now_ms());
    let allowed = Allowed { numbers: true, email: false, code_length: CODE_LENGTH, local };
    let mut out = BTreeMap::new();
    for (app, list) in lists {
        if applications.get(&app).is_none() {
            return Err(invalid(format!("'{app}' is not in CNF_APPLICATIONS")));
        }
        let test = TestDestinations::parse(&list, code.as_deref(), allowed, now)
            .map_err(|why| invalid(format!("{app}: {why}")))?;
        test.log(&format!("CNF_TEST_DESTINATIONS {app}"), now);
        out.insert(app, test);
    }
    Ok(out)
}

/// One application's entry of `CNF_APP_AUTOFILL`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AutofillSettings {
    origin: Option<String>,
    embedded_origin: Option<String>,
    #[serde(default)]
    android_app_hashes: Vec<String>,
}

/// `CNF_APP_AUTOFILL`: `{"<application>": {"origin": "example.com", "embeddedOrigin":
/// "iframe.example", "androidAppHashes": ["FA+9qCX9VSu"]}}`, every key optional. Refused when
/// it names an unknown application, or when any SMS of any application could need a second
/// segment in any language.
fn autofill(
    get: &impl Lookup,
    applications: &Applications,
    ttl_seconds: u64,
) -> Result<BTreeMap<String, Autofill>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid { name: "CNF_APP_AUTOFILL", reason };
    let raw = get("CNF_APP_AUTOFILL").filter(|v| !v.trim().is_empty()).unwrap_or_else(|| "{}".into());
    let settings: BTreeMap<String, AutofillSettings> =
        serde_json::from_str(&raw).map_err(|e| invalid(format!("not the documented JSON: {e}")))?;
    let mut out = BTreeMap::new();
    for (app, s) in settings {
        if applications.get(&app).is_none() {
            return Err(invalid(format!("'{app}' is not in CNF_APPLICATIONS")));
        }
        let autofill = Autofill::new(s.origin.as_deref(), s.embedded_origin.as_deref(), &s.android_app_hashes)
            .map_err(|why| invalid(format!("{app}: {why}")))?;
        out.insert(app, autofill);
    }
    // Every application's SMS, with the longest code and validity, in every language.
    let code = "9".repeat(CODE_LENGTH);
    let plain = Autofill::default();
    for app in applications.ids() {
        let autofill = out.get(app).unwrap_or(&plain);
        for language in [Language::Es, Language::En, Language::Pt] {
            let (sms, ..) = texts(language, &code, ttl_seconds / 60);
            check_one_segment(&autofill.render(&sms, &code))
                .map_err(|why| invalid(format!("{app}, {}: {why}", language.code())))?;
        }
    }
    Ok(out)
}

impl PreregistrationConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&crate::config::environment)
    }

    pub fn from_lookup(get: &impl Lookup) -> Result<Self, ConfigError> {
        let common = Common::from_lookup(get)?;
        let applications =
            Applications::parse(&get("CNF_APPLICATIONS").unwrap_or_default(), get, !common.allow_local_secrets)
                .map_err(|reason| ConfigError::Invalid { name: "CNF_APPLICATIONS", reason })?;
        let send = SendPolicy::from_lookup(
            get,
            SendPolicyVariables {
                limit: "CNF_SEND_LIMIT",
                window: "CNF_SEND_WINDOW_SECONDS",
                gap: "CNF_RESEND_GAP_SECONDS",
                ttl: "CNF_CODE_TTL_SECONDS",
                ttl_default: 600,
                ttl_range: 60..=3600,
            },
        )?;
        Ok(Self {
            sms_allowed_countries: sms_allowed_countries(get)?,
            autofill: autofill(get, &applications, send.code_ttl_seconds)?,
            test_destinations: test_destinations(get, &applications, common.allow_local_secrets)?,
            applications,
            email_from: email_from(get)?,
            send,
            common,
        })
    }
}
