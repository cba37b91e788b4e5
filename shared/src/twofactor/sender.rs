//! Asynchronous SMS delivery (`IsSync: false`), fed by the table's DynamoDB Stream.
//!
//! The create function only writes the OTP, with its code sealed (AES-256-GCM, bound to the
//! item's key). The stream delivers that write to this sender even if the create function
//! was frozen right after answering, and nothing is written twice: the item is the outbox.
//! A record whose SMS could not be handed to SNS is reported as a batch item failure, so
//! Lambda retries it and, after its retries, sends it to the on-failure destination.

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};

use super::service::{TwoFactor, sms_text};
use super::store::{StoredOtp, otp_pk};
use crate::dynamo::{Item, StoreError};
use crate::mask;
use crate::metrics::{Country, Family, Operation, Outcome, Record};

#[derive(Debug, PartialEq, Eq)]
enum Delivery {
    /// Not an OTP waiting for its SMS (the stream filter should not have passed it).
    Skipped,
    Sent,
    /// Can never be delivered (expired, unreadable): recorded as failed, not retried.
    Abandoned(&'static str),
}

pub async fn handle(app: &TwoFactor, event: Event) -> DynamoDbEventResponse {
    let mut failures = Vec::new();
    for record in event.records {
        let started = std::time::Instant::now();
        let mut country = None;
        let delivery = deliver(app, &record, &mut country).await;
        // One metric record per OTP the sender acted on; a skipped record was none of its.
        let metric = match &delivery {
            Ok(Delivery::Skipped) => None,
            Ok(Delivery::Sent) => Some(Record::new(Family::C, Operation::Deliver, Outcome::Sent).delivered(1, 0)),
            Ok(Delivery::Abandoned(_)) | Err(DeliveryError::Sms(_)) => {
                Some(Record::new(Family::C, Operation::Deliver, Outcome::DeliveryFailed))
            }
            Err(DeliveryError::Store(_)) => Some(Record::new(Family::C, Operation::Deliver, Outcome::Error)),
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
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = record.change.sequence_number.clone();
                failures.push(failure);
                // Lambda retries from the first failure on; later records would repeat.
                break;
            }
        }
    }
    let mut response = DynamoDbEventResponse::default();
    response.batch_item_failures = failures;
    response
}

#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sms(#[from] crate::sms::SmsError),
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
    if !image.contains_key("sct") {
        return Ok(Delivery::Skipped);
    }
    let otp = match StoredOtp::from_item(&image) {
        Ok(otp) => otp,
        Err(_) => return Ok(Delivery::Skipped),
    };
    let Some(sealed) = otp.sealed_code.as_deref() else { return Ok(Delivery::Skipped) };
    // Stream records can arrive more than once; the item says whether this one still waits.
    match app.store.get(&otp.id).await? {
        Some(current) if current.delivery == "pending" => {}
        _ => return Ok(Delivery::Skipped),
    }
    *country = Country::of_phone(&otp.phone);
    if otp.expires_ms <= app.clock.now_ms() {
        app.store.finish_delivery(&otp.id, "failed", true).await?;
        return Ok(Delivery::Abandoned("expired before delivery"));
    }
    let Some(profile) = app.config.profiles.get(&otp.profile) else {
        app.store.finish_delivery(&otp.id, "failed", true).await?;
        return Ok(Delivery::Abandoned("profile no longer configured"));
    };
    let code = match app.config.keys.open(sealed, otp_pk(&otp.id).as_bytes()) {
        Ok(code) => String::from_utf8(code).unwrap_or_default(),
        Err(_) => {
            app.store.finish_delivery(&otp.id, "failed", true).await?;
            return Ok(Delivery::Abandoned("sealed code cannot be opened"));
        }
    };
    let text = sms_text(profile, &otp.language, &code, &otp.reference);
    if let Err(err) = app.sms.send(&otp.phone, &text, &profile.sender_id).await {
        return Err(crate::sms::SmsError(mask::redact(&err.0, &otp.phone, &code)).into());
    }
    // A repeat of this record finds the item no longer pending and sends nothing more.
    app.store.finish_delivery(&otp.id, "sent", true).await?;
    tracing::info!(otp = %otp.id, phone = %mask::phone(&otp.phone), "SMS delivered");
    Ok(Delivery::Sent)
}
