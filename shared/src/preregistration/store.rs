//! Family B items in the one table: the code, the latest code of a destination per
//! application, and the destination's windows (`docs/table.md`).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use uuid::Uuid;

use crate::dynamo::{self, Counted, Item, Plan, Slot, StoreError, Window, get_b, get_n, get_s, key, n, s};
use crate::guards::Guard;
use crate::schema::{
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
}

impl StoredCode {
    pub fn destinations(&self) -> Vec<&str> {
        self.mobile.iter().chain(self.email.iter()).map(String::as_str).collect()
    }

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
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum StoreOutcome {
    Stored,
    RateLimited,
    /// The request's guard at this index refused (with its bucket as stored).
    Guarded {
        guard: usize,
        item: Option<Item>,
    },
    /// The `Idempotency-Key`'s record exists (as stored): the key was used before.
    KeyTaken {
        item: Option<Item>,
    },
    Locked,
    IdTaken,
}

#[derive(Clone)]
pub struct CodeStore {
    client: Client,
    table: String,
}

fn put_new(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(expression!("attribute_not_exists({PK})"))
        .build()?;
    Ok(TransactWriteItem::builder().put(put).build())
}

impl CodeStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn window(&self, kind: WindowKind, destination: &str, max: u32, interval_ms: u64) -> Window {
        Window::new(&self.table, window_pk(CODE_WINDOW_PREFIX, kind, destination), max, interval_ms)
    }

    /// Failed validations of a destination, per fixed bucket (`CNF#FAIL#<subject>#<n>`): the
    /// subject is the mobile number, or an e-mail address's keyed tag
    /// (`schema::email_tag_subject`), both of which a confirmation id carries.
    pub fn failure_lock(&self, subject: &str, max: u32, interval_ms: u64) -> Guard {
        Guard::lock(&self.table, window_pk(CODE_WINDOW_PREFIX, WindowKind::Fail, subject), max, interval_ms)
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
    ) -> Result<StoreOutcome, StoreError> {
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
        plan.push(Slot::Record, put_new(&self.table, item)?);
        for destination in code.destinations() {
            // The previous code id keeps the code this one replaces, for `mark_undelivered` if
            // this one is never delivered ("" when there was none).
            let pointer = Update::builder()
                .table_name(&self.table)
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
        Ok(match dynamo::transact_counting(&self.client, windows, &plan, now_ms).await? {
            Counted::Written => StoreOutcome::Stored,
            Counted::WindowFull(_) => StoreOutcome::RateLimited,
            Counted::Refused { slot: Slot::Lock, .. } => StoreOutcome::Locked,
            Counted::Refused { slot: Slot::Record | Slot::Reservation | Slot::Pointer, .. } => StoreOutcome::IdTaken,
            Counted::Refused { slot: Slot::Guard(guard), item } => StoreOutcome::Guarded { guard, item },
            Counted::Refused { slot: Slot::Idempotency, item } => StoreOutcome::KeyTaken { item },
        })
    }

    pub async fn get(&self, id: &Uuid) -> Result<Option<StoredCode>, StoreError> {
        self.get_item(id).await?.as_ref().map(StoredCode::from_item).transpose()
    }

    /// The code's item as stored (consistent read).
    pub async fn get_item(&self, id: &Uuid) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
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
            .client
            .get_item()
            .table_name(&self.table)
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
            self.client
                .update_item()
                .table_name(&self.table)
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
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(&latest_pk(&code.application, destination), CODE_SK)))
                .update_expression(expression!("SET {CODE_ID} = {PREVIOUS_CODE_ID}"))
                .condition_expression(expression!("{CODE_ID} = :cid"))
                .expression_attribute_values(":cid", s(code.id.to_string()));
            dynamo::update_unless_refused(restore).await?;
        }
        Ok(())
    }
}
