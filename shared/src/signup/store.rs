//! Family A items in the one table: the user, with its outstanding code, and the address's
//! windows (`docs/table.md`).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem, Update};

use crate::attempts::{self, Failure, LockGuess};
use crate::dynamo::{self, Counted, Item, StoreError, Window, get_b, get_n, get_s, key, n, s};
use crate::schema::{
    CODE_ATTEMPTS, CODE_EXPIRES_AT, CODE_ID, CODE_MAX_ATTEMPTS, CREATED_AT, EMAIL, EMAIL_VERIFIED, HASH, KEY_VERSION,
    PK, SIGNUP_WINDOW_PREFIX, STATUS, TTL, USER_ID, USER_PREFIX, USER_SK, UserStatus, VERIFIED_AT, WindowKind,
    expression, flag, window_pk,
};

fn user_pk(address: &str) -> String {
    format!("{USER_PREFIX}{address}")
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
    pub status: UserStatus,
    pub email_verified: bool,
    pub code: Option<OutstandingCode>,
}

impl User {
    /// What an `Idempotency-Key` replays: the user as the send answered it, under the names
    /// of its attributes (`EMAIL_VERIFIED` a JSON boolean here, not a stored flag).
    pub fn to_answer(&self) -> serde_json::Value {
        serde_json::json!({
            USER_ID: self.user_id,
            EMAIL: self.email,
            STATUS: self.status.as_str(),
            EMAIL_VERIFIED: self.email_verified,
        })
    }

    pub fn from_answer(answer: &serde_json::Value) -> Option<Self> {
        Some(Self {
            user_id: answer[USER_ID].as_str()?.to_string(),
            email: answer[EMAIL].as_str()?.to_string(),
            status: UserStatus::parse(answer[STATUS].as_str()?)?,
            email_verified: answer[EMAIL_VERIFIED].as_bool()?,
            code: None,
        })
    }

    fn from_item(item: &Item) -> Result<Self, StoreError> {
        let text = |name: &'static str| get_s(item, name).map(str::to_string).ok_or(StoreError::Malformed(name));
        let code = match (get_s(item, CODE_ID), get_b(item, HASH)) {
            (Some(id), Some(hash)) => Some(OutstandingCode {
                id: id.to_string(),
                hash: hash.to_vec(),
                key_version: get_n(item, KEY_VERSION).ok_or(StoreError::Malformed(KEY_VERSION))?,
                expires_ms: get_n(item, CODE_EXPIRES_AT).ok_or(StoreError::Malformed(CODE_EXPIRES_AT))?,
                attempts: get_n(item, CODE_ATTEMPTS).ok_or(StoreError::Malformed(CODE_ATTEMPTS))?,
                max_attempts: get_n(item, CODE_MAX_ATTEMPTS).ok_or(StoreError::Malformed(CODE_MAX_ATTEMPTS))?,
            }),
            _ => None,
        };
        Ok(Self {
            user_id: text(USER_ID)?,
            email: text(EMAIL)?,
            status: get_s(item, STATUS).and_then(UserStatus::parse).ok_or(StoreError::Malformed(STATUS))?,
            email_verified: get_s(item, EMAIL_VERIFIED) == Some(flag(true)),
            code,
        })
    }
}

/// What `replace_code` stores.
pub struct NewCode<'a> {
    pub user_id: &'a str,
    pub email: &'a str,
    /// Whether the send read a user: the write then holds only while it is that user, still
    /// unconfirmed; otherwise only while there is none.
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
}

impl UserStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn window(&self, kind: WindowKind, address: &str, max: u32, interval_ms: u64) -> Window {
        Window::new(&self.table, window_pk(SIGNUP_WINDOW_PREFIX, kind, address), max, interval_ms)
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
        let condition = if new.existing {
            expression!("{USER_ID} = :uid AND {STATUS} = :unconfirmed")
        } else {
            expression!("attribute_not_exists({PK})")
        };
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(&user_pk(new.email), USER_SK)))
            .update_expression(expression!(
                "SET {USER_ID} = :uid, {EMAIL} = :email, {STATUS} = :unconfirmed, \
                 {EMAIL_VERIFIED} = if_not_exists({EMAIL_VERIFIED}, :false), {CREATED_AT} = if_not_exists({CREATED_AT}, :now), \
                 {CODE_ID} = :cid, {HASH} = :h, {KEY_VERSION} = :kv, {CODE_EXPIRES_AT} = :cexp, \
                 {CODE_ATTEMPTS} = :zero, {CODE_MAX_ATTEMPTS} = :max, #ttl = :ttl"
            ))
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":ttl", n(new.expires_at_s))
            .condition_expression(condition)
            .expression_attribute_values(":uid", s(new.user_id))
            .expression_attribute_values(":email", s(new.email))
            .expression_attribute_values(":unconfirmed", s(UserStatus::Unconfirmed.as_str()))
            .expression_attribute_values(":false", s(flag(false)))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":cid", s(&code.id))
            .expression_attribute_values(":h", AttributeValue::B(Blob::new(code.hash.clone())))
            .expression_attribute_values(":kv", n(code.key_version))
            .expression_attribute_values(":cexp", n(code.expires_ms))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":max", n(code.max_attempts))
            .build()?;
        let mut others = vec![dynamo::check_item(lock.not_full(now_ms)?), dynamo::update_item(update)];
        let first_guard = others.len();
        others.extend_from_slice(guards);
        Ok(match dynamo::transact_counting(&self.client, windows, &others, now_ms).await? {
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
            .condition_expression(expression!("{CODE_ID} = :cid"))
            .expression_attribute_values(":cid", s(code_id));
        let request = match previous {
            None => request.update_expression(expression!(
                "REMOVE {CODE_ID}, {HASH}, {KEY_VERSION}, {CODE_EXPIRES_AT}, {CODE_ATTEMPTS}, {CODE_MAX_ATTEMPTS}"
            )),
            Some(code) => request
                .update_expression(expression!(
                    "SET {CODE_ID} = :pcid, {HASH} = :h, {KEY_VERSION} = :kv, {CODE_EXPIRES_AT} = :cexp, \
                     {CODE_ATTEMPTS} = :catt, {CODE_MAX_ATTEMPTS} = :cmatt"
                ))
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
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(&user_pk(address), USER_SK)))
            // A confirmed user is the only copy of the account: it never expires.
            .update_expression(expression!(
                "SET {STATUS} = :confirmed, {EMAIL_VERIFIED} = :true, {VERIFIED_AT} = :now \
                 REMOVE {CODE_ID}, {HASH}, {KEY_VERSION}, {CODE_EXPIRES_AT}, {CODE_ATTEMPTS}, {CODE_MAX_ATTEMPTS}, #ttl"
            ))
            .expression_attribute_names("#ttl", TTL)
            .condition_expression(expression!(
                "{CODE_ID} = :cid AND {STATUS} = :unconfirmed AND {CODE_ATTEMPTS} < {CODE_MAX_ATTEMPTS} \
                 AND {CODE_EXPIRES_AT} > :now"
            ))
            .expression_attribute_values(":confirmed", s(UserStatus::Confirmed.as_str()))
            .expression_attribute_values(":unconfirmed", s(UserStatus::Unconfirmed.as_str()))
            .expression_attribute_values(":true", s(flag(true)))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":cid", s(code_id))
            .build()?;
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
        let attempt = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(&user_pk(address), USER_SK)))
            .update_expression(expression!("SET {CODE_ATTEMPTS} = {CODE_ATTEMPTS} + :one"))
            .condition_expression(expression!("{CODE_ID} = :cid AND {CODE_ATTEMPTS} < {CODE_MAX_ATTEMPTS}"))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":cid", s(&code.id))
            .build()?;
        let guess = LockGuess::after(code.attempts);
        attempts::count_failure(&self.client, attempt, std::slice::from_ref(lock), gates, guess, now_ms).await
    }
}
