//! Family B items in the one table.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | code | `CNF#<uuid>` | `CNF` |
//! | latest code of a destination, per application (`cid`; `pcid` the one it replaced) | `CNFLATEST#<app>#<destination>` | `CNF` |
//! | send window / resend gap / failed-validation window of a destination | `CNF#RATE#`, `CNF#GAP#`, `CNF#FAIL#` + destination | `WINDOW` |
//!
//! Code attributes: `app`, `mob` (E.164), `eml`, `h`, `kv`, `exp`, `att`, `matt`, `vat`,
//! `dlv` (shared with the other families, see `attempts`), `lang`, `cat`, `ttl`,
//! and `audit` (the request's audit fields, as JSON).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem, Update};
use uuid::Uuid;

use crate::attempts::{self, Consumed, Failure};
use crate::dynamo::{self, Counted, Item, StoreError, Window, WindowHints, get_b, get_n, get_s, key, n, s};

const SK: &str = "CNF";
/// Codes stay a day after expiry, for audit, before TTL removes them.
const RETENTION_AFTER_EXPIRY_S: u64 = 86_400;

pub fn code_pk(id: &Uuid) -> String {
    format!("CNF#{id}")
}

fn latest_pk(app: &str, destination: &str) -> String {
    format!("CNFLATEST#{app}#{destination}")
}

#[derive(Debug, Clone)]
pub struct NewCode {
    pub id: Uuid,
    pub application: String,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub hash: [u8; 32],
    pub key_version: u32,
    pub language: String,
    pub audit_json: String,
    pub created_ms: u64,
    pub expires_ms: u64,
    pub max_attempts: u32,
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

    fn from_item(item: &Item) -> Result<Self, StoreError> {
        let num = |name: &'static str| get_n::<u64>(item, name).ok_or(StoreError::Malformed(name));
        Ok(Self {
            id: get_s(item, "pk")
                .and_then(|pk| pk.strip_prefix("CNF#"))
                .and_then(|id| Uuid::parse_str(id).ok())
                .ok_or(StoreError::Malformed("pk"))?,
            application: get_s(item, "app").ok_or(StoreError::Malformed("app"))?.to_string(),
            mobile: get_s(item, "mob").map(str::to_string),
            email: get_s(item, "eml").map(str::to_string),
            hash: get_b(item, "h").ok_or(StoreError::Malformed("h"))?.to_vec(),
            key_version: num("kv")? as u32,
            created_ms: num("cat")?,
            expires_ms: num("exp")?,
            attempts: num("att")? as u32,
            max_attempts: num("matt")? as u32,
            verified: item.contains_key("vat"),
            delivery_failed: get_s(item, "dlv") == Some("failed"),
            audit_json: get_s(item, "audit").map(str::to_string),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum StoreOutcome {
    Stored,
    RateLimited,
    /// The guard at this index refused (with its bucket as stored).
    Guarded {
        index: usize,
        item: Option<Item>,
    },
    Locked,
    IdTaken,
}

#[derive(Clone)]
pub struct CodeStore {
    client: Client,
    table: String,
    /// Shared by the clones of this store: one per process (see `WindowHints`).
    hints: std::sync::Arc<WindowHints>,
}

fn put(table: &str, item: Item, only_new: bool) -> Result<TransactWriteItem, StoreError> {
    let mut builder = Put::builder().table_name(table).set_item(Some(item));
    if only_new {
        builder = builder.condition_expression("attribute_not_exists(pk)");
    }
    let put = builder.build().map_err(|e| StoreError::Build(e.to_string()))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

impl CodeStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), hints: Default::default() }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn window(&self, kind: &str, destination: &str, max: u32, interval_ms: u64) -> Window {
        Window::new(&self.table, format!("CNF#{kind}#{destination}"), max, interval_ms)
    }

    /// Stores the code and makes it the latest of each destination, counting one send in
    /// each window and each guard (`guards::Guard::count`), refused while any destination is
    /// locked: one transaction.
    pub async fn create(
        &self,
        code: &NewCode,
        windows: &[Window],
        locks: &[Window],
        guards: &[TransactWriteItem],
        now_ms: u64,
    ) -> Result<StoreOutcome, StoreError> {
        let ttl = code.expires_ms / 1000 + RETENTION_AFTER_EXPIRY_S;
        let mut item = key(&code_pk(&code.id), SK);
        item.extend([
            ("app".to_string(), s(&code.application)),
            ("h".to_string(), AttributeValue::B(Blob::new(code.hash.to_vec()))),
            ("kv".to_string(), n(code.key_version)),
            ("exp".to_string(), n(code.expires_ms)),
            ("att".to_string(), n(0)),
            ("matt".to_string(), n(code.max_attempts)),
            ("dlv".to_string(), s("sent")),
            ("lang".to_string(), s(&code.language)),
            ("cat".to_string(), n(code.created_ms)),
            ("ttl".to_string(), n(ttl)),
            ("audit".to_string(), s(&code.audit_json)),
        ]);
        if let Some(mobile) = &code.mobile {
            item.insert("mob".to_string(), s(mobile));
        }
        if let Some(email) = &code.email {
            item.insert("eml".to_string(), s(email));
        }
        let mut others =
            locks.iter().map(|l| l.not_full(now_ms).map(dynamo::check_item)).collect::<Result<Vec<_>, _>>()?;
        others.push(put(&self.table, item, true)?);
        for destination in code.destinations() {
            // `pcid` keeps the code this one replaces, for `undo_latest` if this one is never
            // delivered ("" when there was none).
            let pointer = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(&latest_pk(&code.application, destination), SK)))
                .update_expression("SET pcid = if_not_exists(cid, :none), cid = :cid, #ttl = :ttl")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":none", s(""))
                .expression_attribute_values(":cid", s(code.id.to_string()))
                .expression_attribute_values(":ttl", n(ttl))
                .build()
                .map_err(|e| StoreError::Build(e.to_string()))?;
            others.push(dynamo::update_item(pointer));
        }
        let first_guard = others.len();
        others.extend_from_slice(guards);
        Ok(match dynamo::transact_counting(&self.client, windows, &others, &self.hints, now_ms).await? {
            Counted::Written => StoreOutcome::Stored,
            Counted::WindowFull(_) => StoreOutcome::RateLimited,
            Counted::Refused { index, .. } if index < locks.len() => StoreOutcome::Locked,
            Counted::Refused { index, item } if index >= first_guard => {
                StoreOutcome::Guarded { index: index - first_guard, item }
            }
            Counted::Refused { .. } => StoreOutcome::IdTaken,
        })
    }

    pub async fn get(&self, id: &Uuid) -> Result<Option<StoredCode>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(&code_pk(id), SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        out.item().map(StoredCode::from_item).transpose()
    }

    /// The id of the latest code sent to `destination` for `app`.
    pub async fn latest(&self, app: &str, destination: &str) -> Result<Option<Uuid>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(&latest_pk(app, destination), SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(out.item().and_then(|i| get_s(i, "cid")).and_then(|id| Uuid::parse_str(id).ok()))
    }

    /// Marks the code verified unless a lock or gate is full, crediting `credits` (the
    /// number block of its mobile) with the verification: one transaction.
    pub async fn consume(
        &self,
        code: &StoredCode,
        locks: &[Window],
        gates: &[ConditionCheck],
        credits: &[Update],
        now_ms: u64,
    ) -> Result<Consumed, StoreError> {
        attempts::consume_code(&self.client, &self.table, key(&code_pk(&code.id), SK), locks, gates, credits, now_ms)
            .await
    }

    /// Counts one failed attempt on the code, on each destination's failure lock and on each
    /// gate (the caller's failures), in one step.
    pub async fn record_failure(
        &self,
        code: &StoredCode,
        locks: &[Window],
        gates: &[Update],
        now_ms: u64,
    ) -> Result<Failure, StoreError> {
        let attempt = attempts::failed_attempt(&self.table, key(&code_pk(&code.id), SK))?;
        attempts::count_failure(&self.client, attempt, locks, gates, code.attempts > 0, now_ms).await
    }

    /// The code never reached its owner: it can never be used, and validation by destination
    /// goes back to the code it replaced (the last one delivered), unless a newer one has
    /// replaced it since.
    pub async fn mark_undelivered(&self, code: &NewCode) -> Result<(), StoreError> {
        dynamo::retry_conflicts(|| async {
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(&code_pk(&code.id), SK)))
                .update_expression("SET dlv = :failed")
                .expression_attribute_values(":failed", s("failed"))
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
                .set_key(Some(key(&latest_pk(&code.application, destination), SK)))
                .update_expression("SET cid = pcid")
                .condition_expression("cid = :cid")
                .expression_attribute_values(":cid", s(code.id.to_string()));
            dynamo::update_unless_refused(restore).await?;
        }
        Ok(())
    }
}
