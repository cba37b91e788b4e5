//! Family C items in the one table: the OTP, its numeric id's reservation, the watch of an
//! asynchronous OTP and the number's windows (`docs/table.md`).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use uuid::Uuid;

use crate::store::Table;
use crate::store::attempts::{AcceptCondition, SubmittedHash, accepting};
use crate::store::dynamo::{self, Item, Plan, Sending, Slot, StoreError, Window, get_b, get_n, get_s, key, n, s};
use crate::store::guards::Guard;
use crate::store::schema::{
    ATTEMPTS, CREATED_AT, DELIVERY, DELIVERY_FAILURE, DESTINATION, DeliveryState, EXPIRES_AT, FAILED_SENDS, HASH,
    ID_PLAIN, KEY_VERSION, LANGUAGE, MAX_ATTEMPTS, NUMERIC_ID, OTP_ID_PREFIX, OTP_PREFIX, OTP_SK, PK, PROFILE,
    REFERENCE, SEALED_CODE, SOURCE, TTL, TWO_FACTOR_WINDOW_PREFIX, USER_ID, VERIFIED_AT, WATCH_PREFIX, WATCH_SK,
    WindowKind, expression, window_pk,
};

/// Items stay for a day after expiry, for audit, before TTL removes them.
const RETENTION_AFTER_EXPIRY_S: u64 = 86_400;
const DAY_MS: u64 = 86_400_000;

pub fn otp_pk(id: &Uuid) -> String {
    format!("{OTP_PREFIX}{id}")
}

/// The OTP a watch item (`OTPW#<uuid>`) keeps an eye on.
pub fn watched_otp(pk: &str) -> Option<Uuid> {
    pk.strip_prefix(WATCH_PREFIX).and_then(|id| Uuid::parse_str(id).ok())
}

#[derive(Debug, Clone)]
pub struct NewOtp {
    pub id: Uuid,
    pub numeric_id: u64,
    pub user_id: Uuid,
    pub phone: String,
    pub hash: [u8; 32],
    pub key_version: u32,
    pub reference: String,
    pub profile: i64,
    pub language: String,
    pub source: Option<String>,
    pub created_ms: u64,
    pub expires_ms: u64,
    pub max_attempts: u32,
    pub sealed_code: Option<Vec<u8>>,
    /// The plaintext inside the opaque id (`ids::OtpIdPlain`), which the verifying write
    /// checks: the lock and credit keys it derives from the id are this item's. `None` for
    /// an OTP under a legacy (v4) id, as stored before opaque ids.
    pub id_plain: Option<[u8; 16]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOtp {
    pub id: Uuid,
    pub user_id: String,
    pub phone: String,
    pub hash: Vec<u8>,
    pub key_version: u32,
    pub reference: String,
    pub profile: i64,
    pub language: String,
    pub created_ms: u64,
    pub expires_ms: u64,
    pub attempts: u32,
    pub max_attempts: u32,
    pub verified: bool,
    pub delivery: DeliveryState,
    pub sealed_code: Option<Vec<u8>>,
    /// Sends the asynchronous sender tried and SNS refused.
    pub failed_sends: u32,
    /// Why delivery failed, when it did.
    pub failure: Option<String>,
    /// An opaque id's plaintext (`ids`); none for a legacy id.
    pub id_plain: Option<Vec<u8>>,
}

impl StoredOtp {
    pub fn from_item(item: &Item) -> Result<Self, StoreError> {
        let id = get_s(item, PK)
            .and_then(|pk| pk.strip_prefix(OTP_PREFIX))
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or(StoreError::Malformed(PK))?;
        let text = |name: &'static str| get_s(item, name).map(str::to_string).ok_or(StoreError::Malformed(name));
        let num = |name: &'static str| get_n::<u64>(item, name).ok_or(StoreError::Malformed(name));
        Ok(Self {
            id,
            user_id: text(USER_ID)?,
            phone: text(DESTINATION)?,
            hash: get_b(item, HASH).ok_or(StoreError::Malformed(HASH))?.to_vec(),
            key_version: num(KEY_VERSION)? as u32,
            reference: text(REFERENCE)?,
            profile: get_n(item, PROFILE).ok_or(StoreError::Malformed(PROFILE))?,
            language: text(LANGUAGE)?,
            created_ms: num(CREATED_AT)?,
            expires_ms: num(EXPIRES_AT)?,
            attempts: num(ATTEMPTS)? as u32,
            max_attempts: num(MAX_ATTEMPTS)? as u32,
            verified: item.contains_key(VERIFIED_AT),
            delivery: get_s(item, DELIVERY).and_then(DeliveryState::parse).ok_or(StoreError::Malformed(DELIVERY))?,
            sealed_code: get_b(item, SEALED_CODE).map(<[u8]>::to_vec),
            failed_sends: get_n(item, FAILED_SENDS).unwrap_or(0),
            failure: get_s(item, DELIVERY_FAILURE).map(str::to_string),
            id_plain: get_b(item, ID_PLAIN).map(<[u8]>::to_vec),
        })
    }
}

/// What an OTP's verifying transaction found (`TwoFactorStore::verify`).
#[derive(Debug, Clone, PartialEq)]
pub enum Verifying {
    Verified,
    /// No OTP under this id.
    NotFound,
    /// The OTP refused the code (as it was), and whether the number's lock refused too.
    Refused {
        otp: Box<StoredOtp>,
        lock_full: bool,
    },
    /// The OTP would have accepted, but the number's lock refused: its count as stored.
    LockFull {
        count: u64,
    },
    /// Another request held an item: try again.
    Conflict,
}

/// How counting a wrong code ended (`TwoFactorStore::count_failure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCount {
    Counted,
    /// The OTP was verified or used up since: verify again, which answers why.
    OtpChanged,
    /// The number's lock refused this count (others filled it first).
    LockFull,
    Conflict,
}

/// The items of a verifying transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verify {
    Otp,
    Lock,
    Block,
}

/// What the accepting write checks of the OTP besides the code: the caller's, usable, and
/// (an opaque id's plaintext) the one the id names.
pub struct Acceptance<'a> {
    pub otp_id: &'a Uuid,
    pub user_id: &'a Uuid,
    pub plain: Option<[u8; 16]>,
    pub hashes: &'a [SubmittedHash],
    pub now_ms: u64,
}

/// How a delivery ended, for `TwoFactorStore::finish_delivery`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryEnd<'a> {
    Sent,
    Failed { why: &'a str },
}

/// Which OTPs `TwoFactorStore::finish_delivery` records the end on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finishing {
    /// Only one still pending: the asynchronous sender, whose stream records repeat and
    /// whose other attempts may have finished it already.
    IfPending,
    /// Whatever its state: the create function, the only one that sends a synchronous OTP.
    Always,
}

#[derive(Clone)]
pub struct TwoFactorStore {
    table: Table,
}

impl std::ops::Deref for TwoFactorStore {
    type Target = Table;

    fn deref(&self) -> &Table {
        &self.table
    }
}

impl TwoFactorStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { table: Table::new(client, table) }
    }

    pub fn rate_window(&self, phone: &str, max: u32, interval_ms: u64) -> Window {
        Window::new(self.table(), window_pk(TWO_FACTOR_WINDOW_PREFIX, WindowKind::Rate, phone), max, interval_ms)
    }

    pub fn daily_window(&self, phone: &str, max: u32) -> Window {
        Window::new(self.table(), window_pk(TWO_FACTOR_WINDOW_PREFIX, WindowKind::Day, phone), max, DAY_MS)
    }

    /// Failed verifications of a number, per fixed bucket: the verifying call checks it
    /// without a guess about whether a window is open (see `verify`).
    pub fn failure_lock(&self, phone: &str, max: u32, interval_ms: u64) -> Guard {
        Guard::lock(self.table(), window_pk(TWO_FACTOR_WINDOW_PREFIX, WindowKind::Fail, phone), max, interval_ms)
    }

    fn otp_item(&self, otp: &NewOtp) -> Item {
        let mut item = key(&otp_pk(&otp.id), OTP_SK);
        item.extend([
            (USER_ID.to_string(), s(otp.user_id.to_string())),
            (DESTINATION.to_string(), s(&otp.phone)),
            (HASH.to_string(), AttributeValue::B(Blob::new(otp.hash.to_vec()))),
            (KEY_VERSION.to_string(), n(otp.key_version)),
            (REFERENCE.to_string(), s(&otp.reference)),
            (NUMERIC_ID.to_string(), n(otp.numeric_id)),
            (PROFILE.to_string(), n(otp.profile)),
            (LANGUAGE.to_string(), s(&otp.language)),
            (CREATED_AT.to_string(), n(otp.created_ms)),
            (EXPIRES_AT.to_string(), n(otp.expires_ms)),
            (TTL.to_string(), n(otp.expires_ms / 1000 + RETENTION_AFTER_EXPIRY_S)),
            (ATTEMPTS.to_string(), n(0)),
            (MAX_ATTEMPTS.to_string(), n(otp.max_attempts)),
        ]);
        if let Some(plain) = otp.id_plain {
            item.insert(ID_PLAIN.to_string(), AttributeValue::B(Blob::new(plain.to_vec())));
        }
        if let Some(source) = &otp.source {
            item.insert(SOURCE.to_string(), s(source));
        }
        match &otp.sealed_code {
            Some(sealed) => {
                item.insert(DELIVERY.to_string(), s(DeliveryState::Pending.as_str()));
                item.insert(SEALED_CODE.to_string(), AttributeValue::B(Blob::new(sealed.clone())));
            }
            None => {
                item.insert(DELIVERY.to_string(), s(DeliveryState::Sync.as_str()));
            }
        }
        item
    }

    /// Keeps `Id` unique while the OTP exists; TTL removes it with the OTP.
    fn id_reservation(&self, otp: &NewOtp) -> Item {
        let mut item = key(&format!("{OTP_ID_PREFIX}{}", otp.numeric_id), OTP_SK);
        item.insert(TTL.to_string(), n(otp.expires_ms / 1000 + RETENTION_AFTER_EXPIRY_S));
        item
    }

    /// An asynchronous OTP's watch: DynamoDB's TTL removes it once the OTP has expired, and
    /// the stream hands that removal to the sender, which records an OTP still pending as
    /// failed and erases its sealed code (a record the sender never got, past its age limit
    /// or its retries, would otherwise leave it pending until the OTP's own TTL).
    fn watch(&self, otp: &NewOtp) -> Item {
        let mut item = key(&format!("{WATCH_PREFIX}{}", otp.id), WATCH_SK);
        item.insert(TTL.to_string(), n(otp.expires_ms.div_ceil(1000)));
        item
    }

    fn put_new(&self, item: Item) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression(expression!("attribute_not_exists({PK})"))
            .build()?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Stores the OTP and counts it in each of the number's send windows and in each of
    /// `checks` (the guards' counts, the `Idempotency-Key`'s record), in one transaction that
    /// also refuses a number locked by too many failed verifications.
    pub async fn create(
        &self,
        otp: &NewOtp,
        windows: &[Window],
        lock: &Guard,
        checks: Plan<Slot>,
        now_ms: u64,
    ) -> Result<Sending, StoreError> {
        let mut plan = Plan::new();
        plan.push(Slot::Lock, dynamo::check_item(lock.not_full(now_ms)?))
            .push(Slot::Record, self.put_new(self.otp_item(otp))?)
            .push(Slot::Reservation, self.put_new(self.id_reservation(otp))?);
        if otp.sealed_code.is_some() {
            plan.push(Slot::Reservation, self.put_new(self.watch(otp))?);
        }
        plan.append(checks);
        Ok(dynamo::transact_counting(self.client(), windows, &plan, now_ms).await?.into())
    }

    /// Verifies in one transaction: marks the OTP verified if `acceptance` holds and `lock`
    /// (the number's failure lock, at the limit the caller chose) is not full, and credits the
    /// number's block (if any: none for a test destination) with a verified code sent at
    /// `sent_ms`. Cancelled, DynamoDB returns the OTP and the lock as they were: no read.
    pub async fn verify(
        &self,
        acceptance: &Acceptance<'_>,
        lock: &Guard,
        block: Option<&Guard>,
        sent_ms: u64,
    ) -> Result<Verifying, StoreError> {
        let mut plan = Plan::new();
        plan.push(Verify::Otp, dynamo::update_item(self.accept(acceptance)?))
            .push(Verify::Lock, dynamo::check_item(lock.not_full(acceptance.now_ms)?));
        if let Some(block) = block {
            plan.push(Verify::Block, dynamo::update_item(block.credit(sent_ms)?));
        }
        let Some(cancellation) = dynamo::transact_plan(self.client(), plan).await? else {
            return Ok(Verifying::Verified);
        };
        Ok(match (cancellation.refused(Verify::Otp), cancellation.refused(Verify::Lock)) {
            (Some(None), _) => Verifying::NotFound,
            (Some(Some(otp)), lock_refused) => {
                Verifying::Refused { otp: Box::new(StoredOtp::from_item(otp)?), lock_full: lock_refused.is_some() }
            }
            (None, Some(stored)) if cancellation.is_clear(Verify::Otp) => {
                Verifying::LockFull { count: Guard::count_in(stored) }
            }
            _ => Verifying::Conflict,
        })
    }

    /// Marks the OTP verified, if the code's keyed hash is the stored one and the OTP is the
    /// caller's, usable, and the one the id names.
    fn accept(&self, acceptance: &Acceptance<'_>) -> Result<Update, StoreError> {
        static ACCEPT: AcceptCondition = AcceptCondition::new();
        static ACCEPT_LEGACY: AcceptCondition = AcceptCondition::new();
        let hashes = acceptance.hashes;
        let condition = match acceptance.plain {
            Some(_) => ACCEPT.get(
                expression!(
                    "{USER_ID} = :uid AND attribute_not_exists({VERIFIED_AT}) AND {ATTEMPTS} < {MAX_ATTEMPTS} \
                     AND {EXPIRES_AT} > :now AND {DELIVERY} <> :failed AND {ID_PLAIN} = :lk"
                ),
                hashes.len(),
            ),
            None => ACCEPT_LEGACY.get(
                expression!(
                    "{USER_ID} = :uid AND attribute_not_exists({VERIFIED_AT}) AND {ATTEMPTS} < {MAX_ATTEMPTS} \
                     AND {EXPIRES_AT} > :now AND {DELIVERY} <> :failed"
                ),
                hashes.len(),
            ),
        };
        let item_key = key(&otp_pk(acceptance.otp_id), OTP_SK);
        accepting(self.table(), item_key, condition, acceptance.plain, hashes, acceptance.now_ms)
            .expression_attribute_values(":uid", s(acceptance.user_id.to_string()))
            .build()
            .map_err(StoreError::Build)
    }

    /// Counts a wrong code on the OTP and on the number's lock, in one transaction.
    pub async fn count_failure(&self, otp_id: &Uuid, lock: &Guard, now_ms: u64) -> Result<FailureCount, StoreError> {
        let attempt = crate::store::attempts::failed_attempt(self.table(), key(&otp_pk(otp_id), OTP_SK))?;
        let mut plan = Plan::new();
        plan.push(Verify::Otp, dynamo::update_item(attempt))
            .push(Verify::Lock, dynamo::update_item(lock.count_update(now_ms)?));
        let Some(cancellation) = dynamo::transact_plan(self.client(), plan).await? else {
            return Ok(FailureCount::Counted);
        };
        Ok(if cancellation.refused(Verify::Otp).is_some() {
            FailureCount::OtpChanged
        } else if cancellation.refused(Verify::Lock).is_some() {
            FailureCount::LockFull
        } else {
            FailureCount::Conflict
        })
    }

    pub async fn get(&self, id: &Uuid) -> Result<Option<StoredOtp>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key(&otp_pk(id), OTP_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        out.item().map(StoredOtp::from_item).transpose()
    }

    /// Records how delivery ended (and why it failed) and erases the sealed code: `false`
    /// when `finishing` found nothing to finish.
    pub async fn finish_delivery(
        &self,
        id: &Uuid,
        end: DeliveryEnd<'_>,
        finishing: Finishing,
    ) -> Result<bool, StoreError> {
        let request = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(&otp_pk(id), OTP_SK)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::None);
        let request = match end {
            DeliveryEnd::Failed { why } => request
                .update_expression(expression!(
                    "SET {DELIVERY} = :outcome, {DELIVERY_FAILURE} = :why REMOVE {SEALED_CODE}"
                ))
                .expression_attribute_values(":outcome", s(DeliveryState::Failed.as_str()))
                .expression_attribute_values(":why", s(why)),
            DeliveryEnd::Sent => request
                .update_expression(expression!("SET {DELIVERY} = :outcome REMOVE {SEALED_CODE}"))
                .expression_attribute_values(":outcome", s(DeliveryState::Sent.as_str())),
        };
        let request = match finishing {
            Finishing::IfPending => request
                .condition_expression(expression!("{DELIVERY} = :pending"))
                .expression_attribute_values(":pending", s(DeliveryState::Pending.as_str())),
            Finishing::Always => request.condition_expression(expression!("attribute_exists({PK})")),
        };
        dynamo::update_unless_refused(request).await
    }

    /// Counts one refused send of a pending OTP: how many there have been, or `None` when the
    /// OTP is no longer pending.
    pub async fn count_failed_send(&self, id: &Uuid) -> Result<Option<u32>, StoreError> {
        dynamo::retry_conflicts(|| async {
            let result = self
                .client()
                .update_item()
                .table_name(self.table())
                .set_key(Some(key(&otp_pk(id), OTP_SK)))
                .update_expression(expression!("SET {FAILED_SENDS} = if_not_exists({FAILED_SENDS}, :zero) + :one"))
                .condition_expression(expression!("{DELIVERY} = :pending"))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":pending", s(DeliveryState::Pending.as_str()))
                .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
                .send()
                .await;
            match result {
                Ok(out) => Ok(Some(out.attributes().and_then(|a| get_n(a, FAILED_SENDS)).unwrap_or(1))),
                Err(err) if dynamo::condition_failed(&err) => Ok(None),
                Err(err) => Err(err),
            }
        })
        .await
    }
}
