//! Family A items in the one table.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | user | `USER#<address>` | `USER` |
//! | send window / resend gap / failed-confirmation window of an address | `SIGNUP#RATE#`, `SIGNUP#GAP#`, `SIGNUP#FAIL#` + address | `WINDOW` |
//!
//! User attributes: `uid` (UserID and `sub`), `email`, `st` (UNCONFIRMED / CONFIRMED), `ev`
//! (`email_verified`), `cat`, `vat`, `ttl` (UNCONFIRMED users only); the outstanding code: `cid` (its id, bound into the
//! hash), `h`, `kv`, `cexp` (epoch ms), `catt` / `cmatt` (failed attempts / maximum).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem, Update};

use crate::attempts::{self, Failure};
use crate::dynamo::{self, Counted, Item, StoreError, Window, WindowHints, get_b, get_n, get_s, key, n, s};

pub const UNCONFIRMED: &str = "UNCONFIRMED";
pub const CONFIRMED: &str = "CONFIRMED";
const USER_SK: &str = "USER";

fn user_pk(address: &str) -> String {
    format!("USER#{address}")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutstandingCode {
    pub id: String,
    pub hash: Vec<u8>,
    pub key_version: u32,
    pub expires_ms: u64,
    pub attempts: u32,
    pub max_attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub user_id: String,
    pub email: String,
    pub status: String,
    pub email_verified: bool,
    pub code: Option<OutstandingCode>,
}

impl User {
    /// What an `Idempotency-Key` replays: the user as the send answered it.
    pub fn to_answer(&self) -> serde_json::Value {
        serde_json::json!({"uid": self.user_id, "email": self.email, "st": self.status, "ev": self.email_verified})
    }

    pub fn from_answer(answer: &serde_json::Value) -> Option<Self> {
        Some(Self {
            user_id: answer["uid"].as_str()?.to_string(),
            email: answer["email"].as_str()?.to_string(),
            status: answer["st"].as_str()?.to_string(),
            email_verified: answer["ev"].as_bool()?,
            code: None,
        })
    }

    fn from_item(item: &Item) -> Result<Self, StoreError> {
        let text = |name: &'static str| get_s(item, name).map(str::to_string).ok_or(StoreError::Malformed(name));
        let code = match (get_s(item, "cid"), get_b(item, "h")) {
            (Some(id), Some(hash)) => Some(OutstandingCode {
                id: id.to_string(),
                hash: hash.to_vec(),
                key_version: get_n(item, "kv").ok_or(StoreError::Malformed("kv"))?,
                expires_ms: get_n(item, "cexp").ok_or(StoreError::Malformed("cexp"))?,
                attempts: get_n(item, "catt").ok_or(StoreError::Malformed("catt"))?,
                max_attempts: get_n(item, "cmatt").ok_or(StoreError::Malformed("cmatt"))?,
            }),
            _ => None,
        };
        Ok(Self {
            user_id: text("uid")?,
            email: text("email")?,
            status: text("st")?,
            email_verified: get_s(item, "ev") == Some("true"),
            code,
        })
    }
}

/// What `replace_code` stores.
pub struct NewCode<'a> {
    pub user_id: &'a str,
    pub email: &'a str,
    pub existing: bool,
    pub code: &'a OutstandingCode,
    /// When DynamoDB may remove the user if it is still UNCONFIRMED (epoch s).
    pub expires_at_s: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    Stored,
    LimitExceeded,
    /// The guard at this index refused (with its bucket as stored).
    Guarded {
        index: usize,
        item: Option<Item>,
    },
    Locked,
    /// The user changed since it was read (created, confirmed, re-sent): read it again.
    Changed,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConfirmOutcome {
    Confirmed,
    Locked,
    /// A gate (the caller's failures) is full: the window as stored.
    Gated(Option<Item>),
    Changed,
}

#[derive(Clone)]
pub struct UserStore {
    client: Client,
    table: String,
    /// Shared by the clones of this store: one per process (see `WindowHints`).
    hints: std::sync::Arc<WindowHints>,
}

fn build<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Build(e.to_string()))
}

impl UserStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), hints: Default::default() }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn window(&self, kind: &str, address: &str, max: u32, interval_ms: u64) -> Window {
        Window::new(&self.table, format!("SIGNUP#{kind}#{address}"), max, interval_ms)
    }

    pub async fn get(&self, address: &str) -> Result<Option<User>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(&user_pk(address), USER_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        out.item().map(User::from_item).transpose()
    }

    /// Creates the user if new and replaces its code, counting one send in each window, in
    /// one transaction that holds only while the user is as it was read and unconfirmed.
    pub async fn replace_code(
        &self,
        new: &NewCode<'_>,
        windows: &[Window],
        lock: &Window,
        guards: &[TransactWriteItem],
        now_ms: u64,
    ) -> Result<SendOutcome, StoreError> {
        let code = new.code;
        let condition = if new.existing { "uid = :uid AND st = :unconfirmed" } else { "attribute_not_exists(pk)" };
        let update = build(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(&user_pk(new.email), USER_SK)))
                .update_expression(
                    "SET uid = :uid, email = :email, st = :unconfirmed, ev = if_not_exists(ev, :false), \
                     cat = if_not_exists(cat, :now), cid = :cid, h = :h, kv = :kv, cexp = :cexp, catt = :zero, cmatt = :max, \
                     #ttl = :ttl",
                )
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":ttl", n(new.expires_at_s))
                .condition_expression(condition)
                .expression_attribute_values(":uid", s(new.user_id))
                .expression_attribute_values(":email", s(new.email))
                .expression_attribute_values(":unconfirmed", s(UNCONFIRMED))
                .expression_attribute_values(":false", s("false"))
                .expression_attribute_values(":now", n(now_ms))
                .expression_attribute_values(":cid", s(&code.id))
                .expression_attribute_values(":h", AttributeValue::B(Blob::new(code.hash.clone())))
                .expression_attribute_values(":kv", n(code.key_version))
                .expression_attribute_values(":cexp", n(code.expires_ms))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":max", n(code.max_attempts))
                .build(),
        )?;
        let mut others = vec![dynamo::check_item(lock.not_full(now_ms)?), dynamo::update_item(update)];
        let first_guard = others.len();
        others.extend_from_slice(guards);
        Ok(match dynamo::transact_counting(&self.client, windows, &others, &self.hints, now_ms).await? {
            Counted::Written => SendOutcome::Stored,
            Counted::WindowFull(_) => SendOutcome::LimitExceeded,
            Counted::Refused { index: 0, .. } => SendOutcome::Locked,
            Counted::Refused { index, item } if index >= first_guard => {
                SendOutcome::Guarded { index: index - first_guard, item }
            }
            Counted::Refused { .. } => SendOutcome::Changed,
        })
    }

    /// The new code's e-mail never left: puts back the code it replaced (`previous`, if it is
    /// still valid, so a failed resend leaves the user the code they already have), or forgets
    /// the new one, if it is still the outstanding one.
    pub async fn undo_code(
        &self,
        address: &str,
        code_id: &str,
        previous: Option<&OutstandingCode>,
    ) -> Result<(), StoreError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&user_pk(address), USER_SK)))
            .condition_expression("cid = :cid")
            .expression_attribute_values(":cid", s(code_id));
        let request = match previous {
            None => request.update_expression("REMOVE cid, h, kv, cexp, catt, cmatt"),
            Some(code) => request
                .update_expression("SET cid = :pcid, h = :h, kv = :kv, cexp = :cexp, catt = :catt, cmatt = :cmatt")
                .expression_attribute_values(":pcid", s(&code.id))
                .expression_attribute_values(":h", AttributeValue::B(Blob::new(code.hash.clone())))
                .expression_attribute_values(":kv", n(code.key_version))
                .expression_attribute_values(":cexp", n(code.expires_ms))
                .expression_attribute_values(":catt", n(code.attempts))
                .expression_attribute_values(":cmatt", n(code.max_attempts)),
        };
        dynamo::update_unless_refused(request).await.map(|_| ())
    }

    /// Confirms the user and consumes the code in one step, if the code is still the one
    /// checked, usable, and the address is not locked.
    pub async fn confirm(
        &self,
        address: &str,
        code_id: &str,
        lock: &Window,
        gate: Option<ConditionCheck>,
        now_ms: u64,
    ) -> Result<ConfirmOutcome, StoreError> {
        let update = build(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(&user_pk(address), USER_SK)))
                // A confirmed user is the only copy of the account: it never expires.
                .update_expression(
                    "SET st = :confirmed, ev = :true, vat = :now REMOVE cid, h, kv, cexp, catt, cmatt, #ttl",
                )
                .expression_attribute_names("#ttl", "ttl")
                .condition_expression("cid = :cid AND st = :unconfirmed AND catt < cmatt AND cexp > :now")
                .expression_attribute_values(":confirmed", s(CONFIRMED))
                .expression_attribute_values(":unconfirmed", s(UNCONFIRMED))
                .expression_attribute_values(":true", s("true"))
                .expression_attribute_values(":now", n(now_ms))
                .expression_attribute_values(":cid", s(code_id))
                .build(),
        )?;
        let mut items = vec![dynamo::check_item(lock.not_full(now_ms)?), dynamo::update_item(update)];
        if let Some(gate) = gate {
            items.push(dynamo::check_item(gate));
        }
        Ok(match dynamo::transact(&self.client, items).await? {
            None => ConfirmOutcome::Confirmed,
            Some(reasons) => {
                dynamo::fail_on_other(&reasons)?;
                match (reasons.first().cloned().flatten(), reasons.get(2).cloned().flatten()) {
                    (Some(dynamo::Refusal::Condition(_)), _) => ConfirmOutcome::Locked,
                    (_, Some(dynamo::Refusal::Condition(item))) => ConfirmOutcome::Gated(item),
                    _ => ConfirmOutcome::Changed,
                }
            }
        })
    }

    /// Counts a failed confirmation of this code and one failure on the address's lock, in
    /// one step.
    pub async fn record_failure(
        &self,
        address: &str,
        code: &OutstandingCode,
        lock: &Window,
        gates: &[Update],
        now_ms: u64,
    ) -> Result<Failure, StoreError> {
        let attempt = build(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(&user_pk(address), USER_SK)))
                .update_expression("SET catt = catt + :one")
                .condition_expression("cid = :cid AND catt < cmatt")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":cid", s(&code.id))
                .build(),
        )?;
        attempts::count_failure(&self.client, attempt, std::slice::from_ref(lock), gates, code.attempts > 0, now_ms)
            .await
    }
}
