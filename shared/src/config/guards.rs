//! The guards' settings: per-caller limits, the SMS ceilings and the number-block breaker
//! (`guards` builds the counters from them).

use std::collections::BTreeMap;

use super::{ConfigError, Lookup};

const DEFAULT_SMS_DAILY_LIMIT: u64 = 10_000;
const DEFAULT_MAX_PRICE_USD: &str = "0.50";
/// Enough for 5,000 SMS a second with few conflicts (`docs/scale.md`, "How many shards").
const DEFAULT_CEILING_SHARDS: u64 = 512;

/// The guards' settings (`CALLER_*`, `SMS_DAILY_LIMIT`, `SMS_COUNTRY_DAILY_LIMITS`,
/// `SMS_CEILING_SHARDS`, `SMS_MAX_PRICE_USD`, `SMS_BLOCK_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guards {
    /// Sends a caller may ask for before its codes must convert (`caller_min_conversion_percent`
    /// of them verified): a pumper's unverified sends. Everyone behind one address (a NAT)
    /// shares it, and their verifications keep it open.
    pub caller_send_limit: u32,
    pub caller_min_conversion_percent: u32,
    /// Sends a caller may ask for in a window whatever they convert.
    pub caller_send_ceiling: u32,
    pub caller_failure_limit: u32,
    pub caller_window_seconds: u64,
    /// Ceiling of SMS per 24 h for all countries together, and for each country not listed.
    pub sms_daily_limit: u32,
    pub sms_country_daily_limits: BTreeMap<String, u32>,
    /// How many items each day's ceiling is kept in (`SMS_CEILING_SHARDS`): each takes its
    /// share of the limit, so no item is written by every SMS (`docs/scale.md`).
    pub sms_ceiling_shards: u32,
    /// Sent as SNS's `AWS.SNS.SMS.MaxPrice` with every SMS: SNS drops a message that would
    /// cost more (premium routes are where pumped traffic earns).
    pub sms_max_price_usd: String,
    pub block_min_sends: u32,
    pub block_window_seconds: u64,
    pub block_min_conversion_percent: u32,
    /// Family B's block trips only on sends from at least this many distinct callers: one
    /// anonymous caller cannot close a block to the others.
    pub block_min_callers: u32,
}

impl Guards {
    pub fn from_lookup(get: &impl Lookup) -> Result<Self, ConfigError> {
        let number = |name: &'static str, default: u64, range: std::ops::RangeInclusive<u64>| {
            super::number(get, name, default, range)
        };
        let sms_daily_limit = number("SMS_DAILY_LIMIT", DEFAULT_SMS_DAILY_LIMIT, 1..=10_000_000)? as u32;
        let invalid = |name, reason: String| ConfigError::Invalid { name, reason };
        let mut sms_country_daily_limits = BTreeMap::new();
        for entry in get("SMS_COUNTRY_DAILY_LIMITS").unwrap_or_default().split(',').map(str::trim) {
            if entry.is_empty() {
                continue;
            }
            let parsed = entry.split_once(':').and_then(|(country, limit)| {
                let country = country.trim().to_ascii_uppercase();
                let limit = limit.trim().parse::<u32>().ok().filter(|l| *l >= 1)?;
                (country.len() == 2 && country.bytes().all(|b| b.is_ascii_alphabetic())).then_some((country, limit))
            });
            let (country, limit) = parsed.ok_or_else(|| {
                invalid("SMS_COUNTRY_DAILY_LIMITS", format!("'{entry}' is not COUNTRY:LIMIT (e.g. TR:2000)"))
            })?;
            sms_country_daily_limits.insert(country, limit);
        }
        let price = get("SMS_MAX_PRICE_USD").map(|p| p.trim().to_string()).filter(|p| !p.is_empty());
        let sms_max_price_usd = price.unwrap_or_else(|| DEFAULT_MAX_PRICE_USD.to_string());
        let valid_price = sms_max_price_usd.parse::<f64>().is_ok_and(|p| p > 0.0 && p <= 10.0)
            && sms_max_price_usd.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        if !valid_price {
            return Err(invalid("SMS_MAX_PRICE_USD", "expected a price in USD, above 0 and at most 10".into()));
        }
        Ok(Self {
            caller_send_limit: number("CALLER_SEND_LIMIT", 30, 1..=1_000_000)? as u32,
            caller_min_conversion_percent: number("CALLER_MIN_CONVERSION_PERCENT", 20, 0..=100)? as u32,
            caller_send_ceiling: number("CALLER_SEND_CEILING", 5000, 1..=10_000_000)? as u32,
            caller_failure_limit: number("CALLER_FAILURE_LIMIT", 300, 1..=1_000_000)? as u32,
            caller_window_seconds: number("CALLER_WINDOW_SECONDS", 3600, 60..=86_400)?,
            sms_daily_limit,
            sms_country_daily_limits,
            sms_ceiling_shards: number("SMS_CEILING_SHARDS", DEFAULT_CEILING_SHARDS, 1..=4096)? as u32,
            sms_max_price_usd,
            block_min_sends: number("SMS_BLOCK_MIN_SENDS", 10, 1..=1_000_000)? as u32,
            block_window_seconds: number("SMS_BLOCK_WINDOW_SECONDS", 3600, 60..=86_400)?,
            block_min_conversion_percent: number("SMS_BLOCK_MIN_CONVERSION_PERCENT", 20, 0..=100)? as u32,
            block_min_callers: number("SMS_BLOCK_MIN_CALLERS", 3, 1..=100)? as u32,
        })
    }
}
