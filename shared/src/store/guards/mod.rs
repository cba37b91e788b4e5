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

mod counter;
mod refusal;

pub use counter::Guard;
pub use refusal::Refusal;

pub use crate::config::Guards;
use crate::domain::caller::Caller;
use crate::store::schema::{
    CALLER_FAILURES_PREFIX, CALLER_SENDS_PREFIX, CODE_BLOCK_PREFIX, CODE_CEILING_PK, TWO_FACTOR_BLOCK_PREFIX,
    TWO_FACTOR_CEILING_PK,
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

    /// Every guard one SMS of `budget` to `e164` (in `region`) passes: its block, the day's
    /// ceiling of all countries, and its country's when `SMS_COUNTRY_DAILY_LIMITS` lists it (an
    /// unlisted country's limit is the day's own, which the first ceiling already holds). Each
    /// ceiling is counted in `sms_ceiling_shards` items (`dynamo::Shards`): every SMS of the
    /// family shares it, and one item would cap the family near 100 SMS a second.
    pub fn sms(&self, table: &str, budget: Budget, e164: &str, region: &str, caller: Option<&Caller>) -> Vec<Guard> {
        let ceiling = |pk: String, limit: u32, rule: Rule, subject: &str| {
            Guard::new(table, pk, limit, DAY_MS, None).about(rule, subject).sharded(self.sms_ceiling_shards)
        };
        let mut guards = vec![
            self.number_block(table, budget, e164, caller),
            ceiling(budget.ceiling_pk().to_string(), self.sms_daily_limit, Rule::DailyCeiling, ""),
        ];
        if let Some(limit) = self.sms_country_daily_limits.get(region) {
            let pk = format!("{}#{region}", budget.ceiling_pk());
            guards.push(ceiling(pk, *limit, Rule::CountryCeiling, region));
        }
        guards
    }
}

impl Guard {
    /// A test destination's uses in the UTC day (`config::test_destinations`), under the
    /// family's `prefix`: full past `daily_uses`, which never refuses the request but is what
    /// the `TestDestinationOverLimit` alarm counts.
    pub fn test_uses(table: &str, prefix: &str, destination: &str, daily_uses: u32) -> Guard {
        Guard::new(table, format!("{prefix}{destination}"), daily_uses, DAY_MS, None)
            .about(Rule::DailyCeiling, "test destination")
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

/// The metrics' name of each guard's rule.
impl From<Rule> for crate::ops::metrics::Rule {
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

/// A guard that is full when at least `min_events` events were counted in its bucket and
/// fewer than `percent` % of them were converted (a code sent, then verified).
///
/// A condition expression cannot multiply, so the ratio is kept as two sums that it can
/// compare: scaled events grow by `percent` with each event and scaled conversions by 100 with
/// each conversion; "converted < percent % of events" is then "scaled conversions < scaled
/// events".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conversion {
    pub min_events: u32,
    pub percent: u32,
    /// Distinct callers needed besides (1: any one caller).
    pub min_callers: u32,
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::refusal::period;
    use super::*;
    use crate::store::dynamo::n;

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
        assert_eq!(g.sms_ceiling_shards, 512);
    }

    #[test]
    fn when_country_limits_are_given_should_apply_them_and_the_default_elsewhere() {
        let g = guards(&[("SMS_COUNTRY_DAILY_LIMITS", "tr:2000, US:5000"), ("SMS_DAILY_LIMIT", "7000")]).unwrap();
        let sms = |region| g.sms("t", Budget::TwoFactor, "+905321234567", region, None);
        let country = |region| sms(region).get(2).map(|guard| (guard.max, guard.rule, guard.subject.clone()));
        assert_eq!(country("TR"), Some((2000, Rule::CountryCeiling, "TR".into())));
        assert_eq!(country("US").map(|c| c.0), Some(5000));
        assert_eq!(country("AR"), None, "an unlisted country: the day's ceiling is its limit");
        assert_eq!((sms("TR")[1].max, sms("TR")[1].rule), (7000, Rule::DailyCeiling), "all countries together");
        // Each ceiling in its own shards (512 by default, never more than its limit).
        assert_eq!((sms("TR")[1].shards, sms("TR")[2].shards), (512, 512));
        let few = guards(&[("SMS_COUNTRY_DAILY_LIMITS", "TR:3"), ("SMS_CEILING_SHARDS", "8")]).unwrap();
        let tr = few.sms("t", Budget::TwoFactor, "+905321234567", "TR", None);
        assert_eq!((tr[1].shards, tr[2].shards), (8, 3));
        assert_eq!(tr[2].in_shard(2).key(1)["pk"], crate::store::dynamo::s("2FA#CEIL#TR#0#2"), "a country's own items");
        assert_eq!(tr[1].in_shard(7).key(1)["pk"], crate::store::dynamo::s("2FA#CEIL#0#7"));
        for bad in ["0", "4097", "x"] {
            assert!(guards(&[("SMS_CEILING_SHARDS", bad)]).is_err(), "{bad}");
        }
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
        assert_eq!(block.key(37_800_000)["pk"], crate::store::dynamo::s("2FA#BLOCK#+905321234#10"));
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
        assert_eq!(block.key(37_800_000)["pk"], crate::store::dynamo::s("CNF#BLOCK#+905321234#10"), "its own budget");
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
        let sms = g.sms("t", Budget::TwoFactor, "+905321234567", "TR", None);
        let (day, country) = (&sms[1], &sms[2]);
        let now = 5 * 86_400_000 + 3_600_000;
        // A shard is full at its share; the ceiling refuses once all are, so its count is its limit.
        let shard = country.in_shard(0);
        assert_eq!(shard.max, 4, "2000 over 512 shards: the first 464 take 4, the rest 3");
        assert_eq!((shard.shards, shard.shard), (1, Some(0)), "a shard is one item");
        let refusal = shard.refusal(Some(&HashMap::from([("cnt".into(), n(4))])), now);
        assert_eq!((refusal.count, refusal.limit), (4, 4), "a shard's own figures");
        assert_eq!(country.in_shard(511).max, 3);
        assert!(shard.is_full(&HashMap::from([("cnt".into(), n(4))])));
        assert!(!shard.is_full(&HashMap::from([("cnt".into(), n(3))])));
        let refusal = country.refusal(Some(&HashMap::from([("cnt".into(), n(4))])), now);
        assert!(refusal.to_string().starts_with("daily SMS ceiling for TR reached: 2000 sent"), "{refusal}");
        assert_eq!(refusal.retry_after_seconds, 23 * 3600, "until the end of the UTC day");
        assert_eq!(refusal.public_reason(), "the day's SMS capacity for TR is used up; try again in 82800 s");
        assert_eq!((refusal.rule, refusal.subject.as_str(), refusal.limit), (Rule::CountryCeiling, "TR", 2000));
        assert!(day.refusal(None, now).to_string().starts_with("daily SMS ceiling reached: 10000 sent"));
        // One item, unsharded (SMS_CEILING_SHARDS=1): the figures as stored.
        let one = guards(&[("SMS_CEILING_SHARDS", "1")]).unwrap();
        let day = &one.sms("t", Budget::TwoFactor, "+905321234567", "TR", None)[1];
        assert_eq!(day.key(now)["pk"], crate::store::dynamo::s("2FA#CEIL#5"), "today's single item");
        assert!(day.refusal(Some(&HashMap::from([("cnt".into(), n(9_999))])), now).to_string().contains("9999 sent"));
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
            assert_eq!(guard.key(start)["pk"], crate::store::dynamo::s(format!("{}#12", guard.pk)));
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
    fn when_a_lock_is_checked_under_another_limit_should_write_that_limit_and_read_the_stored_count() {
        // The verifying paths check and count a destination's lock under limits of their own
        // (one below it, or none): the condition must carry that limit, not the lock's.
        let lock = Guard::lock("t", "2FA#FAIL#+905321234567", 5, 900_000);
        assert_eq!(written(&lock, 0, ":max"), 5);
        assert_eq!(written(&lock.with_max(4), 0, ":max"), 4);
        assert_eq!(written(&lock.with_max(u32::MAX), 0, ":max"), u64::from(u32::MAX));
        let check = lock.with_max(4).not_full(0).unwrap();
        assert_eq!(check.expression_attribute_values().unwrap()[":max"], n(4));
        // A refused lock's count, as the cancellation returned its item.
        assert_eq!(Guard::count_in(Some(&HashMap::from([("cnt".to_string(), n(7))]))), 7);
        assert_eq!(Guard::count_in(Some(&HashMap::new())), 0, "an item without a count");
        assert_eq!(Guard::count_in(None), 0, "no item");
    }

    /// The `:values` and `#names` an expression uses.
    fn placeholders(expressions: &[&str], sigil: char) -> std::collections::BTreeSet<String> {
        let mut found = std::collections::BTreeSet::new();
        for expression in expressions {
            for (at, _) in expression.match_indices(sigil) {
                let name: String =
                    expression[at + 1..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                found.insert(format!("{sigil}{name}"));
            }
        }
        found
    }

    #[test]
    fn when_a_guard_builds_its_writes_should_give_exactly_the_values_and_names_its_expressions_use() {
        // DynamoDB refuses a request with a value or name its expressions do not use (and one
        // they use but lack): every guard's count, check and credit must match theirs exactly.
        let g = guards(&[]).unwrap();
        let caller = Caller::from_ip("203.0.113.7".parse().unwrap());
        let mut all = vec![
            g.caller_sends("t", &caller),
            g.caller_failures("t", &caller),
            g.number_block("t", Budget::TwoFactor, "+905321234567", None),
            g.number_block("t", Budget::Preregistration, "+905321234567", Some(&caller)),
            Guard::lock("t", "2FA#FAIL#+905321234567", 5, 900_000),
        ];
        all.extend(g.sms("t", Budget::TwoFactor, "+905321234567", "TR", None));
        let keys = |map: Option<&HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>| {
            map.map(|m| m.keys().cloned().collect::<std::collections::BTreeSet<_>>()).unwrap_or_default()
        };
        let names = |map: Option<&HashMap<String, String>>| {
            map.map(|m| m.keys().cloned().collect::<std::collections::BTreeSet<_>>()).unwrap_or_default()
        };
        for guard in &all {
            let update = guard.count_update(1).unwrap();
            let used = [update.update_expression(), update.condition_expression().unwrap()];
            assert_eq!(keys(update.expression_attribute_values()), placeholders(&used, ':'), "count {:?}", guard.rule);
            assert_eq!(names(update.expression_attribute_names()), placeholders(&used, '#'), "count {:?}", guard.rule);
            let check = guard.not_full(1).unwrap();
            let used = [check.condition_expression()];
            assert_eq!(keys(check.expression_attribute_values()), placeholders(&used, ':'), "check {:?}", guard.rule);
            assert_eq!(names(check.expression_attribute_names()), placeholders(&used, '#'), "check {:?}", guard.rule);
            let credit = guard.credit(1).unwrap();
            let used = [credit.update_expression()];
            assert_eq!(keys(credit.expression_attribute_values()), placeholders(&used, ':'), "credit {:?}", guard.rule);
        }
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
