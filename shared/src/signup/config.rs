//! Family A's section: the user pool it answers for, the sender of its e-mail, the send
//! policy (`SIGNUP_*`) and how long unconfirmed users are kept.

use crate::config::test_destinations::{Allowed, CODE_VARIABLE, TestDestinations};
use crate::config::{Common, ConfigError, Lookup, SendPolicy, SendPolicyVariables, email_from, number};
use crate::domain::clock::{Clock, SystemClock};

#[derive(Debug)]
pub struct SignupConfig {
    pub common: Common,
    /// The user pool the users belong to, as Cognito names it.
    pub user_pool_id: String,
    pub user_pool_client_id: String,
    pub email_from: String,
    pub send: SendPolicy,
    /// An UNCONFIRMED user is removed (DynamoDB TTL) this long after its last code.
    pub unconfirmed_user_ttl_days: u64,
    /// Test addresses: every address on one domain (`SIGNUP_TEST_DESTINATIONS`, see
    /// `config::test_destinations`).
    pub test: Option<TestDestinations>,
}

impl SignupConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&crate::config::environment)
    }

    pub fn from_lookup(get: &impl Lookup) -> Result<Self, ConfigError> {
        let send = SendPolicy::from_lookup(
            get,
            SendPolicyVariables {
                limit: "SIGNUP_SEND_LIMIT",
                window: "SIGNUP_SEND_WINDOW_SECONDS",
                gap: "SIGNUP_RESEND_GAP_SECONDS",
                ttl: "SIGNUP_CODE_TTL_SECONDS",
                ttl_default: 86_400,
                ttl_range: 60..=7 * 86_400,
            },
        )?;
        let common = Common::from_lookup(get)?;
        let test = test_destinations(get, common.allow_local_secrets)?;
        Ok(Self {
            common,
            user_pool_id: get("USER_POOL_ID").unwrap_or_else(|| "us-east-1_LocalPool".to_string()),
            user_pool_client_id: get("USER_POOL_CLIENT_ID").unwrap_or_else(|| "local-client".to_string()),
            email_from: email_from(get)?,
            send,
            unconfirmed_user_ttl_days: number(get, "UNCONFIRMED_USER_TTL_DAYS", 30, 1..=3650)?,
            test,
        })
    }

    /// The test destinations holding `address` (lower-cased) now, if it is one.
    pub fn test_address(&self, address: &str, now_ms: u64) -> Option<&TestDestinations> {
        self.test.as_ref().filter(|test| test.has_address(address, now_ms))
    }
}

/// `SIGNUP_TEST_DESTINATIONS`: `{"expires": "YYYY-MM-DD", "emailDomain": "review.example.com"}`:
/// every address on the domain is a test address (a user confirmed once stays confirmed, so
/// monitoring signs up as a new address each time: `probe-<time>@review.example.com`).
fn test_destinations(get: &impl Lookup, local: bool) -> Result<Option<TestDestinations>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid { name: "SIGNUP_TEST_DESTINATIONS", reason };
    let Some(raw) = get("SIGNUP_TEST_DESTINATIONS").filter(|v| !v.trim().is_empty()) else { return Ok(None) };
    let list: serde_json::Value = serde_json::from_str(&raw).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let allowed = Allowed { numbers: false, email: true, code_length: super::service::CODE_LENGTH, local };
    let now = SystemClock.now_ms();
    let test = TestDestinations::parse(&list, get(CODE_VARIABLE).as_deref(), allowed, now).map_err(invalid)?;
    test.log("SIGNUP_TEST_DESTINATIONS", now);
    Ok(Some(test))
}
