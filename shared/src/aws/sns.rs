//! Sending SMS: a port (so tests can make delivery fail) and its Amazon SNS adapter.

use std::future::Future;
use std::pin::Pin;

use aws_config::SdkConfig;
use aws_sdk_sns::types::MessageAttributeValue;

use crate::aws::OnFirstUse;

#[derive(Debug, thiserror::Error)]
#[error("SMS delivery failed: {message}")]
pub struct SmsError {
    pub message: String,
    /// SNS refused the SMS before taking it for its rate (per account, origination number or
    /// country): nothing was sent, so trying again later cannot text the code twice.
    pub throttled: bool,
}

impl SmsError {
    /// Refused or failed: it may have been handed to the carrier, so never sent again.
    pub fn failed(message: impl Into<String>) -> Self {
        Self { message: message.into(), throttled: false }
    }

    pub fn throttled(message: impl Into<String>) -> Self {
        Self { message: message.into(), throttled: true }
    }

    /// The same error with `message` (e.g. masked for a log).
    pub fn reworded(self, message: String) -> Self {
        Self { message, ..self }
    }
}

/// Tries of a throttled SMS on a request's path (families B and C, `IsSync: true`): 7 pauses of
/// at most 4..250 ms (`store::backoff`), ~0.5 s in all at most, within the request's deadline,
/// before the code is given up.
pub const SYNC_ATTEMPTS: usize = 8;
/// Tries of a throttled SMS in the stream-fed sender, which has no caller waiting: 11 pauses,
/// ~1.5 s at most, then the record goes back to Lambda (not counted as a refused send).
pub const STREAM_ATTEMPTS: usize = 12;

/// The error codes SNS answers a throttled `Publish` with (its own and the query protocol's).
const THROTTLING_CODES: [&str; 3] = ["Throttling", "Throttled", "ThrottlingException"];

/// Hands an SMS to `sms`, again while it answers throttled (`SmsError::throttled`: nothing was
/// sent), after growing pauses with full jitter (`store::backoff`'s; not counted in
/// `ContentionRetries`, which is DynamoDB's contention), `attempts` times at most. Any other failure is final: a `Publish` that failed
/// otherwise may have reached the carrier.
pub async fn send_patiently(
    sms: &dyn SmsSender,
    (to, text, sender_id): (&str, &str, &str),
    attempts: usize,
) -> Result<(), SmsError> {
    let backoff = crate::store::backoff::Backoff::new();
    let mut tried = 0;
    loop {
        tried += 1;
        match sms.send(to, text, sender_id).await {
            Err(err) if err.throttled && tried < attempts => tokio::time::sleep(backoff.next_pause()).await,
            sent => return sent,
        }
    }
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SmsError>> + Send + 'a>>;

pub trait SmsSender: Send + Sync {
    /// Hands one SMS to the carrier network. `to` is E.164.
    fn send<'a>(&'a self, to: &'a str, text: &'a str, sender_id: &'a str) -> SendFuture<'a>;
}

pub struct SnsSmsSender {
    client: OnFirstUse<aws_sdk_sns::Client>,
    /// `AWS.SNS.SMS.MaxPrice` (USD): SNS drops an SMS that would cost more.
    max_price_usd: String,
}

impl SnsSmsSender {
    /// The SNS client is built with the first SMS.
    pub fn new(sdk: &SdkConfig, max_price_usd: impl Into<String>) -> Self {
        Self { client: OnFirstUse::new(sdk, crate::aws::sns), max_price_usd: max_price_usd.into() }
    }
}

fn attribute(data_type: &str, value: &str) -> Option<MessageAttributeValue> {
    MessageAttributeValue::builder().data_type(data_type).string_value(value).build().ok()
}

fn string_attribute(value: &str) -> Option<MessageAttributeValue> {
    attribute("String", value)
}

impl SmsSender for SnsSmsSender {
    fn send<'a>(&'a self, to: &'a str, text: &'a str, sender_id: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            let mut request = self.client.get().publish().phone_number(to).message(text);
            // Transactional: SNS routes one-time codes over its higher-reliability path.
            if let Some(kind) = string_attribute("Transactional") {
                request = request.message_attributes("AWS.SNS.SMS.SMSType", kind);
            }
            // A premium-rate route is where pumped SMS earn; SNS refuses one above this price.
            if let Some(price) = attribute("Number", &self.max_price_usd) {
                request = request.message_attributes("AWS.SNS.SMS.MaxPrice", price);
            }
            if !sender_id.is_empty() {
                if let Some(sender) = string_attribute(sender_id) {
                    request = request.message_attributes("AWS.SNS.SMS.SenderID", sender);
                }
            }
            request.send().await.map(|_| ()).map_err(|e| {
                use aws_sdk_sns::error::ProvideErrorMetadata;
                let throttled = e.code().is_some_and(|code| THROTTLING_CODES.contains(&code));
                let message = aws_sdk_sns::error::DisplayErrorContext(&e).to_string();
                if throttled { SmsError::throttled(message) } else { SmsError::failed(message) }
            })
        })
    }
}
