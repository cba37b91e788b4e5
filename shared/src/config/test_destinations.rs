//! Test destinations: numbers (and, for e-mail, addresses on one domain) that app-store
//! reviewers, QA and monitoring sign in with in production. A code to one is the fixed
//! `TEST_DESTINATION_CODE` (a Secrets Manager reference in the template): nothing is sent,
//! no guard, ceiling or conversion counts it, and the code's own attempt limits still apply.
//!
//! A list is written as JSON (a family C profile's `testDestinations`, family B's
//! `CNF_TEST_DESTINATIONS` per application, family A's `SIGNUP_TEST_DESTINATIONS`):
//! `{"expires": "2027-06-30", "numbers": ["+12025550123", {"number": "+34600000000",
//! "acknowledged": "QA phone of the store team"}], "emailDomain": "review.example.com",
//! "dailyUses": 50}`. A number must be in a range reserved for fiction (`domain::fiction`) or
//! carry an acknowledgement, which is logged at every start; the list stops working after its
//! `expires` day (UTC) and a start with a past one fails.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Deserialize;

use crate::domain::email::EmailAddress;
use crate::domain::fiction;
use crate::domain::phone::Phone;

/// The variable holding the fixed code of every test destination.
pub const CODE_VARIABLE: &str = "TEST_DESTINATION_CODE";

const DAY_MS: u64 = 86_400_000;
/// A list lives at most this long past a start: a back door nobody reviews stays open forever.
const MAX_DAYS_AHEAD: u64 = 366;
/// Starts log a warning this close to a list's end: past it, every cold start of the family
/// fails until the list is renewed or removed.
const WARN_DAYS_AHEAD: u64 = 14;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Spec {
    expires: String,
    #[serde(default)]
    numbers: Vec<NumberSpec>,
    #[serde(default)]
    email_domain: Option<String>,
    #[serde(default = "default_daily_uses")]
    daily_uses: u32,
}

fn default_daily_uses() -> u32 {
    50
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberSpec {
    Fictional(String),
    #[serde(rename_all = "camelCase")]
    Acknowledged {
        number: String,
        acknowledged: String,
    },
}

/// How a send to a test destination counted against its `dailyUses`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestUse {
    Within,
    /// Past them today: still answered, and alarmed on (`TestDestinationOverLimit`).
    OverDailyUses,
}

/// What a family asks of its test destinations.
#[derive(Debug, Clone, Copy)]
pub struct Allowed {
    pub numbers: bool,
    pub email: bool,
    /// The code length of the codes these destinations stand in for.
    pub code_length: usize,
    /// A local run (`ALLOW_LOCAL_SECRETS`): its lists may expire any day (fictional numbers on
    /// a developer's machine are no back door; `make run`'s must not expire under it).
    pub local: bool,
}

/// One checked list: its numbers (E.164, each with why it may be one), its e-mail domain,
/// the code, the end of its last day and the uses a day after which the alarm sounds.
#[derive(Clone)]
pub struct TestDestinations {
    numbers: BTreeMap<String, String>,
    email_domain: Option<String>,
    code: String,
    expires_ms: u64,
    pub daily_uses: u32,
}

impl std::fmt::Debug for TestDestinations {
    // The code is a secret: never in a log or a panic message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDestinations")
            .field("numbers", &self.numbers.len())
            .field("email_domain", &self.email_domain)
            .field("expires_ms", &self.expires_ms)
            .field("daily_uses", &self.daily_uses)
            .finish()
    }
}

impl TestDestinations {
    /// Reads and checks a list, or says why it cannot be one (the caller names the setting).
    /// `code`: `TEST_DESTINATION_CODE`'s value; `now_ms`: the start's time.
    pub fn parse(json: &serde_json::Value, code: Option<&str>, allowed: Allowed, now_ms: u64) -> Result<Self, String> {
        let spec: Spec = serde_json::from_value(json.clone()).map_err(|e| format!("test destinations: {e}"))?;
        let day = NaiveDate::parse_from_str(&spec.expires, "%Y-%m-%d")
            .map_err(|_| format!("test destinations: expires {:?} is not a date (YYYY-MM-DD)", spec.expires))?;
        let expires_ms = day
            .succ_opt()
            .and_then(|next| next.and_hms_opt(0, 0, 0))
            .map(|end| end.and_utc().timestamp_millis())
            .and_then(|ms| u64::try_from(ms).ok())
            .ok_or("test destinations: expires is out of range")?;
        if expires_ms <= now_ms {
            return Err(format!("test destinations expired on {} (renew or remove them)", spec.expires));
        }
        if !allowed.local && expires_ms > now_ms + (MAX_DAYS_AHEAD + 1) * DAY_MS {
            return Err(format!(
                "test destinations expire on {}, more than {MAX_DAYS_AHEAD} days ahead (review them at least yearly)",
                spec.expires
            ));
        }
        let code = code
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or(format!("test destinations need {CODE_VARIABLE} (a Secrets Manager reference in the template)"))?;
        if code.len() != allowed.code_length || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "{CODE_VARIABLE} must be {} digits, as the codes it stands in for",
                allowed.code_length
            ));
        }
        if spec.daily_uses == 0 {
            return Err("test destinations: dailyUses must be at least 1".into());
        }
        if !spec.numbers.is_empty() && !allowed.numbers {
            return Err("test destinations: numbers are not used here (an e-mail domain is)".into());
        }
        let mut numbers = BTreeMap::new();
        for entry in spec.numbers {
            let (input, acknowledged) = match entry {
                NumberSpec::Fictional(number) => (number, None),
                NumberSpec::Acknowledged { number, acknowledged } => (number, Some(acknowledged)),
            };
            // A fictional number as written (libphonenumber calls some invalid); any other
            // must be a number SMS could reach.
            let phone = match Phone::listed(&input, |e164| fiction::range_of(e164).is_some()) {
                Some(phone) => phone,
                None => Phone::parse(&input).map_err(|e| format!("test destination {input:?} {e}"))?,
            };
            let why = match (fiction::range_of(phone.as_str()), acknowledged) {
                (_, Some(reason)) if !reason.trim().is_empty() => format!("acknowledged: {}", reason.trim()),
                (Some(range), _) => range.to_string(),
                (None, _) => {
                    return Err(format!(
                        "test destination {} is in no range reserved for fiction: a real person's number needs \
                         {{\"number\": ..., \"acknowledged\": \"why\"}}",
                        crate::domain::mask::phone(phone.as_str())
                    ));
                }
            };
            numbers.insert(phone.as_str().to_string(), why);
        }
        let email_domain = match spec.email_domain {
            Some(_) if !allowed.email => return Err("test destinations: an e-mail domain is not used here".into()),
            Some(domain) => {
                let domain = domain.trim().to_ascii_lowercase();
                EmailAddress::parse(&format!("test@{domain}"))
                    .map_err(|_| format!("test destinations: emailDomain {domain:?} is not a domain"))?;
                Some(domain)
            }
            None => None,
        };
        Ok(Self { numbers, email_domain, code: code.to_string(), expires_ms, daily_uses: spec.daily_uses })
    }

    /// The fixed code of these destinations.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// Whether `e164` is one of these test numbers at `now_ms` (a list past its day is not,
    /// even in a function started before it).
    pub fn has_number(&self, e164: &str, now_ms: u64) -> bool {
        now_ms < self.expires_ms && self.numbers.contains_key(e164)
    }

    /// Whether `address` (lower-cased, as `EmailAddress` holds it) is on the test domain.
    pub fn has_address(&self, address: &str, now_ms: u64) -> bool {
        let on_domain = |domain: &String| address.rsplit_once('@').is_some_and(|(_, d)| d == domain);
        now_ms < self.expires_ms && self.email_domain.as_ref().is_some_and(on_domain)
    }

    /// Logs what is configured (every start, as the issue of real numbers asks): masked
    /// numbers, each with its range or acknowledgement, the domain and the last day; a warning
    /// when the list ends within two weeks of `now_ms`.
    pub fn log(&self, setting: &str, now_ms: u64) {
        let expires_day = chrono::DateTime::from_timestamp_millis(self.expires_ms.saturating_sub(DAY_MS) as i64)
            .map(|t| t.date_naive().to_string())
            .unwrap_or_default();
        for (number, why) in &self.numbers {
            let number = crate::domain::mask::phone(number);
            if why.starts_with("acknowledged") {
                tracing::warn!(setting, %number, why, expires = %expires_day, "test destination outside fiction ranges");
            } else {
                tracing::info!(setting, %number, why, expires = %expires_day, "test destination");
            }
        }
        if let Some(domain) = &self.email_domain {
            tracing::info!(setting, domain, expires = %expires_day, "test e-mail domain");
        }
        if self.expires_ms <= now_ms + WARN_DAYS_AHEAD * DAY_MS {
            tracing::warn!(setting, expires = %expires_day, "test destinations expire soon: after that day every start fails until they are renewed or removed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_764_547_200_000; // 2025-12-01T00:00:00Z
    const PHONES: Allowed = Allowed { numbers: true, email: false, code_length: 6, local: false };

    fn parse(json: serde_json::Value) -> Result<TestDestinations, String> {
        TestDestinations::parse(&json, Some("123456"), PHONES, NOW)
    }

    #[test]
    fn when_a_list_is_valid_should_hold_its_numbers_until_the_end_of_its_day() {
        let list = parse(json!({"expires": "2025-12-02", "numbers": ["+1 202 555 0123", "+447700900123"]})).unwrap();
        assert!(list.has_number("+12025550123", NOW));
        assert!(list.has_number("+447700900123", NOW));
        assert!(!list.has_number("+12025550124", NOW));
        let end = NOW + 2 * DAY_MS;
        assert!(list.has_number("+12025550123", end - 1), "the whole of its last day");
        assert!(!list.has_number("+12025550123", end), "not a millisecond after");
        assert_eq!((list.code(), list.daily_uses), ("123456", 50));
    }

    #[test]
    fn when_a_list_has_expired_or_expires_today_should_fail_or_hold_until_midnight() {
        let past = parse(json!({"expires": "2025-11-30", "numbers": ["+12025550123"]})).unwrap_err();
        assert!(past.contains("expired on 2025-11-30"), "{past}");
        assert!(parse(json!({"expires": "2025-12-01", "numbers": []})).is_ok());
        assert!(parse(json!({"expires": "30/12/2026"})).unwrap_err().contains("not a date"));
    }

    #[test]
    fn when_a_real_number_is_listed_should_need_an_acknowledgement() {
        let refused = parse(json!({"expires": "2026-01-01", "numbers": ["+905321234567"]})).unwrap_err();
        assert!(refused.contains("no range reserved for fiction"), "{refused}");
        assert!(!refused.contains("5321234567"), "masked: {refused}");
        let blank = json!({"expires": "2026-01-01", "numbers": [{"number": "+905321234567", "acknowledged": " "}]});
        assert!(parse(blank).is_err(), "an empty acknowledgement is none");
        let acknowledged =
            json!({"expires": "2026-01-01", "numbers": [{"number": "+905321234567", "acknowledged": "QA phone"}]});
        assert!(parse(acknowledged).unwrap().has_number("+905321234567", NOW));
    }

    #[test]
    fn when_the_code_is_missing_or_not_the_codes_shape_should_fail() {
        let list = json!({"expires": "2026-01-01", "numbers": ["+12025550123"]});
        for code in [None, Some(""), Some("12345"), Some("1234567"), Some("12345a")] {
            let error = TestDestinations::parse(&list, code, PHONES, NOW).unwrap_err();
            assert!(error.contains(CODE_VARIABLE), "{code:?}: {error}");
        }
    }

    #[test]
    fn when_a_family_has_no_such_channel_should_refuse_it() {
        let emails = Allowed { numbers: false, email: true, code_length: 6, local: false };
        let numbers = json!({"expires": "2026-01-01", "numbers": ["+12025550123"]});
        assert!(TestDestinations::parse(&numbers, Some("123456"), emails, NOW).is_err());
        assert!(parse(json!({"expires": "2026-01-01", "emailDomain": "example.com"})).is_err());
        let domain = json!({"expires": "2026-01-01", "emailDomain": "Review.Example.com"});
        let list = TestDestinations::parse(&domain, Some("123456"), emails, NOW).unwrap();
        assert!(list.has_address("reviewer@review.example.com", NOW));
        assert!(!list.has_address("reviewer@example.com", NOW));
        assert!(!list.has_address("x@evilreview.example.com", NOW));
        let bad = json!({"expires": "2026-01-01", "emailDomain": "not a domain"});
        assert!(TestDestinations::parse(&bad, Some("123456"), emails, NOW).is_err());
        assert!(parse(json!({"expires": "2026-01-01", "dailyUses": 0})).is_err());
        assert!(parse(json!({"expires": "2026-01-01", "unknown": 1})).is_err());
    }

    #[test]
    fn when_a_list_expires_more_than_a_year_ahead_should_be_refused() {
        assert!(parse(json!({"expires": "2026-12-02"})).is_ok(), "366 days ahead");
        let far = parse(json!({"expires": "2026-12-03"})).unwrap_err();
        assert!(far.contains("more than 366 days ahead"), "{far}");
        assert!(parse(json!({"expires": "9999-12-31"})).is_err());
        let local = Allowed { local: true, ..PHONES };
        assert!(TestDestinations::parse(&json!({"expires": "2099-12-31"}), Some("123456"), local, NOW).is_ok());
    }

    #[test]
    fn when_debug_printed_should_not_show_the_code() {
        let list = parse(json!({"expires": "2026-01-01", "numbers": ["+12025550123"]})).unwrap();
        assert!(!format!("{list:?}").contains("123456"));
    }
}
