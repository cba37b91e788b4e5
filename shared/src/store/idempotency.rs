//! `Idempotency-Key` on the sends (family C create, family B generate, family A send), with
//! the semantics of the IETF httpapi draft: the same key and the same body within 24 hours
//! get the first answer again, and no second message; the same key with another body is a
//! 422; while the first request may still be running, a 409.
//!
//! The record (keyed by a keyed hash of endpoint, caller, application and key;
//! `docs/table.md`) is a conditional put inside the send's own transaction (with a condition
//! check of the key's record under every other active key version, so a retry across a key
//! rotation finds the first request's record), so the first request stays one DynamoDB call and
//! N concurrent requests with one key make exactly one message. It stores the answer the
//! send will give, known before the message leaves (ids, reference, expiry), so that no
//! write follows a success; a failed delivery marks it `failed` on the failure path.
//!
//! The price of writing nothing after a success: a record younger than `IN_FLIGHT_MS` may
//! belong to a request still running, so a retry within that time gets 409 even when the
//! first has finished; after it, the stored answer is replayed. If the first request died
//! between its transaction and the message, the replay reports a send that never left.

use aws_sdk_dynamodb::types::{ConditionCheck, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::domain::crypto::KeyRing;
use crate::store::dynamo::{Item, Plan, Slot, StoreError, get_n, get_s, key, n, s};
use crate::store::schema::{
    ANSWER, FINGERPRINT, IDEMPOTENCY_FAILED, IDEMPOTENCY_PREFIX, IDEMPOTENCY_SK, PK, RECORDED_AT, STATUS, TTL,
    expression,
};

pub const HEADER: &str = "idempotency-key";
/// Longer than any request can run (the function's deadline is under 10 s): a record younger
/// than this may be a request in flight.
pub const IN_FLIGHT_MS: u64 = 15_000;
/// How long a key is remembered (the draft's suggestion: 24 hours).
pub const RETENTION_MS: u64 = 86_400_000;
const MAX_KEY_LENGTH: usize = 255;
/// On a public endpoint a key is all that tells two anonymous requests apart: one short
/// enough to guess could be squatted (the victim's send answered 409/422) or replayed. 16
/// characters is a UUID's half; clients send a whole UUID (36).
pub const MIN_PUBLIC_KEY_LENGTH: usize = 16;
const PURPOSE: &str = "idempotency-key";

/// Who may reuse a key: the scope it is remembered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door<'a> {
    /// Family C: API Gateway authenticated the caller (an IAM principal or a JWT client).
    Backend,
    /// Families A and B: anyone; the key is scoped to the caller's source address (as
    /// `caller::Caller` reads it) and the application, and must be long enough to be random.
    Public { application: Option<&'a str> },
}

/// One request's key, scoped and hashed, and the fingerprint of its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    table: String,
    /// The record's key under the current key version: where it is written.
    pk: String,
    /// Its key under every other active version: where a request made before a rotation
    /// wrote it.
    earlier: Vec<String>,
    fingerprint: String,
}

/// What an earlier request with the same key left.
#[derive(Debug, Clone, PartialEq)]
pub enum Prior {
    /// It may still be running: 409.
    InFlight,
    /// Another body under the same key: 422.
    Mismatch,
    /// It delivered nothing (the message was refused): answer that failure again.
    Failed,
    /// It succeeded: its answer, as the family stored it.
    Done(Value),
}

/// Why a key's record refuses a send (`Idempotency::replayed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefusal {
    /// The first request may still be running: 409.
    InFlight,
    /// Another body under the same key: 422.
    Reused,
    /// The first request delivered nothing: answered as that failure again.
    Failed,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Idempotency {
    /// The key `header` (the `Idempotency-Key` header's value) sent to `endpoint` by `who`
    /// (`Door::Backend`: the principal API Gateway authenticated; `Door::Public`: the caller's
    /// source address, `caller::Caller`), for the request body `body`; `Err` with the reason
    /// when the header is not a key (1 to 255 visible ASCII characters, quoted as a
    /// structured-field string or bare; at least `MIN_PUBLIC_KEY_LENGTH` on a public door).
    pub fn new(
        header: &[u8],
        endpoint: &str,
        door: Door<'_>,
        who: &str,
        body: &[u8],
        keys: &KeyRing,
        table: &str,
    ) -> Result<Self, String> {
        let text = std::str::from_utf8(header).map_err(|_| "Idempotency-Key must be visible ASCII".to_string())?.trim();
        let key = text.strip_prefix('"').and_then(|k| k.strip_suffix('"')).unwrap_or(text);
        if key.is_empty() || key.len() > MAX_KEY_LENGTH || !key.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(format!("Idempotency-Key must be 1 to {MAX_KEY_LENGTH} visible ASCII characters"));
        }
        let scope = match door {
            Door::Backend => format!("{endpoint}\n{who}"),
            Door::Public { application } => {
                if key.len() < MIN_PUBLIC_KEY_LENGTH {
                    return Err(format!(
                        "Idempotency-Key must be at least {MIN_PUBLIC_KEY_LENGTH} characters here (send a random \
                         UUID): a shorter one can be guessed"
                    ));
                }
                format!("{endpoint}\n{who}\n{}", application.unwrap_or(""))
            }
        };
        let pk = |version| {
            keys.hash(version, PURPOSE, &scope, key).map(|hash| format!("{IDEMPOTENCY_PREFIX}{}", hex(&hash)))
        };
        let mut pks = keys.versions().map(pk).collect::<Option<Vec<_>>>().ok_or("no key")?.into_iter();
        Ok(Self {
            table: table.to_string(),
            pk: pks.next().ok_or("no current key")?,
            earlier: pks.collect(),
            fingerprint: hex(&Sha256::digest(body)),
        })
    }

    /// The record, written with the send, and a check of it under every other active key
    /// version: refused (returning the earlier record) when the key was seen, before or since
    /// a rotation.
    pub fn put(&self, answer: &Value, now_ms: u64) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut item = key(&self.pk, IDEMPOTENCY_SK);
        item.extend([
            (FINGERPRINT.to_string(), s(&self.fingerprint)),
            (RECORDED_AT.to_string(), n(now_ms)),
            (ANSWER.to_string(), s(answer.to_string())),
            (TTL.to_string(), n((now_ms + RETENTION_MS) / 1000)),
        ]);
        // Unseen: no record, or one past its retention that TTL has not removed yet. The same
        // condition writes the record and checks it under the other key versions.
        let unseen = expression!("attribute_not_exists({PK}) OR #at <= :expired");
        let expired = n(now_ms.saturating_sub(RETENTION_MS));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(unseen)
            .expression_attribute_names("#at", RECORDED_AT)
            .expression_attribute_values(":expired", expired.clone())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        for pk in &self.earlier {
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(key(pk, IDEMPOTENCY_SK)))
                .condition_expression(unseen)
                .expression_attribute_names("#at", RECORDED_AT)
                .expression_attribute_values(":expired", expired.clone())
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .build()?;
            items.push(TransactWriteItem::builder().condition_check(check).build());
        }
        Ok(items)
    }

    /// The record's items in a send's transaction (`put`), in their named slot.
    pub fn plan(&self, answer: &Value, now_ms: u64) -> Result<Plan<Slot>, StoreError> {
        let mut plan = Plan::new();
        plan.push_all(Slot::Idempotency, self.put(answer, now_ms)?);
        Ok(plan)
    }

    /// What a send whose key's record exists answers: the first request's answer once it is
    /// done (a replay), else why the key refuses it.
    pub fn replayed(&self, record: Option<&Item>, now_ms: u64) -> Result<Value, KeyRefusal> {
        match self.prior(record, now_ms) {
            Prior::Done(answer) => Ok(answer),
            Prior::Failed => Err(KeyRefusal::Failed),
            Prior::Mismatch => Err(KeyRefusal::Reused),
            Prior::InFlight => Err(KeyRefusal::InFlight),
        }
    }

    /// What the earlier record says, for this request's body, at `now_ms`.
    pub fn prior(&self, record: Option<&Item>, now_ms: u64) -> Prior {
        let Some(record) = record else { return Prior::InFlight };
        if get_s(record, FINGERPRINT) != Some(self.fingerprint.as_str()) {
            return Prior::Mismatch;
        }
        if get_s(record, STATUS) == Some(IDEMPOTENCY_FAILED) {
            return Prior::Failed;
        }
        match (get_n::<u64>(record, RECORDED_AT), get_s(record, ANSWER).and_then(|a| serde_json::from_str(a).ok())) {
            (Some(at), Some(answer)) if at + IN_FLIGHT_MS <= now_ms => Prior::Done(answer),
            _ => Prior::InFlight,
        }
    }

    /// The send delivered nothing: a retry with this key answers the failure again.
    pub async fn failed(&self, client: &aws_sdk_dynamodb::Client) -> Result<(), StoreError> {
        let request = client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&self.pk, IDEMPOTENCY_SK)))
            .update_expression(expression!("SET {STATUS} = :failed"))
            .condition_expression(expression!("attribute_exists({PK})"))
            .expression_attribute_values(":failed", s(IDEMPOTENCY_FAILED));
        crate::store::dynamo::update_unless_refused(request).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use lambda_http::request::RequestContext;
    use lambda_http::{Body, Request, RequestExt};
    use serde_json::json;

    use super::*;

    fn keys() -> KeyRing {
        KeyRing::parse("1:0123456789abcdef0123456789abcdef").unwrap()
    }

    fn request(key: Option<&str>, body: &str) -> Request {
        let mut request = Request::new(Body::Text(body.to_string()));
        if let Some(key) = key {
            request.headers_mut().insert(HEADER, key.parse().unwrap());
        }
        request
    }

    fn of(key: Option<&str>, body: &str, endpoint: &str) -> Result<Option<Idempotency>, String> {
        crate::edge::request::idempotency_of(&request(key, body), None, endpoint, Door::Backend, &keys(), "t")
    }

    fn from(ip: &str, request: Request) -> Request {
        use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.http.source_ip = Some(ip.to_string());
        request.with_request_context(RequestContext::ApiGatewayV2(context))
    }

    fn public(request: &Request, application: Option<&str>) -> Result<Option<Idempotency>, String> {
        let caller = crate::edge::request::caller_of(request);
        crate::edge::request::idempotency_of(request, caller.as_ref(), "/a", Door::Public { application }, &keys(), "t")
    }

    const KEY: &str = "8e03978e-40d5-43e8-bc93-6894a57f9324";

    #[test]
    fn when_a_key_is_public_should_be_scoped_to_caller_and_application_and_long_enough() {
        let at = |ip: &str| from(ip, request(Some(KEY), "{}"));
        let pk = |r: Result<Option<Idempotency>, String>| r.unwrap().unwrap().pk;
        let mine = pk(public(&at("198.51.100.7"), Some("app")));
        assert_eq!(mine, pk(public(&at("198.51.100.7"), Some("app"))), "the same caller's retry");
        assert_ne!(mine, pk(public(&at("203.0.113.9"), Some("app"))), "another caller cannot squat it");
        assert_ne!(mine, pk(public(&at("198.51.100.7"), Some("other"))), "nor another application");
        assert_ne!(mine, pk(public(&at("198.51.100.7"), None)));
        let short = "k".repeat(MIN_PUBLIC_KEY_LENGTH - 1);
        assert!(public(&from("198.51.100.7", request(Some(&short), "{}")), None).is_err(), "guessable");
        let enough = "k".repeat(MIN_PUBLIC_KEY_LENGTH);
        assert!(public(&from("198.51.100.7", request(Some(&enough), "{}")), None).unwrap().is_some());
        // A backend key may be short: the principal is authenticated.
        assert!(of(Some("k"), "{}", "/a").unwrap().is_some());
    }

    #[test]
    fn when_a_backend_key_is_scoped_should_differ_by_principal() {
        use lambda_http::aws_lambda_events::apigw::{
            ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerIamDescription, ApiGatewayV2httpRequestContext,
        };
        let as_principal = |arn: &str| {
            let mut iam = ApiGatewayRequestAuthorizerIamDescription::default();
            iam.user_arn = Some(arn.to_string());
            let mut authorizer = ApiGatewayRequestAuthorizer::default();
            authorizer.iam = Some(iam);
            let mut context = ApiGatewayV2httpRequestContext::default();
            context.authorizer = Some(authorizer);
            let request = request(Some(KEY), "{}").with_request_context(RequestContext::ApiGatewayV2(context));
            crate::edge::request::idempotency_of(&request, None, "/a", Door::Backend, &keys(), "t").unwrap().unwrap().pk
        };
        let a = as_principal("arn:aws:iam::123456789012:role/backend-a");
        assert_eq!(a, as_principal("arn:aws:iam::123456789012:role/backend-a"));
        assert_ne!(a, as_principal("arn:aws:iam::123456789012:role/backend-b"));
        assert_ne!(a, of(Some(KEY), "{}", "/a").unwrap().unwrap().pk, "no principal is a scope of its own");
    }

    #[test]
    fn when_a_record_is_written_should_expire_after_the_retention_and_forget_an_expired_one() {
        let now = 1_700_000_000_123;
        let record = of(Some(KEY), "{}", "/a").unwrap().unwrap();
        let items = record.put(&json!({"id": 7}), now).unwrap();
        assert_eq!(items.len(), 1, "one active key version: one item");
        let put = items[0].put().unwrap();
        assert_eq!(put.item().get(TTL), Some(&n((now + RETENTION_MS) / 1000)), "24 h, in seconds");
        assert_eq!(put.item().get(RECORDED_AT), Some(&n(now)));
        let values = put.expression_attribute_values().unwrap();
        assert_eq!(values.get(":expired"), Some(&n(now - RETENTION_MS)), "older records are forgotten");
    }

    #[test]
    fn when_the_header_is_absent_or_malformed_should_say_so() {
        assert_eq!(of(None, "{}", "/a"), Ok(None));
        assert!(of(Some(""), "{}", "/a").is_err());
        assert!(of(Some(&"k".repeat(256)), "{}", "/a").is_err());
        assert!(of(Some(&"k".repeat(255)), "{}", "/a").unwrap().is_some(), "255 is the longest");
        assert!(of(Some("\"8e03978e-40d5-43e8-bc93-6894a57f9324\""), "{}", "/a").unwrap().is_some());
    }

    #[test]
    fn when_keys_are_scoped_should_differ_by_endpoint_and_never_store_the_key() {
        let a = of(Some("abc"), "{}", "/a").unwrap().unwrap();
        assert_eq!(a, of(Some("\"abc\""), "{}", "/a").unwrap().unwrap(), "quoted or bare: one key");
        assert_ne!(a.pk, of(Some("abc"), "{}", "/b").unwrap().unwrap().pk);
        assert!(!a.pk.contains("abc"));
    }

    #[test]
    fn when_a_record_exists_should_tell_in_flight_mismatch_failed_and_done_apart() {
        let now = 1_000_000_000;
        let first = of(Some("k"), "{\"a\":1}", "/a").unwrap().unwrap();
        let record = |at: u64, st: Option<&str>| {
            let mut item: Item = HashMap::from([
                ("fp".to_string(), s(&first.fingerprint)),
                ("at".to_string(), n(at)),
                ("ans".to_string(), s("{\"id\":7}")),
            ]);
            if let Some(st) = st {
                item.insert("st".to_string(), s(st));
            }
            item
        };
        assert_eq!(first.prior(Some(&record(now - 1_000, None)), now), Prior::InFlight);
        assert_eq!(first.prior(Some(&record(now - IN_FLIGHT_MS, None)), now), Prior::Done(json!({"id": 7})));
        assert_eq!(first.prior(Some(&record(now - 1_000, Some("failed"))), now), Prior::Failed);
        let other_body = of(Some("k"), "{\"a\":2}", "/a").unwrap().unwrap();
        assert_eq!(other_body.prior(Some(&record(now - 60_000, None)), now), Prior::Mismatch);
    }
}
