//! Family B items in the one table: the code, the latest code of a destination per
//! application, and the destination's windows (`docs/table.md`).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use uuid::Uuid;

use super::channels::CodeChannel;
use crate::store::Table;
use crate::store::attempts::{AcceptCondition, SubmittedHash, accepting, failed_attempt};
use crate::store::dynamo::{self, Item, Plan, Sending, Slot, StoreError, Window, get_b, get_n, get_s, key, n, s};
use crate::store::guards::Guard;
use crate::store::schema::{
    APPLICATION, ATTEMPTS, AUDIT, CODE_ID, CODE_PREFIX, CODE_SK, CODE_WINDOW_PREFIX, CREATED_AT, DELIVERY,
    DeliveryState, EMAIL_ADDRESS, EMAIL_HASH, EXPIRES_AT, HASH, ID_PLAIN, KEY_VERSION, LANGUAGE, LATEST_CODE_PREFIX,
    MAX_ATTEMPTS, MOBILE, PK, PREVIOUS_CODE_ID, TTL, VERIFIED_AT, WindowKind, expression, window_pk,
};

/// Codes stay a day after expiry, for audit, before TTL removes them.
const RETENTION_AFTER_EXPIRY_S: u64 = 86_400;

pub fn code_pk(id: &Uuid) -> String {
    format!("{CODE_PREFIX}{id}")
}

fn latest_pk(app: &str, destination: &str) -> String {
    format!("{LATEST_CODE_PREFIX}{app}#{destination}")
}

#[derive(Debug, Clone)]
pub struct NewCode {
    pub id: Uuid,
    pub application: String,
    pub mobile: Option<String>,
    pub email: Option<String>,
    /// The keyed hash of the code (of the SMS's, when the code went by both channels).
    pub hash: [u8; 32],
    /// The e-mail's own code's keyed hash, when the code went by both channels.
    pub email_hash: Option<[u8; 32]>,
    pub key_version: u32,
    pub language: String,
    pub audit_json: String,
    pub created_ms: u64,
    pub expires_ms: u64,
    pub max_attempts: u32,
    /// The plaintext inside the opaque id (`ids::CnfIdPlain`), which the validating write
    /// checks: the lock and credit keys it derives from the id are this code's. `None` for a
    /// code under a legacy (v4) id, as stored before opaque ids.
    pub id_plain: Option<[u8; 16]>,
}

impl NewCode {
    pub fn destinations(&self) -> Vec<&str> {
        self.mobile.iter().chain(self.email.iter()).map(String::as_str).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCode {
    pub id: Uuid,
    pub application: String,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub hash: Vec<u8>,
    pub email_hash: Option<Vec<u8>>,
    pub key_version: u32,
    pub created_ms: u64,
    pub expires_ms: u64,
    pub attempts: u32,
    pub max_attempts: u32,
    pub verified: bool,
    pub delivery_failed: bool,
    pub audit_json: Option<String>,
    /// An opaque id's plaintext (`ids`); none for a legacy id.
    pub id_plain: Option<Vec<u8>>,
}

impl StoredCode {
    pub fn from_item(item: &Item) -> Result<Self, StoreError> {
        let num = |name: &'static str| get_n::<u64>(item, name).ok_or(StoreError::Malformed(name));
        Ok(Self {
            id: get_s(item, PK)
                .and_then(|pk| pk.strip_prefix(CODE_PREFIX))
                .and_then(|id| Uuid::parse_str(id).ok())
                .ok_or(StoreError::Malformed(PK))?,
            application: get_s(item, APPLICATION).ok_or(StoreError::Malformed(APPLICATION))?.to_string(),
            mobile: get_s(item, MOBILE).map(str::to_string),
            email: get_s(item, EMAIL_ADDRESS).map(str::to_string),
            hash: get_b(item, HASH).ok_or(StoreError::Malformed(HASH))?.to_vec(),
            email_hash: get_b(item, EMAIL_HASH).map(<[u8]>::to_vec),
            key_version: num(KEY_VERSION)? as u32,
            created_ms: num(CREATED_AT)?,
            expires_ms: num(EXPIRES_AT)?,
            attempts: num(ATTEMPTS)? as u32,
            max_attempts: num(MAX_ATTEMPTS)? as u32,
            verified: item.contains_key(VERIFIED_AT),
            delivery_failed: get_s(item, DELIVERY) == Some(DeliveryState::Failed.as_str()),
            audit_json: get_s(item, AUDIT).map(str::to_string),
            id_plain: get_b(item, ID_PLAIN).map(<[u8]>::to_vec),
        })
    }
}

/// What a code's validating transaction found (`PreregistrationStore::validate`).
#[derive(Debug, Clone, PartialEq)]
pub enum Validating {
    Validated,
    /// The caller is over its failure limit (its bucket as stored): refused whatever the code.
    CallerRefused {
        item: Option<Item>,
    },
    /// No code under this id.
    NotFound,
    /// The code refused (as it was); which locks refused too.
    Refused {
        code: Box<StoredCode>,
        locks_full: Vec<bool>,
    },
    /// The code would have accepted, but locks refused: each lock's count as stored, `None`
    /// for a lock that did not refuse.
    LocksFull {
        counts: Vec<Option<u64>>,
    },
    /// Another request held an item: try again.
    Conflict,
}

/// How counting a wrong code ended (`PreregistrationStore::count_failure`).
#[derive(Debug, Clone, PartialEq)]
pub enum FailureCount {
    Counted,
    /// Verified or used up since: validate again, which answers why.
    CodeChanged,
    /// The caller is over its failure limit (its bucket as stored).
    CallerRefused {
        item: Option<Item>,
    },
    /// These locks refused the count (others filled them first).
    LocksFull(Vec<bool>),
    Conflict,
}

/// The items of a validating transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Validate {
    Code,
    Lock(usize),
    /// The caller's failures.
    Gate,
    /// A credit: the number's block, the caller's sends.
    Credit,
}

/// What the accepting write checks of the code besides the hash: this application's, usable,
/// and (an opaque id's plaintext) the one the id names; which channel's hash it compares.
pub struct Acceptance<'a> {
    pub id: &'a Uuid,
    pub application: &'a str,
    pub plain: Option<[u8; 16]>,
    pub channel: CodeChannel,
    pub hashes: &'a [SubmittedHash],
    pub now_ms: u64,
}

#[derive(Clone)]
pub struct PreregistrationStore {
    table: Table,
}

impl std::ops::Deref for PreregistrationStore {
    type Target = Table;

    fn deref(&self) -> &Table {
        &self.table
    }
}

fn put_new(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(expression!("attribute_not_exists({PK})"))
        .build()?;
    Ok(TransactWriteItem::builder().put(put).build())
}

impl PreregistrationStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { table: Table::new(client, table) }
    }

    pub fn window(&self, kind: WindowKind, destination: &str, max: u32, interval_ms: u64) -> Window {
        Window::new(self.table(), window_pk(CODE_WINDOW_PREFIX, kind, destination), max, interval_ms)
    }

    /// Failed validations of a destination, per fixed bucket (`CNF#FAIL#<subject>#<n>`): the
    /// subject is the mobile number, or an e-mail address's keyed tag
    /// (`schema::email_tag_subject`), both of which a confirmation id carries.
    pub fn failure_lock(&self, subject: &str, max: u32, interval_ms: u64) -> Guard {
        Guard::lock(self.table(), window_pk(CODE_WINDOW_PREFIX, WindowKind::Fail, subject), max, interval_ms)
    }

    /// Stores the code and makes it the latest of each destination, counting one send in
    /// each window and each guard (`guards::Guard::count`), refused while any destination is
    /// locked: one transaction.
    pub async fn create(
        &self,
        code: &NewCode,
        windows: &[Window],
        locks: &[Guard],
        checks: Plan<Slot>,
        now_ms: u64,
    ) -> Result<Sending, StoreError> {
        let ttl = code.expires_ms / 1000 + RETENTION_AFTER_EXPIRY_S;
        let mut item = key(&code_pk(&code.id), CODE_SK);
        item.extend([
            (APPLICATION.to_string(), s(&code.application)),
            (HASH.to_string(), AttributeValue::B(Blob::new(code.hash.to_vec()))),
            (KEY_VERSION.to_string(), n(code.key_version)),
            (EXPIRES_AT.to_string(), n(code.expires_ms)),
            (ATTEMPTS.to_string(), n(0)),
            (MAX_ATTEMPTS.to_string(), n(code.max_attempts)),
            (DELIVERY.to_string(), s(DeliveryState::Sent.as_str())),
            (LANGUAGE.to_string(), s(&code.language)),
            (CREATED_AT.to_string(), n(code.created_ms)),
            (TTL.to_string(), n(ttl)),
            (AUDIT.to_string(), s(&code.audit_json)),
        ]);
        if let Some(email_hash) = code.email_hash {
            item.insert(EMAIL_HASH.to_string(), AttributeValue::B(Blob::new(email_hash.to_vec())));
        }
        if let Some(mobile) = &code.mobile {
            item.insert(MOBILE.to_string(), s(mobile));
        }
        if let Some(email) = &code.email {
            item.insert(EMAIL_ADDRESS.to_string(), s(email));
        }
        if let Some(plain) = code.id_plain {
            item.insert(ID_PLAIN.to_string(), AttributeValue::B(Blob::new(plain.to_vec())));
        }
        let mut plan = Plan::new();
        for lock in locks {
            plan.push(Slot::Lock, dynamo::check_item(lock.not_full(now_ms)?));
        }
        plan.push(Slot::Record, put_new(self.table(), item)?);
        for destination in code.destinations() {
            // The previous code id keeps the code this one replaces, for `mark_undelivered` if
            // this one is never delivered ("" when there was none).
            let pointer = Update::builder()
                .table_name(self.table())
                .set_key(Some(key(&latest_pk(&code.application, destination), CODE_SK)))
                .update_expression(expression!(
                    "SET {PREVIOUS_CODE_ID} = if_not_exists({CODE_ID}, :none), {CODE_ID} = :cid, #ttl = :ttl"
                ))
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":none", s(""))
                .expression_attribute_values(":cid", s(code.id.to_string()))
                .expression_attribute_values(":ttl", n(ttl))
                .build()?;
            plan.push(Slot::Pointer, dynamo::update_item(pointer));
        }
        plan.append(checks);
        Ok(dynamo::transact_counting(self.client(), windows, &plan, now_ms).await?.into())
    }

    /// Validates in one transaction: marks the code verified if `acceptance` holds, no lock
    /// (each destination's, at the limit the caller chose) is full and the caller's failures
    /// (`gate`) are under their limit, and credits each of `credits` with a verified code sent
    /// at `sent_ms`. Cancelled, DynamoDB returns the code, the locks and the caller's bucket as
    /// they were: no read.
    pub async fn validate(
        &self,
        acceptance: &Acceptance<'_>,
        locks: &[Guard],
        gate: Option<&Guard>,
        credits: &[&Guard],
        sent_ms: u64,
    ) -> Result<Validating, StoreError> {
        let now = acceptance.now_ms;
        let mut plan = Plan::new();
        plan.push(Validate::Code, dynamo::update_item(self.accept(acceptance)?));
        for (i, lock) in locks.iter().enumerate() {
            plan.push(Validate::Lock(i), dynamo::check_item(lock.not_full(now)?));
        }
        if let Some(gate) = gate {
            plan.push(Validate::Gate, dynamo::check_item(gate.not_full(now)?));
        }
        for credit in credits {
            plan.push(Validate::Credit, dynamo::update_item(credit.credit(sent_ms)?));
        }
        let Some(cancellation) = dynamo::transact_plan(self.client(), plan).await? else {
            return Ok(Validating::Validated);
        };
        if let Some(item) = cancellation.refused(Validate::Gate) {
            return Ok(Validating::CallerRefused { item: item.cloned() });
        }
        let lock_counts: Vec<Option<u64>> =
            (0..locks.len()).map(|i| cancellation.refused(Validate::Lock(i)).map(Guard::count_in)).collect();
        Ok(match cancellation.refused(Validate::Code) {
            Some(None) => Validating::NotFound,
            Some(Some(code)) => Validating::Refused {
                code: Box::new(StoredCode::from_item(code)?),
                locks_full: lock_counts.iter().map(Option::is_some).collect(),
            },
            None if lock_counts.iter().any(Option::is_some) => Validating::LocksFull { counts: lock_counts },
            None => Validating::Conflict,
        })
    }

    /// Marks the code verified, if the code's keyed hash is the stored one and the code is
    /// this application's, usable, and the one the id names.
    fn accept(&self, acceptance: &Acceptance<'_>) -> Result<Update, StoreError> {
        let condition = accept_condition(acceptance.plain.is_some(), acceptance.channel, acceptance.hashes.len());
        let item_key = key(&code_pk(acceptance.id), CODE_SK);
        accepting(self.table(), item_key, condition, acceptance.plain, acceptance.hashes, acceptance.now_ms)
            .expression_attribute_values(":app", s(acceptance.application))
            .build()
            .map_err(StoreError::Build)
    }

    /// Counts a wrong code on the code, on each lock (at the limit the caller chose) and on
    /// the caller's failures, in one transaction.
    pub async fn count_failure(
        &self,
        id: &Uuid,
        locks: &[Guard],
        gate: Option<&Guard>,
        now_ms: u64,
    ) -> Result<FailureCount, StoreError> {
        let mut plan = Plan::new();
        plan.push(Validate::Code, dynamo::update_item(failed_attempt(self.table(), key(&code_pk(id), CODE_SK))?));
        for (i, lock) in locks.iter().enumerate() {
            plan.push(Validate::Lock(i), dynamo::update_item(lock.count_update(now_ms)?));
        }
        if let Some(gate) = gate {
            plan.push(Validate::Gate, dynamo::update_item(gate.count_update(now_ms)?));
        }
        let Some(cancellation) = dynamo::transact_plan(self.client(), plan).await? else {
            return Ok(FailureCount::Counted);
        };
        if cancellation.refused(Validate::Code).is_some() {
            return Ok(FailureCount::CodeChanged);
        }
        if let Some(item) = cancellation.refused(Validate::Gate) {
            return Ok(FailureCount::CallerRefused { item: item.cloned() });
        }
        let full: Vec<bool> = (0..locks.len()).map(|i| cancellation.refused(Validate::Lock(i)).is_some()).collect();
        Ok(if full.contains(&true) { FailureCount::LocksFull(full) } else { FailureCount::Conflict })
    }

    pub async fn get(&self, id: &Uuid) -> Result<Option<StoredCode>, StoreError> {
        self.get_item(id).await?.as_ref().map(StoredCode::from_item).transpose()
    }

    /// The code's item as stored (consistent read).
    pub async fn get_item(&self, id: &Uuid) -> Result<Option<Item>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key(&code_pk(id), CODE_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(out.item)
    }

    /// The id of the latest code sent to `destination` for `app`.
    pub async fn latest(&self, app: &str, destination: &str) -> Result<Option<Uuid>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key(&latest_pk(app, destination), CODE_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(out.item().and_then(|i| get_s(i, CODE_ID)).and_then(|id| Uuid::parse_str(id).ok()))
    }

    /// The code never reached its owner: it can never be used, and validation by destination
    /// goes back to the code it replaced (the last one delivered), unless a newer one has
    /// replaced it since.
    pub async fn mark_undelivered(&self, code: &NewCode) -> Result<(), StoreError> {
        dynamo::retry_conflicts(|| async {
            self.client()
                .update_item()
                .table_name(self.table())
                .set_key(Some(key(&code_pk(&code.id), CODE_SK)))
                .update_expression(expression!("SET {DELIVERY} = :failed"))
                .expression_attribute_values(":failed", s(DeliveryState::Failed.as_str()))
                .send()
                .await
                .map(|_| ())
        })
        .await?;
        for destination in code.destinations() {
            let restore = self
                .client()
                .update_item()
                .table_name(self.table())
                .set_key(Some(key(&latest_pk(&code.application, destination), CODE_SK)))
                .update_expression(expression!("SET {CODE_ID} = {PREVIOUS_CODE_ID}"))
                .condition_expression(expression!("{CODE_ID} = :cid"))
                .expression_attribute_values(":cid", s(code.id.to_string()));
            dynamo::update_unless_refused(restore).await?;
        }
        Ok(())
    }
}

/// The accepting write's condition: usable, this application's, the id's own code (`lk`,
/// unless legacy), and the keyed hash of one active version.
fn accept_condition(same_id: bool, channel: CodeChannel, versions: usize) -> &'static str {
    static ACCEPT: AcceptCondition = AcceptCondition::new();
    static ACCEPT_LEGACY: AcceptCondition = AcceptCondition::new();
    static ACCEPT_EMAIL: AcceptCondition = AcceptCondition::email_code();
    static ACCEPT_LEGACY_EMAIL: AcceptCondition = AcceptCondition::email_code();
    let (current, legacy) = match channel {
        CodeChannel::Sms => (&ACCEPT, &ACCEPT_LEGACY),
        CodeChannel::Email => (&ACCEPT_EMAIL, &ACCEPT_LEGACY_EMAIL),
    };
    if same_id {
        current.get(
            expression!(
                "{APPLICATION} = :app AND attribute_not_exists({VERIFIED_AT}) AND {ATTEMPTS} < {MAX_ATTEMPTS} \
                 AND {EXPIRES_AT} > :now AND {DELIVERY} <> :failed AND {ID_PLAIN} = :lk"
            ),
            versions,
        )
    } else {
        legacy.get(
            expression!(
                "{APPLICATION} = :app AND attribute_not_exists({VERIFIED_AT}) AND {ATTEMPTS} < {MAX_ATTEMPTS} \
                 AND {EXPIRES_AT} > :now AND {DELIVERY} <> :failed"
            ),
            versions,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{CodeChannel, accept_condition};

    #[test]
    fn when_the_accepting_condition_is_built_should_name_every_version_and_the_id_once() {
        assert_eq!(
            accept_condition(true, CodeChannel::Sms, 1),
            "app = :app AND attribute_not_exists(vat) AND att < matt AND exp > :now AND dlv <> :failed \
             AND lk = :lk AND kv = :k0 AND h = :h0"
        );
        assert!(!accept_condition(false, CodeChannel::Sms, 1).contains(":lk"));
        let two = accept_condition(true, CodeChannel::Sms, 2);
        assert!(two.ends_with("AND lk = :lk AND ((kv = :k0 AND h = :h0) OR (kv = :k1 AND h = :h1))"), "{two}");
        let three = accept_condition(true, CodeChannel::Sms, 3);
        assert!(
            three.ends_with(
                "AND lk = :lk AND ((kv = :k0 AND h = :h0) OR (kv = :k1 AND h = :h1) OR (kv = :k2 AND h = :h2))"
            ),
            "{three}"
        );
        assert!(three.starts_with("app = :app AND"), "{three}");
    }
}
