//! Family C items in the one table.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | OTP | `OTP#<uuid>` | `OTP` |
//! | numeric id reservation (keeps `Id` unique) | `OTPID#<n>` | `OTP` |
//! | watch of an asynchronous OTP (TTL at its expiry: its removal sweeps the OTP) | `OTPW#<uuid>` | `WATCH` |
//! | SMS rate window of a number | `2FA#RATE#<e164>` | `WINDOW` |
//! | failed-verification window of a number | `2FA#FAIL#<e164>` | `WINDOW` |
//! | guards (number block, country and daily SMS ceilings) | see `guards` | `WINDOW` |
//!
//! OTP attributes: `uid`, `dest`, `h` (HMAC), `kv` (key version), `ref`, `nid`, `prof`,
//! `lang`, `src`, `cat` / `exp` (epoch ms; `exp` is what the service enforces), `ttl` (epoch
//! s, clean-up only), `att` / `matt` (failed attempts / their maximum), `vat` (verified at),
//! `dlv` (`sync`, `pending`, `sent`, `failed`), `sct` (code sealed for the asynchronous
//! sender, erased once sent or given up), `dla` (failed sends of the asynchronous sender),
//! `dwy` (why delivery failed).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use uuid::Uuid;

use crate::attempts::{self, Consumed, Failure};
use crate::dynamo::{self, Counted, Item, StoreError, Window, WindowHints, get_b, get_n, get_s, key, n, s};

/// Items stay for a day after expiry, for audit, before TTL removes them.
const RETENTION_AFTER_EXPIRY_S: u64 = 86_400;
const OTP_SK: &str = "OTP";
const WATCH_PREFIX: &str = "OTPW#";
const WATCH_SK: &str = "WATCH";

pub fn otp_pk(id: &Uuid) -> String {
    format!("OTP#{id}")
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
    pub delivery: String,
    pub sealed_code: Option<Vec<u8>>,
    /// Sends the asynchronous sender tried and SNS refused.
    pub failed_sends: u32,
    /// Why delivery failed, when it did.
    pub failure: Option<String>,
}

impl StoredOtp {
    pub fn from_item(item: &Item) -> Result<Self, StoreError> {
        let id = get_s(item, "pk")
            .and_then(|pk| pk.strip_prefix("OTP#"))
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or(StoreError::Malformed("pk"))?;
        let text = |name: &'static str| get_s(item, name).map(str::to_string).ok_or(StoreError::Malformed(name));
        let num = |name: &'static str| get_n::<u64>(item, name).ok_or(StoreError::Malformed(name));
        Ok(Self {
            id,
            user_id: text("uid")?,
            phone: text("dest")?,
            hash: get_b(item, "h").ok_or(StoreError::Malformed("h"))?.to_vec(),
            key_version: num("kv")? as u32,
            reference: text("ref")?,
            profile: get_n(item, "prof").ok_or(StoreError::Malformed("prof"))?,
            language: text("lang")?,
            created_ms: num("cat")?,
            expires_ms: num("exp")?,
            attempts: num("att")? as u32,
            max_attempts: num("matt")? as u32,
            verified: item.contains_key("vat"),
            delivery: text("dlv")?,
            sealed_code: get_b(item, "sct").map(<[u8]>::to_vec),
            failed_sends: get_n(item, "dla").unwrap_or(0),
            failure: get_s(item, "dwy").map(str::to_string),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome {
    Created,
    RateLimited,
    /// The guard at this index refused (with its bucket as stored).
    Guarded {
        index: usize,
        item: Option<Item>,
    },
    DestinationLocked,
    /// The numeric id is taken (rare: 2^31 values), or the random OTP id (astronomically
    /// rare): draw new ones.
    IdTaken,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeOutcome {
    Consumed,
    DestinationLocked,
    /// The OTP changed since it was read (verified, attempts, expiry): read it again.
    Changed,
}

#[derive(Clone)]
pub struct OtpStore {
    client: Client,
    table: String,
    /// Shared by the clones of this store: one per process (see `WindowHints`).
    hints: std::sync::Arc<WindowHints>,
}

fn build<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Build(e.to_string()))
}

impl OtpStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), hints: Default::default() }
    }

    pub fn rate_window(&self, phone: &str, max: u32, interval_ms: u64) -> Window {
        Window::new(&self.table, format!("2FA#RATE#{phone}"), max, interval_ms)
    }

    pub fn daily_window(&self, phone: &str, max: u32) -> Window {
        Window::new(&self.table, format!("2FA#DAY#{phone}"), max, 86_400_000)
    }

    pub fn failure_window(&self, phone: &str, max: u32, interval_ms: u64) -> Window {
        Window::new(&self.table, format!("2FA#FAIL#{phone}"), max, interval_ms)
    }

    fn otp_item(&self, otp: &NewOtp) -> Item {
        let mut item = key(&otp_pk(&otp.id), OTP_SK);
        item.extend([
            ("uid".to_string(), s(otp.user_id.to_string())),
            ("dest".to_string(), s(&otp.phone)),
            ("h".to_string(), aws_sdk_dynamodb::types::AttributeValue::B(Blob::new(otp.hash.to_vec()))),
            ("kv".to_string(), n(otp.key_version)),
            ("ref".to_string(), s(&otp.reference)),
            ("nid".to_string(), n(otp.numeric_id)),
            ("prof".to_string(), n(otp.profile)),
            ("lang".to_string(), s(&otp.language)),
            ("cat".to_string(), n(otp.created_ms)),
            ("exp".to_string(), n(otp.expires_ms)),
            ("ttl".to_string(), n(otp.expires_ms / 1000 + RETENTION_AFTER_EXPIRY_S)),
            ("att".to_string(), n(0)),
            ("matt".to_string(), n(otp.max_attempts)),
        ]);
        if let Some(source) = &otp.source {
            item.insert("src".to_string(), s(source));
        }
        match &otp.sealed_code {
            Some(sealed) => {
                item.insert("dlv".to_string(), s("pending"));
                item.insert("sct".to_string(), aws_sdk_dynamodb::types::AttributeValue::B(Blob::new(sealed.clone())));
            }
            None => {
                item.insert("dlv".to_string(), s("sync"));
            }
        }
        item
    }

    /// Keeps `Id` unique while the OTP exists; TTL removes it with the OTP.
    fn id_reservation(&self, otp: &NewOtp) -> Item {
        let mut item = key(&format!("OTPID#{}", otp.numeric_id), OTP_SK);
        item.insert("ttl".to_string(), n(otp.expires_ms / 1000 + RETENTION_AFTER_EXPIRY_S));
        item
    }

    /// An asynchronous OTP's watch: DynamoDB's TTL removes it once the OTP has expired, and
    /// the stream hands that removal to the sender, which records an OTP still pending as
    /// failed and erases its sealed code (a record the sender never got, past its age limit
    /// or its retries, would otherwise leave it pending until the OTP's own TTL).
    fn watch(&self, otp: &NewOtp) -> Item {
        let mut item = key(&format!("{WATCH_PREFIX}{}", otp.id), WATCH_SK);
        item.insert("ttl".to_string(), n(otp.expires_ms.div_ceil(1000)));
        item
    }

    fn put_new(&self, item: Item) -> Result<TransactWriteItem, StoreError> {
        let put = build(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build(),
        )?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Stores the OTP and counts it in each of the number's send windows and in each guard
    /// (`guards::Guard::count`), in one transaction that also refuses a number locked by too
    /// many failed verifications.
    pub async fn create(
        &self,
        otp: &NewOtp,
        windows: &[Window],
        lock: &Window,
        guards: &[TransactWriteItem],
        now_ms: u64,
    ) -> Result<CreateOutcome, StoreError> {
        let mut others = vec![
            dynamo::check_item(lock.not_full(now_ms)?),
            self.put_new(self.otp_item(otp))?,
            self.put_new(self.id_reservation(otp))?,
        ];
        if otp.sealed_code.is_some() {
            others.push(self.put_new(self.watch(otp))?);
        }
        let first_guard = others.len();
        others.extend_from_slice(guards);
        Ok(match dynamo::transact_counting(&self.client, windows, &others, &self.hints, now_ms).await? {
            Counted::Written => CreateOutcome::Created,
            Counted::WindowFull(_) => CreateOutcome::RateLimited,
            Counted::Refused { index: 0, .. } => CreateOutcome::DestinationLocked,
            Counted::Refused { index, item } if index >= first_guard => {
                CreateOutcome::Guarded { index: index - first_guard, item }
            }
            Counted::Refused { .. } => CreateOutcome::IdTaken,
        })
    }

    pub async fn get(&self, id: &Uuid) -> Result<Option<StoredOtp>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(&otp_pk(id), OTP_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        out.item().map(StoredOtp::from_item).transpose()
    }

    /// Marks the OTP verified, if it is still usable and its number is not locked, and
    /// credits its number's block with the verification.
    pub async fn consume(
        &self,
        otp: &StoredOtp,
        lock: &Window,
        credits: &[Update],
        now_ms: u64,
    ) -> Result<ConsumeOutcome, StoreError> {
        let item_key = key(&otp_pk(&otp.id), OTP_SK);
        let locks = std::slice::from_ref(lock);
        Ok(match attempts::consume_code(&self.client, &self.table, item_key, locks, &[], credits, now_ms).await? {
            Consumed::Yes => ConsumeOutcome::Consumed,
            Consumed::Locked(_) | Consumed::Gated { .. } => ConsumeOutcome::DestinationLocked,
            Consumed::Changed => ConsumeOutcome::Changed,
        })
    }

    /// Counts one failed attempt on the OTP and on its number's failure lock, in one step.
    pub async fn record_failure(&self, otp: &StoredOtp, lock: &Window, now_ms: u64) -> Result<Failure, StoreError> {
        let attempt = attempts::failed_attempt(&self.table, key(&otp_pk(&otp.id), OTP_SK))?;
        attempts::count_failure(&self.client, attempt, std::slice::from_ref(lock), &[], otp.attempts > 0, now_ms).await
    }

    /// Records how delivery ended (and why it failed) and erases the sealed code. With
    /// `only_if_pending`, does nothing when another delivery attempt already finished (stream
    /// records repeat).
    pub async fn finish_delivery(
        &self,
        id: &Uuid,
        outcome: &str,
        why: Option<&str>,
        only_if_pending: bool,
    ) -> Result<bool, StoreError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&otp_pk(id), OTP_SK)))
            .expression_attribute_values(":outcome", s(outcome))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::None);
        let request = match why {
            Some(why) => request
                .update_expression("SET dlv = :outcome, dwy = :why REMOVE sct")
                .expression_attribute_values(":why", s(why)),
            None => request.update_expression("SET dlv = :outcome REMOVE sct"),
        };
        let request = if only_if_pending {
            request.condition_expression("dlv = :pending").expression_attribute_values(":pending", s("pending"))
        } else {
            request.condition_expression("attribute_exists(pk)")
        };
        dynamo::update_unless_refused(request).await
    }

    /// Counts one refused send of a pending OTP: how many there have been, or `None` when the
    /// OTP is no longer pending.
    pub async fn count_failed_send(&self, id: &Uuid) -> Result<Option<u32>, StoreError> {
        dynamo::retry_conflicts(|| async {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(&otp_pk(id), OTP_SK)))
                .update_expression("SET dla = if_not_exists(dla, :zero) + :one")
                .condition_expression("dlv = :pending")
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":pending", s("pending"))
                .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
                .send()
                .await;
            match result {
                Ok(out) => Ok(Some(out.attributes().and_then(|a| get_n(a, "dla")).unwrap_or(1))),
                Err(err) if dynamo::condition_failed(&err) => Ok(None),
                Err(err) => Err(err),
            }
        })
        .await
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}
