//! Asynchronous SMS delivery (`IsSync: false`), fed by the table's DynamoDB Stream.
//!
//! The create function only writes the OTP, with its code sealed (AES-256-GCM, bound to the
//! item's key). The stream delivers that write to this sender even if the create function
//! was frozen right after answering, and nothing is written twice: the item is the outbox.
//! A record whose SMS could not be handed to SNS is reported as a batch item failure, so
//! Lambda retries it. Each refused send is counted on the OTP (`schema::FAILED_SENDS`); the
//! last one the mapping allows (`SMS_DELIVERY_ATTEMPTS`: its first try and 3 retries) gives
//! up: the OTP is recorded as failed on its own item, its sealed code erased, and the record
//! reported done, so what gave up is found by the OTP's id. The on-failure queue then only
//! receives what could not even be recorded (DynamoDB down too), and records never delivered
//! (past `MaximumRecordAgeInSeconds`) are swept: the OTP's watch item expires with it, and its
//! TTL removal reaches this sender, which records a still-pending OTP as failed.

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};

use super::service::{TwoFactor, sms_text};
use super::store::{DeliveryEnd, Finishing, StoredOtp, otp_pk, watched_otp};
use crate::aws::sns::{STREAM_ATTEMPTS, send_patiently};
use crate::domain::mask;
use crate::ops::metrics::{Country, Family, Operation, Outcome, Record};
use crate::store::dynamo::{Item, StoreError};
use crate::store::schema::{DeliveryState, PK, SEALED_CODE};

#[derive(Debug, PartialEq, Eq)]
enum Delivery {
    /// Not an OTP waiting for its SMS (the stream filter should not have passed it).
    Skipped,
    Sent,
    /// Can never be delivered (expired, unreadable): recorded as failed, not retried.
    Abandoned(&'static str),
}

/// A batch's records, the records of one item (the stream's key) in their order, and the
/// items at once: an SMS waits on SNS for tens of milliseconds, so one record after another
/// would cap a shard's batch at a few dozen SMS a second. Two records of one OTP (a repeat, a
/// later change) never overlap; records of different OTPs touch different items.
#[tracing::instrument(name = "two_factor_send", skip_all, fields(records = event.records.len()))]
pub async fn handle(app: &TwoFactor, event: Event) -> DynamoDbEventResponse {
    let mut items: Vec<(Item, Vec<EventRecord>)> = Vec::new();
    for record in event.records {
        let key: Item = record.change.keys.clone().into();
        match items.iter_mut().find(|(k, _)| *k == key) {
            Some((_, records)) => records.push(record),
            None => items.push((key, vec![record])),
        }
    }
    let failed = futures_util::future::join_all(items.into_iter().map(|(_, records)| handle_item(app, records))).await;
    let mut response = DynamoDbEventResponse::default();
    // Lambda retries the batch from the lowest failed sequence number on: the records after it
    // come again, and each finds its OTP no longer pending (nothing is sent twice).
    response.batch_item_failures = failed
        .into_iter()
        .flatten()
        .map(|sequence_number| {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = sequence_number;
            failure
        })
        .collect();
    response
}

/// The records of one item, in order, up to the first that failed (its sequence number: the
/// later ones would run again after it anyway).
async fn handle_item(app: &TwoFactor, records: Vec<EventRecord>) -> Option<Option<String>> {
    // No deadline cuts a record once started: cut between its SMS and the write recording it,
    // a retry would text it again. A batch is bounded by the SDK's timeouts instead; one that
    // still outlives the function is retried whole, its finished records skipped.
    for record in records {
        let started = std::time::Instant::now();
        let mut country = None;
        let delivery = match record.event_name.as_str() {
            "REMOVE" => sweep(app, &record).await,
            _ => deliver(app, &record, &mut country).await,
        };
        // One metric record per OTP the sender acted on; a skipped record was none of its.
        let metric = match &delivery {
            Ok(Delivery::Skipped) => None,
            Ok(Delivery::Sent) => {
                Some(Record::new(Family::TwoFactor, Operation::Deliver, Outcome::Sent).delivered(1, 0))
            }
            Ok(Delivery::Abandoned(_)) | Err(DeliveryError::Sms(_)) => {
                Some(Record::new(Family::TwoFactor, Operation::Deliver, Outcome::DeliveryFailed))
            }
            Err(DeliveryError::Store(_)) => Some(Record::new(Family::TwoFactor, Operation::Deliver, Outcome::Error)),
        };
        if let Some(metric) = metric {
            app.metrics.emit(&metric.country(country).took(started.elapsed()));
        }
        match delivery {
            Ok(Delivery::Sent) => {}
            Ok(Delivery::Skipped) => tracing::debug!(event = %record.event_id, "record skipped"),
            Ok(Delivery::Abandoned(why)) => tracing::warn!(event = %record.event_id, why, "SMS abandoned"),
            Err(err) => {
                tracing::error!(event = %record.event_id, error = %err, "SMS delivery failed; will retry");
                return Some(record.change.sequence_number.clone());
            }
        }
    }
    None
}

#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sms(#[from] crate::aws::sns::SmsError),
}

/// `country`: the destination's, once the record is known to be a pending OTP (for the
/// metrics, whatever the delivery's end).
async fn deliver(
    app: &TwoFactor,
    record: &EventRecord,
    country: &mut Option<Country>,
) -> Result<Delivery, DeliveryError> {
    if record.event_name != "INSERT" {
        return Ok(Delivery::Skipped);
    }
    let image: Item = record.change.new_image.clone().into();
    if !image.contains_key(SEALED_CODE) {
        return Ok(Delivery::Skipped);
    }
    let otp = match StoredOtp::from_item(&image) {
        Ok(otp) => otp,
        Err(_) => return Ok(Delivery::Skipped),
    };
    let Some(sealed) = otp.sealed_code.as_deref() else { return Ok(Delivery::Skipped) };
    // Stream records can arrive more than once; the item says whether this one still waits.
    match app.store.get(&otp.id).await? {
        Some(current) if current.delivery == DeliveryState::Pending => {}
        _ => return Ok(Delivery::Skipped),
    }
    *country = Country::of_phone(&otp.phone);
    let abandon = |why: &'static str| async move {
        app.store.finish_delivery(&otp.id, DeliveryEnd::Failed { why }, Finishing::IfPending).await?;
        Ok::<_, DeliveryError>(Delivery::Abandoned(why))
    };
    if otp.expires_ms <= app.clock.now_ms() {
        return abandon("expired before delivery").await;
    }
    let Some(profile) = app.config.profiles.get(&otp.profile) else {
        return abandon("profile no longer configured").await;
    };
    let code = match app.config.common.keys.open(sealed, otp_pk(&otp.id).as_bytes()) {
        Ok(code) => String::from_utf8(code).unwrap_or_default(),
        Err(_) => return abandon("sealed code cannot be opened").await,
    };
    let text = sms_text(profile, &otp.language, &code, &otp.reference);
    let sms = (otp.phone.as_str(), text.as_str(), profile.sender_id.as_str());
    if let Err(err) = send_patiently(&*app.sms, sms, STREAM_ATTEMPTS).await {
        let masked = mask::redact(&err.message, &otp.phone, &code);
        let err = err.reworded(masked);
        if err.throttled {
            // SNS's rate, not a refusal of this SMS: Lambda tries the record again later, and
            // it does not count towards giving the OTP up.
            tracing::warn!(otp = %otp.id, error = %err, "SMS throttled; will retry");
            return Err(err.into());
        }
        return match app.store.count_failed_send(&otp.id).await? {
            Some(failed) if failed >= app.config.sms_delivery_attempts => {
                tracing::error!(otp = %otp.id, failed, error = %err, "SMS delivery given up");
                abandon("SMS refused on every attempt").await
            }
            Some(_) => Err(err.into()),
            None => Ok(Delivery::Skipped),
        };
    }
    // A repeat of this record finds the item no longer pending and sends nothing more.
    app.store.finish_delivery(&otp.id, DeliveryEnd::Sent, Finishing::IfPending).await?;
    tracing::info!(otp = %otp.id, phone = %mask::phone(&otp.phone), "SMS delivered");
    Ok(Delivery::Sent)
}

/// A watch item removed by TTL: its OTP has expired. Still pending, it never will be sent.
async fn sweep(app: &TwoFactor, record: &EventRecord) -> Result<Delivery, DeliveryError> {
    const WHY: &str = "expired undelivered (swept)";
    let keys: Item = record.change.keys.clone().into();
    let Some(id) = crate::store::dynamo::get_s(&keys, PK).and_then(watched_otp) else { return Ok(Delivery::Skipped) };
    if app.store.finish_delivery(&id, DeliveryEnd::Failed { why: WHY }, Finishing::IfPending).await? {
        return Ok(Delivery::Abandoned(WHY));
    }
    Ok(Delivery::Skipped)
}
