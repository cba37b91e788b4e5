//! Sending SMS: a port (so tests can make delivery fail) and its Amazon SNS adapter.

use std::future::Future;
use std::pin::Pin;

use aws_config::SdkConfig;
use aws_sdk_sns::types::MessageAttributeValue;

use crate::aws::OnFirstUse;

#[derive(Debug, thiserror::Error)]
#[error("SMS delivery failed: {0}")]
pub struct SmsError(pub String);

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
            request
                .send()
                .await
                .map(|_| ())
                .map_err(|e| SmsError(aws_sdk_sns::error::DisplayErrorContext(&e).to_string()))
        })
    }
}
