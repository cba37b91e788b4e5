//! A guard's counter in the table: one item per time bucket, counted, checked and credited
//! inside the request's own transaction (`docs/table.md`).

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::{Conversion, Refusal, Rule, caller_member};
use crate::store::dynamo::{Item, MAX_WRITE_ATTEMPTS, Plan, Shards, Slot, StoreError, get_n, key, n, share};
use crate::store::schema::{
    BLOCK_CALLERS, COUNT, SCALED_CONVERSIONS, SCALED_EVENTS, TTL, WINDOW_SK, bucket_pk, expression,
};

/// One guard: a counter per time bucket (`<pk>#<bucket>`, see `docs/table.md`), the rule it
/// enforces and what it is about (a caller, a block, a country).
#[derive(Debug, Clone)]
pub struct Guard {
    pub(super) table: String,
    pub(super) pk: String,
    pub max: u32,
    pub interval_ms: u64,
    pub conversion: Option<Conversion>,
    /// How many items the count is kept in (`dynamo::Shards`; 1: one item): a count every
    /// request shares, as a day's SMS ceiling, would make one item hot.
    pub shards: u32,
    /// Which of the shards this is (`in_shard`), with its share of the limit as `max`.
    pub shard: Option<u32>,
    /// The sending caller's member of the bucket's set of callers (`caller_member`), counted
    /// with each event when the guard needs several callers.
    pub caller: Option<u32>,
    pub rule: Rule,
    pub subject: String,
}

/// A bucket stays a day past its end, for the credits of late verifications and for audit.
const RETENTION_AFTER_BUCKET_S: u64 = 86_400;

impl Guard {
    pub(super) fn new(
        table: &str,
        pk: impl Into<String>,
        max: u32,
        interval_ms: u64,
        conversion: Option<Conversion>,
    ) -> Self {
        let (rule, subject) = (Rule::DailyCeiling, String::new());
        let pk = pk.into();
        let (shards, shard, caller) = (1, None, None);
        Self { table: table.to_string(), pk, max, interval_ms, conversion, shards, shard, caller, rule, subject }
    }

    /// The same count kept in `shards` items, each allowing its share of `max` (never more
    /// shards than `max`: each share is at least 1).
    pub fn sharded(self, shards: u32) -> Self {
        Self { shards: shards.clamp(1, self.max.max(1)), ..self }
    }

    /// Shard `shard` of a sharded count: its own item, its share of the limit.
    pub fn in_shard(&self, shard: u32) -> Self {
        let max = share(self.max, self.shards, shard);
        Self { max, shards: 1, shard: Some(shard), ..self.clone() }
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

    pub(super) fn about(self, rule: Rule, subject: &str) -> Self {
        Self { rule, subject: subject.to_string(), ..self }
    }

    /// The key of the bucket `at_ms` falls in (of the shard's, for a shard).
    pub fn key(&self, at_ms: u64) -> Item {
        let bucket = bucket_pk(&self.pk, self.interval_ms, at_ms, false);
        match self.shard {
            Some(shard) => key(&format!("{bucket}#{shard}"), WINDOW_SK),
            None => key(&bucket, WINDOW_SK),
        }
    }

    /// A sharded count's shards in the bucket `now_ms` falls in, for a plan.
    pub fn shards_at(&self, now_ms: u64) -> Shards {
        let bucket = bucket_pk(&self.pk, self.interval_ms, now_ms, false);
        let identity = format!("{}|{bucket}|{}/{}", self.table, self.max, self.shards);
        let guard = self.clone();
        Shards::new(identity, self.shards, move |shard| guard.in_shard(shard).count(now_ms))
    }

    fn bucket_end(&self, at_ms: u64) -> u64 {
        (at_ms / self.interval_ms + 1) * self.interval_ms
    }

    fn ttl(&self, at_ms: u64) -> u64 {
        self.bucket_end(at_ms) / 1000 + RETENTION_AFTER_BUCKET_S
    }

    fn passes(&self) -> &'static str {
        match self.conversion {
            Some(rule) if rule.min_callers > 1 => expression!(
                "attribute_not_exists({COUNT}) OR ({COUNT} < :max AND ({COUNT} < :min OR \
                 {SCALED_CONVERSIONS} >= {SCALED_EVENTS} OR attribute_not_exists({BLOCK_CALLERS}) OR \
                 size({BLOCK_CALLERS}) < :callers))"
            ),
            Some(_) => expression!(
                "attribute_not_exists({COUNT}) OR ({COUNT} < :max AND ({COUNT} < :min OR \
                 {SCALED_CONVERSIONS} >= {SCALED_EVENTS}))"
            ),
            None => expression!("attribute_not_exists({COUNT}) OR {COUNT} < :max"),
        }
    }

    /// Counts one event now, refused (with the bucket as stored) when the guard is full.
    pub fn count(&self, now_ms: u64) -> Result<TransactWriteItem, StoreError> {
        Ok(crate::store::dynamo::update_item(self.count_update(now_ms)?))
    }

    /// The counts of a request's guards, each in its named slot (`Slot::Guard(index)`); a
    /// sharded one in the shard the transaction picks.
    pub fn plan(guards: &[Guard], now_ms: u64) -> Result<Plan<Slot>, StoreError> {
        let mut plan = Plan::new();
        for (index, guard) in guards.iter().enumerate() {
            if guard.shards > 1 {
                plan.push_sharded(Slot::Guard(index), guard.shards_at(now_ms));
            } else {
                plan.push(Slot::Guard(index), guard.count(now_ms)?);
            }
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
        let update = match self.conversion {
            None => update.update_expression(expression!("SET #ttl = if_not_exists(#ttl, :ttl) ADD {COUNT} :one")),
            Some(rule) => {
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
        let backoff = crate::store::backoff::Backoff::new();
        for _ in 0..MAX_WRITE_ATTEMPTS {
            match crate::store::dynamo::transact(client, vec![self.count(now_ms)?]).await? {
                None => return Ok(None),
                Some(reasons) => {
                    crate::store::dynamo::fail_on_other(&reasons)?;
                    if let Some(Some(crate::store::dynamo::Refusal::Condition(item))) = reasons.first() {
                        return Ok(Some(self.refusal(item.as_ref(), now_ms)));
                    }
                    backoff.wait().await;
                }
            }
        }
        Err(StoreError::Contention)
    }

    /// Whether a bucket, as stored, refuses the next event.
    pub fn is_full(&self, item: &Item) -> bool {
        let figure = |name: &str| get_n::<u64>(item, name).unwrap_or(0);
        match self.conversion {
            Some(rule) => {
                let callers = item.get(BLOCK_CALLERS).and_then(|c| c.as_ns().ok()).map_or(0, Vec::len);
                figure(COUNT) >= u64::from(self.max)
                    || figure(COUNT) >= u64::from(rule.min_events)
                        && figure(SCALED_CONVERSIONS) < figure(SCALED_EVENTS)
                        && (rule.min_callers <= 1 || callers >= rule.min_callers as usize)
            }
            None => figure(COUNT) >= u64::from(self.max),
        }
    }

    /// The refusal, with the figures of the bucket as the refused transaction returned it. A
    /// sharded count is refused only once every shard is full: its count is then its limit.
    pub fn refusal(&self, item: Option<&Item>, now_ms: u64) -> Refusal {
        let figure = |name: &str| item.and_then(|i| get_n::<u64>(i, name)).unwrap_or(0);
        let count = if self.shards > 1 { u64::from(self.max) } else { figure(COUNT) };
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
