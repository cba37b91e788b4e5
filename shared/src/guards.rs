//! Guards against SMS pumping and code probing, beyond the per-destination limits of each
//! family: limits per caller (the source address API Gateway saw), daily SMS ceilings per
//! destination country and in all, and the number-block breaker (a block of 1,000 numbers
//! that receives codes nobody verifies stops receiving them).
//!
//! Every guard counts in a fixed time bucket (the UTC hour or day the event falls in, by its
//! window's length): one conditional update inside the operation's existing transaction, with
//! no guess about whether a window is open, so it adds no call to a send and is exact under
//! concurrency. (The per-destination limits open their window with the first event, which
//! needs that guess; a guard is shared by many destinations and callers, where a fixed
//! bucket is the better trade: never a second call, at the price of a bucket boundary.)
//! Every refusal is deterministic and says which rule refused and with which figures.

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use crate::caller::Caller;
pub use crate::config::Guards;
use crate::dynamo::{Item, MAX_WRITE_ATTEMPTS, Plan, Slot, StoreError, get_n, key, n};
use crate::schema::{
    BLOCK_CALLERS, CALLER_FAILURES_PREFIX, CALLER_SENDS_PREFIX, CODE_BLOCK_PREFIX, CODE_CEILING_PK, COUNT,
    COUNTRY_COUNT_PREFIX, SCALED_CONVERSIONS, SCALED_EVENTS, TTL, TWO_FACTOR_BLOCK_PREFIX, TWO_FACTOR_CEILING_PK,
    WINDOW_SK, bucket_pk, expression,
};

const DAY_MS: u64 = 86_400_000;

/// Whose SMS budget a guard counts. Each SMS-sending family has its own ceilings and
/// breaker, so the public family B can never exhaust family C's (two-factor sign-in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Family C: its callers are authenticated backends.
    TwoFactor,
    /// Family B: public.
    Preregistration,
}

impl Budget {
    fn block_prefix(self) -> &'static str {
        match self {
            Self::TwoFactor => TWO_FACTOR_BLOCK_PREFIX,
            Self::Preregistration => CODE_BLOCK_PREFIX,
        }
    }

    fn ceiling_pk(self) -> &'static str {
        match self {
            Self::TwoFactor => TWO_FACTOR_CEILING_PK,
            Self::Preregistration => CODE_CEILING_PK,
        }
    }
}

impl Guards {
    /// Sends asked for by one caller (families A and B together): refused past the ceiling, or
    /// once `caller_send_limit` were sent and too few of them verified; credited by each
    /// verification from the caller (`Guard::credit`).
    pub fn caller_sends(&self, table: &str, caller: &Caller) -> Guard {
        let interval_ms = self.caller_window_seconds * 1000;
        let conversion = Conversion {
            min_events: self.caller_send_limit,
            percent: self.caller_min_conversion_percent,
            min_callers: 1,
        };
        let pk = format!("{CALLER_SENDS_PREFIX}{}", caller.as_str());
        Guard::new(table, pk, self.caller_send_ceiling, interval_ms, Some(conversion))
            .about(Rule::CallerSends, caller.as_str())
    }

    /// Failed verifications by one caller (families A and B together).
    pub fn caller_failures(&self, table: &str, caller: &Caller) -> Guard {
        let interval_ms = self.caller_window_seconds * 1000;
        Guard::new(
            table,
            format!("{CALLER_FAILURES_PREFIX}{}", caller.as_str()),
            self.caller_failure_limit,
            interval_ms,
            None,
        )
        .about(Rule::CallerFailures, caller.as_str())
    }

    /// `budget`'s breaker of the block `e164` belongs to: counts sends, and is credited by
    /// verifications (`Guard::credit`). Family B's counts its callers too (`caller`: the one
    /// sending; `None` when crediting) and trips only once `block_min_callers` have sent.
    pub fn number_block(&self, table: &str, budget: Budget, e164: &str, caller: Option<&Caller>) -> Guard {
        let block = block_of(e164);
        let min_callers = match budget {
            Budget::TwoFactor => 1,
            Budget::Preregistration => self.block_min_callers,
        };
        let conversion =
            Conversion { min_events: self.block_min_sends, percent: self.block_min_conversion_percent, min_callers };
        let interval_ms = self.block_window_seconds * 1000;
        let pk = format!("{}{block}", budget.block_prefix());
        let guard = Guard::new(table, pk, u32::MAX, interval_ms, Some(conversion)).about(Rule::NumberBlock, "");
        Guard { caller: (min_callers > 1).then(|| caller_member(caller)), ..guard }
    }

    /// Every guard one SMS of `budget` to `e164` (in `region`) passes: its block, and the
    /// day's ceilings, of all countries and of its country, counted in one item (a count in
    /// all and one per country: one transaction item fewer than a counter per country, each
    /// costing ~3 µs of a request).
    pub fn sms(&self, table: &str, budget: Budget, e164: &str, region: &str, caller: Option<&Caller>) -> Vec<Guard> {
        let country_limit = self.sms_country_daily_limits.get(region).copied().unwrap_or(self.sms_daily_limit);
        let day = Guard {
            country: Some((region.to_string(), country_limit)),
            ..Guard::new(table, budget.ceiling_pk(), self.sms_daily_limit, DAY_MS, None).about(Rule::DailyCeiling, "")
        };
        vec![self.number_block(table, budget, e164, caller), day]
    }
}

/// Which of 256 members a caller is in a block's set of callers: a byte of a hash of its
/// address, so the set stays small (at most 256 numbers, ~1 KB) however many callers send;
/// two callers sharing a byte only make a block harder to trip. A request with no caller (a
/// direct invocation) is member 256.
fn caller_member(caller: Option<&Caller>) -> u32 {
    use sha2::{Digest, Sha256};
    const NO_CALLER: u32 = 256;
    caller.map_or(NO_CALLER, |c| u32::from(Sha256::digest(c.as_str().as_bytes())[0]))
}

/// A number's block: its E.164 form without the last 3 digits (1,000 numbers).
pub fn block_of(e164: &str) -> &str {
    &e164[..e164.len().saturating_sub(3)]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    CallerSends,
    CallerFailures,
    NumberBlock,
    CountryCeiling,
    DailyCeiling,
}

/// A guard that is full when at least `min_events` events were counted in its bucket and
/// fewer than `percent` % of them were converted (a code sent, then verified).
///
/// A condition expression cannot multiply, so the ratio is kept as two sums that it can
/// compare: scaled events grow by `percent` with each event and scaled conversions by 100 with
/// each conversion; "converted < percent % of events" is then "scaled conversions < scaled
/// events".
/// The metrics' name of each guard's rule.
impl From<Rule> for crate::metrics::Rule {
    fn from(rule: Rule) -> Self {
        use Rule as Guard;
        match rule {
            Guard::CallerSends => Self::CallerSends,
            Guard::CallerFailures => Self::CallerFailures,
            Guard::NumberBlock => Self::NumberBlock,
            Guard::CountryCeiling => Self::CountryCeiling,
            Guard::DailyCeiling => Self::DailyCeiling,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conversion {
    pub min_events: u32,
    pub percent: u32,
    /// Distinct callers needed besides (1: any one caller).
    pub min_callers: u32,
}

/// One guard: a counter per time bucket (`<pk>#<bucket>`, see `docs/table.md`), the rule it
/// enforces and what it is about (a caller, a block, a country).
#[derive(Debug, Clone)]
pub struct Guard {
    table: String,
    pk: String,
    pub max: u32,
    pub interval_ms: u64,
    pub conversion: Option<Conversion>,
    /// A second ceiling in the same item: a country's SMS and its limit.
    pub country: Option<(String, u32)>,
    /// The sending caller's member of the bucket's set of callers (`caller_member`), counted
    /// with each event when the guard needs several callers.
    pub caller: Option<u32>,
    pub rule: Rule,
    pub subject: String,
}

/// A bucket stays a day past its end, for the credits of late verifications and for audit.
const RETENTION_AFTER_BUCKET_S: u64 = 86_400;

/// The attribute that counts a country's SMS in the day's bucket.
fn country_count(region: &str) -> String {
    format!("{COUNTRY_COUNT_PREFIX}{region}")
}

impl Guard {
    fn new(table: &str, pk: impl Into<String>, max: u32, interval_ms: u64, conversion: Option<Conversion>) -> Self {
        let (rule, subject) = (Rule::DailyCeiling, String::new());
        let pk = pk.into();
        Self { table: table.to_string(), pk, max, interval_ms, conversion, country: None, caller: None, rule, subject }
    }

    /// A destination's failure lock: its failed verifications counted per bucket.
    pub fn lock(table: &str, pk: impl Into<String>, max: u32, interval_ms: u64) -> Self {
        Self::new(table, pk, max, interval_ms, None)
    }

    /// The same counter under another limit (`u32::MAX`: counts whatever the count).
    pub fn with_max(&self, max: u32) -> Self {
        Self { max, ..self.clone() }
    }

    /// The count of a bucket as stored (0 for none).
    pub fn count_in(item: Option<&Item>) -> u64 {
        item.and_then(|item| get_n::<u64>(item, "cnt")).unwrap_or(0)
    }

    fn about(self, rule: Rule, subject: &str) -> Self {
        Self { rule, subject: subject.to_string(), ..self }
    }

    /// The key of the bucket `at_ms` falls in.
    pub fn key(&self, at_ms: u64) -> Item {
        key(&bucket_pk(&self.pk, self.interval_ms, at_ms, false), WINDOW_SK)
    }

    fn bucket_end(&self, at_ms: u64) -> u64 {
        (at_ms / self.interval_ms + 1) * self.interval_ms
    }

    fn ttl(&self, at_ms: u64) -> u64 {
        self.bucket_end(at_ms) / 1000 + RETENTION_AFTER_BUCKET_S
    }

    fn passes(&self) -> &'static str {
        match (self.conversion, &self.country) {
            (Some(rule), _) if rule.min_callers > 1 => expression!(
                "attribute_not_exists({COUNT}) OR ({COUNT} < :max AND ({COUNT} < :min OR \
                 {SCALED_CONVERSIONS} >= {SCALED_EVENTS} OR attribute_not_exists({BLOCK_CALLERS}) OR \
                 size({BLOCK_CALLERS}) < :callers))"
            ),
            (Some(_), _) => expression!(
                "attribute_not_exists({COUNT}) OR ({COUNT} < :max AND ({COUNT} < :min OR \
                 {SCALED_CONVERSIONS} >= {SCALED_EVENTS}))"
            ),
            (None, Some(_)) => expression!(
                "(attribute_not_exists({COUNT}) OR {COUNT} < :max) AND (attribute_not_exists(#c) OR #c < :cmax)"
            ),
            (None, None) => expression!("attribute_not_exists({COUNT}) OR {COUNT} < :max"),
        }
    }

    /// Counts one event now, refused (with the bucket as stored) when the guard is full.
    pub fn count(&self, now_ms: u64) -> Result<TransactWriteItem, StoreError> {
        Ok(crate::dynamo::update_item(self.count_update(now_ms)?))
    }

    /// The counts of a request's guards, each in its named slot (`Slot::Guard(index)`).
    pub fn plan(guards: &[Guard], now_ms: u64) -> Result<Plan<Slot>, StoreError> {
        let mut plan = Plan::new();
        for (index, guard) in guards.iter().enumerate() {
            plan.push(Slot::Guard(index), guard.count(now_ms)?);
        }
        Ok(plan)
    }

    pub fn count_update(&self, now_ms: u64) -> Result<Update, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(self.key(now_ms)))
            .condition_expression(self.passes())
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", n(self.ttl(now_ms)))
            .expression_attribute_values(":max", n(self.max))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let update = match (self.conversion, &self.country) {
            (None, Some((region, limit))) => update
                .update_expression(expression!("SET #ttl = if_not_exists(#ttl, :ttl) ADD {COUNT} :one, #c :one"))
                .expression_attribute_names("#c", country_count(region))
                .expression_attribute_values(":cmax", n(limit)),
            (None, None) => {
                update.update_expression(expression!("SET #ttl = if_not_exists(#ttl, :ttl) ADD {COUNT} :one"))
            }
            (Some(rule), _) => {
                let update = update
                    .expression_attribute_values(":min", n(rule.min_events))
                    .expression_attribute_values(":pct", n(rule.percent));
                if rule.min_callers <= 1 {
                    update.update_expression(expression!(
                        "SET #ttl = if_not_exists(#ttl, :ttl) ADD {COUNT} :one, {SCALED_EVENTS} :pct"
                    ))
                } else {
                    let member = self.caller.unwrap_or_else(|| caller_member(None));
                    update
                        .update_expression(expression!(
                            "SET #ttl = if_not_exists(#ttl, :ttl) ADD {COUNT} :one, {SCALED_EVENTS} :pct, \
                             {BLOCK_CALLERS} :caller"
                        ))
                        .expression_attribute_values(":callers", n(rule.min_callers))
                        .expression_attribute_values(":caller", AttributeValue::Ns(vec![member.to_string()]))
                }
            }
        };
        Ok(update.build()?)
    }

    /// Passes while the guard is not full (a verification by a caller over its limit is
    /// refused too); refused, it returns the bucket as stored.
    pub fn not_full(&self, now_ms: u64) -> Result<ConditionCheck, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(self.key(now_ms)))
            .condition_expression(self.passes())
            .expression_attribute_values(":max", n(self.max))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let check = match self.conversion {
            None => check,
            Some(rule) if rule.min_callers > 1 => check
                .expression_attribute_values(":min", n(rule.min_events))
                .expression_attribute_values(":callers", n(rule.min_callers)),
            Some(rule) => check.expression_attribute_values(":min", n(rule.min_events)),
        };
        Ok(check.build()?)
    }

    /// Counts one conversion of an event counted at `sent_ms` (a code sent then, verified
    /// now) in that event's bucket. Never refused: a verification must not fail because of a
    /// counter.
    pub fn credit(&self, sent_ms: u64) -> Result<Update, StoreError> {
        Ok(Update::builder()
            .table_name(&self.table)
            .set_key(Some(self.key(sent_ms)))
            .update_expression(expression!("SET #ttl = if_not_exists(#ttl, :ttl) ADD {SCALED_CONVERSIONS} :hundred"))
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":ttl", n(self.ttl(sent_ms)))
            .expression_attribute_values(":hundred", n(100))
            .build()?)
    }

    /// Counts one event alone (a failed verification that touched no code): the refusal when
    /// the guard is already full.
    pub async fn count_alone(
        &self,
        client: &aws_sdk_dynamodb::Client,
        now_ms: u64,
    ) -> Result<Option<Refusal>, StoreError> {
        for _ in 0..MAX_WRITE_ATTEMPTS {
            match crate::dynamo::transact(client, vec![self.count(now_ms)?]).await? {
                None => return Ok(None),
                Some(reasons) => {
                    crate::dynamo::fail_on_other(&reasons)?;
                    if let Some(Some(crate::dynamo::Refusal::Condition(item))) = reasons.first() {
                        return Ok(Some(self.refusal(item.as_ref(), now_ms)));
                    }
                    crate::dynamo::backoff().await;
                }
            }
        }
        Err(StoreError::Contention)
    }

    /// Whether a bucket, as stored, refuses the next event.
    pub fn is_full(&self, item: &Item) -> bool {
        let figure = |name: &str| get_n::<u64>(item, name).unwrap_or(0);
        match (self.conversion, &self.country) {
            (Some(rule), _) => {
                let callers = item.get(BLOCK_CALLERS).and_then(|c| c.as_ns().ok()).map_or(0, Vec::len);
                figure(COUNT) >= u64::from(self.max)
                    || figure(COUNT) >= u64::from(rule.min_events)
                        && figure(SCALED_CONVERSIONS) < figure(SCALED_EVENTS)
                        && (rule.min_callers <= 1 || callers >= rule.min_callers as usize)
            }
            (None, country) => {
                figure(COUNT) >= u64::from(self.max)
                    || country
                        .as_ref()
                        .is_some_and(|(region, limit)| figure(&country_count(region)) >= u64::from(*limit))
            }
        }
    }

    /// The refusal, with the figures of the bucket as the refused transaction returned it.
    pub fn refusal(&self, item: Option<&Item>, now_ms: u64) -> Refusal {
        let figure = |name: &str| item.and_then(|i| get_n::<u64>(i, name)).unwrap_or(0);
        // The day's item refuses for its country when that count is the one at its limit.
        if let Some((region, limit)) = &self.country {
            let count = figure(&country_count(region));
            if count >= u64::from(*limit) {
                let country = Self { country: None, max: *limit, ..self.clone() }.about(Rule::CountryCeiling, region);
                return Refusal { count, ..country.refusal(None, now_ms) };
            }
        }
        let count = figure(COUNT);
        // Refused by its conversion rule, or by its plain maximum (a conversion guard's ceiling).
        let by_conversion = self.conversion.filter(|_| count < u64::from(self.max)).map(|r| u64::from(r.percent));
        Refusal {
            rule: self.rule,
            subject: self.subject.clone(),
            count,
            verified: figure(SCALED_CONVERSIONS) / 100,
            limit: by_conversion.unwrap_or(u64::from(self.max)),
            min_conversion: by_conversion,
            window_seconds: self.interval_ms / 1000,
            retry_after_seconds: self.bucket_end(now_ms).saturating_sub(now_ms).div_ceil(1000).max(1),
        }
    }
}

/// Why a guard refused, with its figures. Its `Display` is the operators' text (logs, and the
/// authenticated backends of family C): the rule and its figures, never the subject of a block
/// (with a masked number beside it in a log line, the two would spell the whole number).
/// Public callers get `public_reason`: the rule and when to retry, no traffic figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub rule: Rule,
    pub subject: String,
    pub count: u64,
    pub verified: u64,
    /// The limit of a counting rule, the minimum conversion percentage of a conversion rule.
    pub limit: u64,
    /// Refused because too few of the counted codes were verified: at least this % must be.
    pub min_conversion: Option<u64>,
    pub window_seconds: u64,
    /// Until the window closes: the `Retry-After` header.
    pub retry_after_seconds: u64,
}

#[cfg(test)]
impl Refusal {
    /// A refusal by `rule`, for the tests of how each family answers one.
    pub fn sample(rule: Rule) -> Self {
        Self {
            rule,
            subject: String::new(),
            count: 1,
            verified: 0,
            limit: 1,
            min_conversion: None,
            window_seconds: 3600,
            retry_after_seconds: 1,
        }
    }
}

impl Refusal {
    /// What a public caller (families A and B) is told: which rule and when to retry, no
    /// figures (the deployment's volume, a block's traffic are the operators', in logs and
    /// metrics). A country is named: the caller chose it.
    pub fn public_reason(&self) -> String {
        let reason = match self.rule {
            Rule::CallerSends => "too many codes requested from your network".to_string(),
            Rule::CallerFailures => "too many failed verifications from your network".to_string(),
            Rule::NumberBlock => "too many unverified codes sent to numbers like this one".to_string(),
            Rule::CountryCeiling => format!("the day's SMS capacity for {} is used up", self.subject),
            Rule::DailyCeiling => "the day's SMS capacity is used up".to_string(),
        };
        format!("{reason}; try again in {} s", self.retry_after_seconds)
    }
}

/// "1 hour", "24 hours", "90 minutes".
fn period(seconds: u64) -> String {
    match (seconds / 3600, seconds % 3600) {
        (1, 0) => "hour".to_string(),
        (hours, 0) => format!("{hours} hours"),
        _ => format!("{} minutes", seconds / 60),
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (count, limit, period) = (self.count, self.limit, period(self.window_seconds));
        match self.rule {
            Rule::CallerSends => match self.min_conversion {
                Some(percent) => write!(
                    f,
                    "{count} codes requested from your network in the last {period}, {} verified (at least \
                     {percent}% must be)",
                    self.verified
                ),
                None => write!(f, "{count} codes requested from your network in the last {period} (limit {limit})"),
            },
            Rule::CallerFailures => {
                write!(f, "{count} failed verifications from your network in the last {period} (limit {limit})")
            }
            Rule::NumberBlock => write!(
                f,
                "{count} codes sent to this number's block of 1,000 in the last {period}, {} verified (at least \
                 {limit}% must be)",
                self.verified
            ),
            Rule::CountryCeiling => {
                write!(
                    f,
                    "daily SMS ceiling for {} reached: {count} sent in the last 24 hours (limit {limit})",
                    self.subject
                )
            }
            Rule::DailyCeiling => {
                write!(f, "daily SMS ceiling reached: {count} sent in the last 24 hours (limit {limit})")
            }
        }?;
        write!(f, "; try again in {} s", self.retry_after_seconds)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::dynamo::n;

    fn guards(pairs: &[(&str, &str)]) -> Result<Guards, crate::config::ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Guards::from_lookup(&move |name: &str| map.get(name).cloned())
    }

    #[test]
    fn when_nothing_is_set_should_use_the_documented_defaults() {
        let g = guards(&[]).unwrap();
        assert_eq!((g.caller_send_limit, g.caller_failure_limit, g.caller_window_seconds), (30, 300, 3600));
        assert_eq!((g.caller_min_conversion_percent, g.caller_send_ceiling), (20, 5000));
        assert_eq!((g.sms_daily_limit, g.sms_max_price_usd.as_str()), (10_000, "0.50"));
        assert_eq!((g.block_min_sends, g.block_window_seconds, g.block_min_conversion_percent), (10, 3600, 20));
        assert!(g.sms_country_daily_limits.is_empty());
    }

    #[test]
    fn when_country_limits_are_given_should_apply_them_and_the_default_elsewhere() {
        let g = guards(&[("SMS_COUNTRY_DAILY_LIMITS", "tr:2000, US:5000"), ("SMS_DAILY_LIMIT", "7000")]).unwrap();
        let limits =
            |region| g.sms("t", Budget::TwoFactor, "+905321234567", region, None)[1].country.clone().unwrap().1;
        assert_eq!((limits("TR"), limits("US"), limits("AR")), (2000, 5000, 7000));
        assert_eq!(g.sms("t", Budget::TwoFactor, "+905321234567", "TR", None)[1].max, 7000, "all countries together");
        for bad in ["TR", "TR:0", "TUR:5", "TR:x"] {
            let err = guards(&[("SMS_COUNTRY_DAILY_LIMITS", bad)]).unwrap_err();
            assert!(err.to_string().contains("SMS_COUNTRY_DAILY_LIMITS"), "{bad}: {err}");
        }
        for bad in ["0", "-1", "abc", "11", "1e2"] {
            assert!(guards(&[("SMS_MAX_PRICE_USD", bad)]).is_err(), "{bad}");
        }
    }

    #[test]
    fn when_a_block_has_sends_but_few_verifications_should_be_full() {
        let g = guards(&[]).unwrap();
        let block = g.number_block("t", Budget::TwoFactor, "+905321234567", None);
        // The bucket of the hour: 10 h and 30 min after the epoch is bucket 10.
        assert_eq!(block.key(37_800_000)["pk"], crate::dynamo::s("2FA#BLOCK#+905321234#10"));
        let stored = |cnt: u32, verified: u32| {
            HashMap::from([
                ("cnt".to_string(), n(cnt)),
                ("sp".to_string(), n(cnt * 20)),
                ("vh".to_string(), n(verified * 100)),
            ])
        };
        assert!(!block.is_full(&stored(9, 0)), "below the minimum of sends");
        assert!(block.is_full(&stored(10, 0)));
        assert!(block.is_full(&stored(10, 1)), "10% < 20%");
        assert!(!block.is_full(&stored(10, 2)), "20% is enough");
        assert!(!block.is_full(&stored(100, 20)));
        assert!(block.is_full(&stored(100, 19)));
    }

    #[test]
    fn when_a_callers_codes_convert_should_keep_its_sends_open_up_to_the_ceiling() {
        let g = guards(&[("CALLER_SEND_CEILING", "100")]).unwrap();
        let sends = g.caller_sends("t", &Caller::from_ip("203.0.113.7".parse().unwrap()));
        let stored = |cnt: u32, verified: u32| {
            HashMap::from([
                ("cnt".to_string(), n(cnt)),
                ("sp".to_string(), n(cnt * 20)),
                ("vh".to_string(), n(verified * 100)),
            ])
        };
        assert!(!sends.is_full(&stored(29, 0)), "30 unverified codes before conversion counts");
        assert!(sends.is_full(&stored(30, 5)), "5 of 30 is below 20%");
        assert!(!sends.is_full(&stored(30, 6)));
        assert!(!sends.is_full(&stored(99, 95)), "a NAT whose users verify stays open");
        assert!(sends.is_full(&stored(100, 100)), "up to the ceiling, whatever converts");
        let refusal = sends.refusal(Some(&stored(30, 5)), 0);
        assert_eq!((refusal.min_conversion, refusal.verified), (Some(20), 5));
        assert!(refusal.to_string().starts_with("30 codes requested from your network in the last hour, 5 verified"));
        let refusal = sends.refusal(Some(&stored(100, 100)), 0);
        assert_eq!((refusal.min_conversion, refusal.limit), (None, 100));
        assert!(refusal.to_string().starts_with("100 codes requested from your network in the last hour (limit 100)"));
        let update = sends.count_update(0).unwrap();
        let values = update.expression_attribute_values().unwrap();
        assert_eq!((values[":min"].clone(), values[":max"].clone()), (n(30), n(100)));
    }

    #[test]
    fn when_family_b_counts_a_block_should_need_several_callers_to_trip_it() {
        let g = guards(&[]).unwrap();
        let caller = Caller::from_ip("203.0.113.7".parse().unwrap());
        let block = g.number_block("t", Budget::Preregistration, "+905321234567", Some(&caller));
        assert_eq!(block.key(37_800_000)["pk"], crate::dynamo::s("CNF#BLOCK#+905321234#10"), "its own budget");
        let stored = |cnt: u32, callers: &[&str]| {
            let callers = callers.iter().map(|c| c.to_string()).collect();
            HashMap::from([
                ("cnt".to_string(), n(cnt)),
                ("sp".to_string(), n(cnt * 20)),
                ("vh".to_string(), n(0)),
                ("cs".to_string(), aws_sdk_dynamodb::types::AttributeValue::Ns(callers)),
            ])
        };
        assert!(!block.is_full(&stored(50, &["17"])), "one caller cannot close a block");
        assert!(!block.is_full(&stored(50, &["17", "200"])));
        assert!(block.is_full(&stored(10, &["17", "200", "256"])), "three callers, nothing verified");
        // The sending caller is counted with each send, as one of 256 members.
        let update = block.count_update(1).unwrap();
        assert!(update.update_expression().contains("ADD cnt :one, sp :pct, cs :caller"), "{update:?}");
        let member = update.expression_attribute_values().unwrap()[":caller"].as_ns().unwrap()[0].parse::<u32>();
        assert!(member.unwrap() < 256);
        assert_eq!(update.expression_attribute_values().unwrap()[":callers"], n(3));
        // Family C's block is decided by its sends alone, in its own items.
        let c = g.number_block("t", Budget::TwoFactor, "+905321234567", None);
        assert!(c.is_full(&stored(10, &[])));
        assert!(!c.count_update(1).unwrap().update_expression().contains("cs"));
        let day = |budget| g.sms("t", budget, "+905321234567", "TR", None)[1].key(1)["pk"].clone();
        assert_ne!(day(Budget::TwoFactor), day(Budget::Preregistration), "separate daily ceilings");
    }

    #[test]
    fn when_a_guard_refuses_should_name_the_rule_the_figures_and_when_to_retry() {
        let g = guards(&[]).unwrap();
        // 10 minutes into an hour: 50 minutes to wait.
        let now = 36_000_000 + 600_000;
        let stored = HashMap::from([("cnt".to_string(), n(12)), ("sp".to_string(), n(240)), ("vh".to_string(), n(0))]);
        let refusal = g.number_block("t", Budget::TwoFactor, "+905321234567", None).refusal(Some(&stored), now);
        assert_eq!(refusal.retry_after_seconds, 3000);
        assert_eq!(
            refusal.to_string(),
            "12 codes sent to this number's block of 1,000 in the last hour, 0 verified (at least 20% must be); try \
             again in 3000 s"
        );
        let g = guards(&[("SMS_COUNTRY_DAILY_LIMITS", "TR:2000")]).unwrap();
        let day = &g.sms("t", Budget::TwoFactor, "+905321234567", "TR", None)[1];
        let now = 5 * 86_400_000 + 3_600_000;
        let stored = HashMap::from([("cnt".into(), n(2500)), ("cTR".into(), n(2000))]);
        assert!(day.is_full(&stored));
        let refusal = day.refusal(Some(&stored), now);
        assert!(refusal.to_string().starts_with("daily SMS ceiling for TR reached: 2000 sent"), "{refusal}");
        assert_eq!(refusal.retry_after_seconds, 23 * 3600, "until the end of the UTC day");
        let stored = HashMap::from([("cnt".into(), n(10_000)), ("cTR".into(), n(5))]);
        assert!(day.refusal(Some(&stored), now).to_string().starts_with("daily SMS ceiling reached: 10000 sent"));
        assert!(!day.is_full(&HashMap::from([("cnt".into(), n(9_999)), ("cTR".into(), n(1_999))])));
        assert_eq!(refusal.public_reason(), "the day's SMS capacity for TR is used up; try again in 82800 s");
        let by_country = day.refusal(Some(&HashMap::from([("cnt".into(), n(2000)), ("cTR".into(), n(2000))])), now);
        assert_eq!(
            (by_country.rule, by_country.subject.as_str(), by_country.limit),
            (Rule::CountryCeiling, "TR", 2000)
        );
    }

    /// The value a guard's count writes for `name` (`:ttl`, `:max`).
    fn written(guard: &Guard, now_ms: u64, name: &str) -> u64 {
        let update = guard.count_update(now_ms).unwrap();
        let value = update.expression_attribute_values().unwrap().get(name).cloned();
        value.and_then(|v| v.as_n().ok().and_then(|n| n.parse().ok())).unwrap()
    }

    #[test]
    fn when_a_caller_is_counted_should_use_the_configured_window_in_real_time() {
        // A frozen clock cannot tell a window of 3,600 s from one of 3.6 s: its length is read
        // off the bucket keys just before and just after the window's end.
        let g = guards(&[("CALLER_WINDOW_SECONDS", "7200")]).unwrap();
        let caller = Caller::from_ip("203.0.113.7".parse().unwrap());
        for guard in [g.caller_failures("t", &caller), g.caller_sends("t", &caller)] {
            let start = 7_200_000 * 12;
            assert_eq!(guard.key(start)["pk"], guard.key(start + 7_199_999)["pk"], "{:?}: one window", guard.rule);
            assert_ne!(guard.key(start)["pk"], guard.key(start + 7_200_000)["pk"], "{:?}: the next one", guard.rule);
            assert_eq!(guard.key(start)["pk"], crate::dynamo::s(format!("{}#12", guard.pk)));
        }
    }

    #[test]
    fn when_a_bucket_is_written_should_expire_a_day_after_its_window_ends() {
        // TTL may remove an item only once its bucket can no longer count: a day after it ends
        // (late credits, audit). Earlier would reset a limit mid-window; never would keep it.
        let g = guards(&[]).unwrap();
        let caller = Caller::from_ip("203.0.113.7".parse().unwrap());
        let hour = 3_600_000;
        let now = 40 * hour + 1_234;
        for guard in [
            g.caller_sends("t", &caller),
            g.caller_failures("t", &caller),
            g.number_block("t", Budget::TwoFactor, "+905321234567", None),
        ] {
            assert_eq!(written(&guard, now, ":ttl"), 41 * 3600 + 86_400, "{:?}", guard.rule);
        }
        let day = &g.sms("t", Budget::TwoFactor, "+905321234567", "TR", None)[1];
        assert_eq!(written(day, now, ":ttl"), 2 * 86_400 + 86_400, "the UTC day's end, plus a day");
        let lock = Guard::lock("t", "2FA#FAIL#+905321234567", 5, 900_000);
        assert_eq!(written(&lock, 900_000 * 3 + 1, ":ttl"), 900 * 4 + 86_400);
    }

    #[test]
    fn when_a_window_is_whole_hours_or_not_should_say_so() {
        assert_eq!(period(3600), "hour");
        assert_eq!(period(7200), "2 hours");
        assert_eq!(period(86_400), "24 hours");
        assert_eq!(period(5400), "90 minutes");
        assert_eq!(period(900), "15 minutes");
    }
}
