//! Family A items in the one table: the user, with its outstanding code, and the address's
//! windows and failure lock (`docs/table.md`).
//!
//! Every write decides by conditions on the user item, never by a read first: a send creates
//! or re-codes an unconfirmed user (a confirmed one refuses it, returning itself), a
//! confirmation compares the code's keyed hash inside DynamoDB (see `confirm`).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure, Update};

use crate::store::Table;
use crate::store::attempts::{AcceptCondition, SubmittedHash, bind_hashes};
use crate::store::dynamo::{self, Item, Plan, Sending, Slot, StoreError, Window, get_b, get_n, get_s, key, n, s};
use crate::store::guards::Guard;
use crate::store::schema::{
    CODE_ATTEMPTS, CODE_EXPIRES_AT, CODE_ID, CODE_MAX_ATTEMPTS, CREATED_AT, EMAIL, EMAIL_VERIFIED, HASH, HASH_BINDING,
    HASH_BINDS_ADDRESS, KEY_VERSION, PK, PREVIOUS_CODE_ATTEMPTS, PREVIOUS_CODE_EXPIRES_AT, PREVIOUS_CODE_ID,
    PREVIOUS_CODE_MAX_ATTEMPTS, PREVIOUS_HASH, PREVIOUS_HASH_BINDING, PREVIOUS_KEY_VERSION, SIGNUP_WINDOW_PREFIX,
    STATUS, TTL, USER_ID, USER_PREFIX, USER_SK, UserStatus, VERIFIED_AT, WindowKind, expression, flag, window_pk,
};

fn user_pk(address: &str) -> String {
    format!("{USER_PREFIX}{address}")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutstandingCode {
    pub id: String,
    pub hash: Vec<u8>,
    pub key_version: u32,
    /// The hash binds the address (`HASH_BINDS_ADDRESS`); else, as stored before, the id.
    pub binds_address: bool,
    pub expires_ms: u64,
    pub attempts: u32,
    pub max_attempts: u32,
}

impl OutstandingCode {
    /// What the code's hash binds besides purpose and code.
    pub fn binding<'a>(&'a self, address: &'a str) -> &'a str {
        if self.binds_address { address } else { &self.id }
    }
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

    /// The user as stored (as a refused write returned it).
    pub fn from_item(item: &Item) -> Result<Self, StoreError> {
        let text = |name: &'static str| get_s(item, name).map(str::to_string).ok_or(StoreError::Malformed(name));
        let code = match (get_s(item, CODE_ID), get_b(item, HASH)) {
            (Some(id), Some(hash)) => Some(OutstandingCode {
                id: id.to_string(),
                hash: hash.to_vec(),
                key_version: get_n(item, KEY_VERSION).ok_or(StoreError::Malformed(KEY_VERSION))?,
                binds_address: get_n::<u32>(item, HASH_BINDING) == Some(HASH_BINDS_ADDRESS),
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
    /// The user's id: a new user's, or the one an unconfirmed user must already have.
    pub user_id: &'a str,
    pub email: &'a str,
    /// Bound to the address (`binds_address`).
    pub code: &'a OutstandingCode,
    /// When DynamoDB may remove the user if it is still UNCONFIRMED (epoch s).
    pub expires_at_s: u64,
}

/// Which user a confirmation confirms.
pub enum Confirmation<'a> {
    /// The user `user_id`, if its code's keyed hash is one of `hashes` (the submitted code's
    /// under each active key version, bound to the address) and the code is usable.
    ByHash { user_id: &'a str, hashes: &'a [SubmittedHash] },
    /// The user whose code `code_id` was checked by the caller (a code stored before hashes
    /// bound the address, or a user whose id is not derived from it).
    ByCodeId { code_id: &'a str },
}

/// What refused a cancelled confirmation or count of a wrong code (`None`: that item did not).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Refused {
    /// The user (or its code) refused: the user as it was, `None` inside when there is none.
    pub user: Option<Option<User>>,
    /// Another request held the user.
    pub user_conflict: bool,
    /// The address's lock refused: its count as stored.
    pub lock: Option<u64>,
    /// The caller's failures refused: its bucket as stored.
    pub caller: Option<Option<Item>>,
}

/// The items of a confirmation or of a count of a wrong code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Confirm {
    User,
    Lock,
    /// The caller's failures.
    Gate,
    /// The credit of the caller's sends.
    Credit,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    Stored,
    LimitExceeded,
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
    AlreadyConfirmed,
    /// An unconfirmed user with another id (made before ids were derived from the address,
    /// or under another key version): send again with this one.
    UserId(String),
    /// The user changed in between: send again.
    Changed,
}

/// The values a hash term of a confirmation names, per key version (`:k0`/`:h0`, ...). A
/// ring of more active versions leaves those past the fourth out of the condition: their
/// codes are refused there, compared in Lambda from the refused item and consumed by id (2
/// calls).
/// The condition of a confirmation with `versions` active key versions: the user is the
/// address's, unconfirmed, its code bound to the address, usable, and its keyed hash under its
/// own version one of the submitted code's.
fn confirm_condition(versions: usize) -> &'static str {
    static CONFIRM: AcceptCondition = AcceptCondition::new();
    CONFIRM.get(
        expression!(
            "{STATUS} = :unconfirmed AND {USER_ID} = :uid AND {HASH_BINDING} = :bound \
             AND {CODE_ATTEMPTS} < {CODE_MAX_ATTEMPTS} AND {CODE_EXPIRES_AT} > :now"
        ),
        versions,
    )
}

#[derive(Clone)]
pub struct SignupStore {
    table: Table,
}

impl std::ops::Deref for SignupStore {
    type Target = Table;

    fn deref(&self) -> &Table {
        &self.table
    }
}

impl SignupStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { table: Table::new(client, table) }
    }

    pub fn window(&self, kind: WindowKind, address: &str, max: u32, interval_ms: u64) -> Window {
        Window::new(self.table(), window_pk(SIGNUP_WINDOW_PREFIX, kind, address), max, interval_ms)
    }

    /// Failed confirmations of an address, per fixed bucket: a confirmation checks it with no
    /// guess about whether a window is open (see `confirm`).
    pub fn failure_lock(&self, address: &str, max: u32, interval_ms: u64) -> Guard {
        Guard::lock(self.table(), window_pk(SIGNUP_WINDOW_PREFIX, WindowKind::Fail, address), max, interval_ms)
    }

    /// Creates the user if new, or replaces the code of an unconfirmed user with this id,
    /// counting one send in each window, in one transaction; the code it replaces is copied
    /// aside (`undo_code`). Refused, the user as it was says why (confirmed, another id).
    pub async fn replace_code(
        &self,
        new: &NewCode<'_>,
        windows: &[Window],
        lock: &Guard,
        checks: Plan<Slot>,
        now_ms: u64,
    ) -> Result<SendOutcome, StoreError> {
        let code = new.code;
        let hash = AttributeValue::B(Blob::new(code.hash.clone()));
        // AWS reads every operand from the item as it was; moto applies the actions in the
        // order written: the copies of the replaced code come first, for both.
        let update = Update::builder()
            .table_name(self.table())
            .set_key(Some(key(&user_pk(new.email), USER_SK)))
            .update_expression(expression!(
                "SET {PREVIOUS_CODE_ID} = if_not_exists({CODE_ID}, :none), {PREVIOUS_HASH} = if_not_exists({HASH}, :h), \
                 {PREVIOUS_KEY_VERSION} = if_not_exists({KEY_VERSION}, :zero), \
                 {PREVIOUS_HASH_BINDING} = if_not_exists({HASH_BINDING}, :zero), \
                 {PREVIOUS_CODE_EXPIRES_AT} = if_not_exists({CODE_EXPIRES_AT}, :zero), \
                 {PREVIOUS_CODE_ATTEMPTS} = if_not_exists({CODE_ATTEMPTS}, :zero), \
                 {PREVIOUS_CODE_MAX_ATTEMPTS} = if_not_exists({CODE_MAX_ATTEMPTS}, :zero), \
                 {USER_ID} = :uid, {EMAIL} = :email, {STATUS} = :unconfirmed, \
                 {EMAIL_VERIFIED} = if_not_exists({EMAIL_VERIFIED}, :false), {CREATED_AT} = if_not_exists({CREATED_AT}, :now), \
                 {CODE_ID} = :cid, {HASH} = :h, {KEY_VERSION} = :kv, {HASH_BINDING} = :bound, {CODE_EXPIRES_AT} = :cexp, \
                 {CODE_ATTEMPTS} = :zero, {CODE_MAX_ATTEMPTS} = :max, #ttl = :ttl"
            ))
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":ttl", n(new.expires_at_s))
            .condition_expression(expression!(
                "attribute_not_exists({PK}) OR ({STATUS} = :unconfirmed AND {USER_ID} = :uid)"
            ))
            .expression_attribute_values(":none", s(""))
            .expression_attribute_values(":uid", s(new.user_id))
            .expression_attribute_values(":email", s(new.email))
            .expression_attribute_values(":unconfirmed", s(UserStatus::Unconfirmed.as_str()))
            .expression_attribute_values(":false", s(flag(false)))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":cid", s(&code.id))
            .expression_attribute_values(":h", hash)
            .expression_attribute_values(":kv", n(code.key_version))
            .expression_attribute_values(":bound", n(HASH_BINDS_ADDRESS))
            .expression_attribute_values(":cexp", n(code.expires_ms))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":max", n(code.max_attempts))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()?;
        // The checks (the Idempotency-Key's record, the caller's count) first: a refusal is
        // decided by the first refused item, and the user's state must not be told to a
        // caller over its budget or to a reused key (issue 23: probing who is confirmed).
        let mut plan = checks;
        plan.push(Slot::Record, dynamo::update_item(update))
            .push(Slot::Lock, dynamo::check_item(lock.not_full(now_ms)?));
        Ok(match Sending::from(dynamo::transact_counting(self.client(), windows, &plan, now_ms).await?) {
            Sending::Written => SendOutcome::Stored,
            Sending::WindowFull => SendOutcome::LimitExceeded,
            Sending::Guarded { guard, item } => SendOutcome::Guarded { guard, item },
            Sending::KeyTaken { item } => SendOutcome::KeyTaken { item },
            Sending::Locked => SendOutcome::Locked,
            // The user (the plan's only record) refused: as it was, it says why.
            Sending::Taken { item, .. } => {
                let stored = item.as_ref().map(User::from_item).transpose()?;
                match stored {
                    Some(user) if user.status == UserStatus::Confirmed => SendOutcome::AlreadyConfirmed,
                    Some(user) if user.user_id != new.user_id => SendOutcome::UserId(user.user_id),
                    _ => SendOutcome::Changed,
                }
            }
        })
    }

    /// The new code's e-mail never left: puts back the code it replaced while that one is
    /// still valid (a failed resend leaves the user the code they already have), else forgets
    /// the new one; either only while the new code is still the outstanding one.
    pub async fn undo_code(&self, address: &str, code_id: &str, now_ms: u64) -> Result<(), StoreError> {
        let request = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(&user_pk(address), USER_SK)))
            .expression_attribute_values(":cid", s(code_id));
        let restore = request
            .clone()
            .update_expression(expression!(
                "SET {CODE_ID} = {PREVIOUS_CODE_ID}, {HASH} = {PREVIOUS_HASH}, {KEY_VERSION} = {PREVIOUS_KEY_VERSION}, \
                 {HASH_BINDING} = {PREVIOUS_HASH_BINDING}, {CODE_EXPIRES_AT} = {PREVIOUS_CODE_EXPIRES_AT}, \
                 {CODE_ATTEMPTS} = {PREVIOUS_CODE_ATTEMPTS}, {CODE_MAX_ATTEMPTS} = {PREVIOUS_CODE_MAX_ATTEMPTS}"
            ))
            .condition_expression(expression!(
                "{CODE_ID} = :cid AND {PREVIOUS_CODE_ID} <> :none AND {PREVIOUS_CODE_EXPIRES_AT} > :now"
            ))
            .expression_attribute_values(":none", s(""))
            .expression_attribute_values(":now", n(now_ms));
        if dynamo::update_unless_refused(restore).await? {
            return Ok(());
        }
        let forget = request
            .update_expression(expression!(
                "REMOVE {CODE_ID}, {HASH}, {KEY_VERSION}, {HASH_BINDING}, {CODE_EXPIRES_AT}, {CODE_ATTEMPTS}, \
                 {CODE_MAX_ATTEMPTS}"
            ))
            .condition_expression(expression!("{CODE_ID} = :cid"));
        dynamo::update_unless_refused(forget).await.map(|_| ())
    }

    /// Confirms in one transaction, with `lock` (at the limit the caller chose) and the
    /// caller's failures (`gate`) checked and the caller's sends credited (the confirmation's
    /// bucket: the code's send time is not known without a read): `Ok(None)` when confirmed,
    /// else what refused, with the user and the buckets as they were (no read).
    pub async fn confirm(
        &self,
        address: &str,
        confirmation: Confirmation<'_>,
        lock: &Guard,
        gate: Option<&Guard>,
        sends: Option<&Guard>,
        now_ms: u64,
    ) -> Result<Option<Refused>, StoreError> {
        let update = match confirmation {
            Confirmation::ByHash { user_id, hashes } => self.confirm_update(address, user_id, hashes, now_ms)?,
            Confirmation::ByCodeId { code_id } => self.confirm_checked(address, code_id, now_ms)?,
        };
        let mut plan = Plan::new();
        plan.push(Confirm::User, dynamo::update_item(update))
            .push(Confirm::Lock, dynamo::check_item(lock.not_full(now_ms)?));
        if let Some(gate) = gate {
            plan.push(Confirm::Gate, dynamo::check_item(gate.not_full(now_ms)?));
        }
        if let Some(sends) = sends {
            plan.push(Confirm::Credit, dynamo::update_item(sends.credit(now_ms)?));
        }
        self.refused(plan).await
    }

    /// Counts a wrong code on the user's code (`code_id`; none for an unknown address), on
    /// the address's lock (at the limit the caller chose) and on the caller's failures, in
    /// one transaction: `Ok(None)` when counted, else what refused.
    pub async fn count_failure(
        &self,
        address: &str,
        code_id: Option<&str>,
        lock: &Guard,
        gate: Option<&Guard>,
        now_ms: u64,
    ) -> Result<Option<Refused>, StoreError> {
        let mut plan = Plan::new();
        if let Some(code_id) = code_id {
            plan.push(Confirm::User, dynamo::update_item(self.failed_attempt(address, code_id)?));
        }
        plan.push(Confirm::Lock, dynamo::update_item(lock.count_update(now_ms)?));
        if let Some(gate) = gate {
            plan.push(Confirm::Gate, dynamo::update_item(gate.count_update(now_ms)?));
        }
        self.refused(plan).await
    }

    async fn refused(&self, plan: Plan<Confirm>) -> Result<Option<Refused>, StoreError> {
        let Some(cancellation) = dynamo::transact_plan(self.client(), plan).await? else { return Ok(None) };
        let user = match cancellation.refused(Confirm::User) {
            Some(item) => Some(item.map(User::from_item).transpose()?),
            None => None,
        };
        Ok(Some(Refused {
            user,
            user_conflict: cancellation.conflicted(Confirm::User),
            lock: cancellation.refused(Confirm::Lock).map(Guard::count_in),
            caller: cancellation.refused(Confirm::Gate).map(Option::<&Item>::cloned),
        }))
    }

    /// Confirms the user `user_id` and consumes its code, if the code is usable and its keyed
    /// hash is one of `hashes` (the submitted code's under each active key version, bound to
    /// the address). Refused, it returns the user as it was.
    fn confirm_update(
        &self,
        address: &str,
        user_id: &str,
        hashes: &[SubmittedHash],
        now_ms: u64,
    ) -> Result<Update, StoreError> {
        let update = self
            .consuming(address, now_ms)
            .condition_expression(confirm_condition(hashes.len()))
            .expression_attribute_values(":uid", s(user_id))
            .expression_attribute_values(":bound", n(HASH_BINDS_ADDRESS));
        Ok(bind_hashes(update, hashes).build()?)
    }

    /// Confirms the user and consumes its code `code_id`, checked by the caller (a code
    /// stored before hashes bound the address, or a user whose id is not derived from it).
    fn confirm_checked(&self, address: &str, code_id: &str, now_ms: u64) -> Result<Update, StoreError> {
        Ok(self
            .consuming(address, now_ms)
            .condition_expression(expression!(
                "{CODE_ID} = :cid AND {STATUS} = :unconfirmed AND {CODE_ATTEMPTS} < {CODE_MAX_ATTEMPTS} \
                 AND {CODE_EXPIRES_AT} > :now"
            ))
            .expression_attribute_values(":cid", s(code_id))
            .build()?)
    }

    fn consuming(&self, address: &str, now_ms: u64) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        Update::builder()
            .table_name(self.table())
            .set_key(Some(key(&user_pk(address), USER_SK)))
            // A confirmed user is the only copy of the account: it never expires.
            .update_expression(expression!(
                "SET {STATUS} = :confirmed, {EMAIL_VERIFIED} = :true, {VERIFIED_AT} = :now \
                 REMOVE {CODE_ID}, {HASH}, {KEY_VERSION}, {HASH_BINDING}, {CODE_EXPIRES_AT}, {CODE_ATTEMPTS}, \
                 {CODE_MAX_ATTEMPTS}, {PREVIOUS_CODE_ID}, {PREVIOUS_HASH}, {PREVIOUS_KEY_VERSION}, \
                 {PREVIOUS_HASH_BINDING}, {PREVIOUS_CODE_EXPIRES_AT}, {PREVIOUS_CODE_ATTEMPTS}, \
                 {PREVIOUS_CODE_MAX_ATTEMPTS}, #ttl"
            ))
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":confirmed", s(UserStatus::Confirmed.as_str()))
            .expression_attribute_values(":unconfirmed", s(UserStatus::Unconfirmed.as_str()))
            .expression_attribute_values(":true", s(flag(true)))
            .expression_attribute_values(":now", n(now_ms))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
    }

    /// Counts one failed confirmation of the code `code_id`: refused once the code is
    /// replaced, consumed or used up.
    fn failed_attempt(&self, address: &str, code_id: &str) -> Result<Update, StoreError> {
        Ok(Update::builder()
            .table_name(self.table())
            .set_key(Some(key(&user_pk(address), USER_SK)))
            .update_expression(expression!("SET {CODE_ATTEMPTS} = {CODE_ATTEMPTS} + :one"))
            .condition_expression(expression!("{CODE_ID} = :cid AND {CODE_ATTEMPTS} < {CODE_MAX_ATTEMPTS}"))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":cid", s(code_id))
            .build()?)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn when_keys_rotate_should_pair_each_hash_with_its_version() {
        assert_eq!(
            super::confirm_condition(1),
            "st = :unconfirmed AND uid = :uid AND hbv = :bound AND catt < cmatt AND cexp > :now AND kv = :k0 AND h = :h0"
        );
        assert!(
            super::confirm_condition(2).ends_with("AND ((kv = :k0 AND h = :h0) OR (kv = :k1 AND h = :h1))"),
            "{}",
            super::confirm_condition(2)
        );
    }
}
