//! What the functions log about a request: each service operation is one span named after it,
//! with masked destinations only; full numbers, addresses and codes never appear.

use std::sync::{Arc, Mutex};

use lambda_http::tracing::subscriber::fmt::MakeWriter;
use serde_json::json;

use crate::helpers;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> MakeWriter<'w> for Captured {
    type Writer = Captured;

    fn make_writer(&'w self) -> Self::Writer {
        self.clone()
    }
}

/// The functions' subscriber, as Lambda configures it (JSON, INFO), installed for the whole
/// binary: a subscriber of one thread misses the events whose call sites another test's
/// thread registered first (tracing caches their interest), which made this test flaky.
fn captured() -> &'static Captured {
    static CAPTURED: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    CAPTURED.get_or_init(|| {
        let captured = Captured::default();
        let env = |name: &str| (name == "AWS_LAMBDA_LOG_FORMAT").then(|| "JSON".to_string());
        tracing::subscriber::set_global_default(shared::logging::subscriber(env, captured.clone()))
            .expect("no other subscriber in this binary");
        captured
    })
}

#[tokio::test]
async fn when_requests_are_served_should_log_one_span_per_operation_with_masked_fields_only() {
    // GIVEN the functions' subscriber
    let captured = captured();
    let (c, a) = (helpers::harness(&[]).await, helpers::signup::harness(&[], None).await);
    let b = helpers::preregistration::harness(&[], None).await;
    let b_address = helpers::signup::unique_address().replace("@example.com", "@logs.example");
    let (phone, address) = (testkit::unique_phone(), helpers::signup::unique_address());

    // WHEN a family C code is created and verified, and a family A code sent and confirmed
    let (otp_id, code) = c.otp(&phone, json!({})).await;
    assert_eq!(c.verify(&otp_id, &code).await.0, 200);
    let signup_code = a.send_and_read(&address).await;
    assert_eq!(a.confirm(&address, &signup_code).await.0, 200);
    let (status, generated) = b.generate(&json!({"applicationId": "demo", "emailAddress": b_address})).await;
    assert_eq!(status, 200, "{generated}");
    let b_code = testkit::digits(helpers::signup::emails_to(&b_address).await.last().unwrap(), 6).unwrap();
    let id = generated["response"]["confirmationId"].clone();
    let validate = json!({"applicationId": "demo", "confirmationId": id, "confirmationCode": b_code});
    assert_eq!(b.validate(&validate).await.0, 200);

    // THEN each operation's lines carry its span, with the destination masked
    let out = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // (other tests log through it too: look for this test's lines)
    let logged = |span: &str, field: &str, value: &str| {
        lines.iter().any(|l| l["span"]["name"] == span && l["span"][field] == value)
    };
    assert!(logged("two_factor_create", "phone", &shared::mask::phone(&phone)), "create");
    assert!(logged("two_factor_verify", "otp", &otp_id), "verify");
    for name in ["signup_send", "signup_confirm"] {
        assert!(logged(name, "email", &shared::mask::email(&address)), "{name}");
    }
    for name in ["preregistration_generate", "preregistration_validate"] {
        assert!(logged(name, "application", "demo"), "{name}");
    }
    // AND nothing logged holds the number, the address or a code
    for secret in [&phone[1..], address.as_str(), b_address.as_str()] {
        assert!(!out.contains(secret), "logged {secret}");
    }
    // (a 6-digit code could occur by chance in another test's line: look in this test's)
    let ours: Vec<String> = lines
        .iter()
        .filter(|l| {
            [shared::mask::phone(&phone), otp_id.clone(), shared::mask::email(&address)]
                .iter()
                .any(|v| ["phone", "otp", "email"].iter().any(|field| l["span"][field] == v.as_str()))
        })
        .map(|l| l.to_string())
        .collect();
    assert!(ours.len() >= 4, "{ours:?}");
    for secret in [code.as_str(), signup_code.as_str()] {
        assert!(!ours.iter().any(|l| l.contains(secret)), "logged {secret}: {ours:?}");
    }
}
