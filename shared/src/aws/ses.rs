//! Sending e-mail: a port (so tests can make delivery fail) and its Amazon SES v2 adapter.
//! The address itself is `domain::email`.

use std::future::Future;
use std::pin::Pin;

use aws_config::SdkConfig;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use crate::aws::OnFirstUse;

#[derive(Debug, thiserror::Error)]
#[error("e-mail delivery failed: {0}")]
pub struct EmailError(pub String);

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), EmailError>> + Send + 'a>>;

/// One message with a plain-text and an HTML part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub trait EmailSender: Send + Sync {
    fn send<'a>(&'a self, email: &'a Email) -> SendFuture<'a>;
}

pub struct SesEmailSender {
    client: OnFirstUse<aws_sdk_sesv2::Client>,
    from: String,
}

impl SesEmailSender {
    /// The SES client is built with the first e-mail.
    pub fn new(sdk: &SdkConfig, from: impl Into<String>) -> Self {
        Self { client: OnFirstUse::new(sdk, crate::aws::sesv2), from: from.into() }
    }
}

fn content(data: &str) -> Result<Content, EmailError> {
    Content::builder().data(data).charset("UTF-8").build().map_err(|e| EmailError(e.to_string()))
}

impl EmailSender for SesEmailSender {
    fn send<'a>(&'a self, email: &'a Email) -> SendFuture<'a> {
        Box::pin(async move {
            let message = Message::builder()
                .subject(content(&email.subject)?)
                .body(Body::builder().text(content(&email.text)?).html(content(&email.html)?).build())
                .build();
            self.client
                .get()
                .send_email()
                .from_email_address(&self.from)
                .destination(Destination::builder().to_addresses(&email.to).build())
                .content(EmailContent::builder().simple(message).build())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| EmailError(aws_sdk_sesv2::error::DisplayErrorContext(&e).to_string()))
        })
    }
}
