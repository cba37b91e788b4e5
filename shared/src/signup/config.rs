//! Family A's section: the user pool it answers for, the sender of its e-mail, the send
//! policy (`SIGNUP_*`) and how long unconfirmed users are kept.

use crate::config::{Common, ConfigError, Lookup, SendPolicy, SendPolicyVariables, email_from, number};

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
        Ok(Self {
            common: Common::from_lookup(get)?,
            user_pool_id: get("USER_POOL_ID").unwrap_or_else(|| "us-east-1_LocalPool".to_string()),
            user_pool_client_id: get("USER_POOL_CLIENT_ID").unwrap_or_else(|| "local-client".to_string()),
            email_from: email_from(get)?,
            send,
            unconfirmed_user_ttl_days: number(get, "UNCONFIRMED_USER_TTL_DAYS", 30, 1..=3650)?,
        })
    }
}
