//! Family B's section: the applications that may ask for codes, where SMS may go, and the
//! send policy (`CNF_*`).

use std::collections::BTreeSet;

use super::{Common, ConfigError, Lookup, SendPolicy, SendPolicyVariables, email_from, sms_allowed_countries};
use crate::preregistration::apps::Applications;

#[derive(Debug)]
pub struct PreregistrationConfig {
    pub common: Common,
    pub sms_allowed_countries: BTreeSet<String>,
    /// The applications allowed to ask for codes (and their keys).
    pub applications: Applications,
    pub email_from: String,
    pub send: SendPolicy,
}

impl PreregistrationConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&super::environment)
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
            applications,
            email_from: email_from(get)?,
            send,
            common,
        })
    }
}
