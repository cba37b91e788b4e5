//! Every file in events/ goes through its function's handler, as Lambda would deliver it.

use crate::helpers;

use std::path::PathBuf;

use aws_lambda_events::event::dynamodb::Event;
use shared::store::dynamo::Item;
use shared::twofactor::{handler, sender};
use uuid::Uuid;

fn events_dir() -> PathBuf {
    testkit::workspace_root().join("events")
}

fn read_event(name: &str) -> String {
    std::fs::read_to_string(events_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn http_request(name: &str) -> lambda_http::Request {
    lambda_http::request::from_str(&read_event(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// What each HTTP event must answer: (file, status, family C code).
const HTTP_EVENTS: &[(&str, u16, u64)] = &[
    ("create-two-factor-sms-otp.json", 200, 1000),
    ("create-two-factor-sms-otp-async.json", 200, 1000),
    ("create-two-factor-sms-otp-rest-v1.json", 200, 1000),
    ("create-two-factor-sms-otp-seed-sample.json", 400, 4002),
    ("create-two-factor-sms-otp-malformed.json", 400, 4001),
    ("verify-two-factor-sms-otp-malformed.json", 400, 4001),
    // The two below verify the OTP seeded by `seed_verify_otp`, wrong code first.
    ("verify-two-factor-sms-otp-wrong-code.json", 400, 4005),
    ("verify-two-factor-sms-otp.json", 200, 1000),
];
/// Family A events: (file, status, OpCode, content type the answer comes in).
const SIGNUP_EVENTS: &[(&str, u16, i64, &str)] = &[
    ("cognito-send-confirm-code-request.json", 200, 0, "application/json"),
    ("cognito-send-confirm-code-request-confirm.json", 200, 0, "application/json"),
    ("cognito-send-confirm-code-request-seed-csv.json", 400, 1001, "text/csv"),
    ("cognito-send-confirm-code-request-malformed.json", 400, 1001, "application/json"),
    ("cognito-send-confirm-code-request-xml.json", 200, 0, "application/xml"),
    ("cognito-send-confirm-code-request-format-csv.json", 200, 0, "text/csv"),
    ("cognito-send-confirm-code-request-xml-reply.json", 200, 0, "application/xml"),
];
/// Family B events: (file, status).
const PREREGISTRATION_EVENTS: &[(&str, u16)] = &[
    ("generate-cnf-code-not-user.json", 200),
    ("generate-cnf-code-not-user-seed-sample.json", 400),
    ("generate-cnf-code-not-user-malformed.json", 400),
    // A test number of `demo` (as make run configures it): answered, nothing sent.
    ("generate-cnf-code-not-user-test-number.json", 200),
    ("validate-cnf-code-not-user.json", 200),
    ("validate-cnf-code-not-user-malformed.json", 400),
];
const STREAM_EVENTS: &[&str] = &[
    "two-factor-sms-sender-insert.json",
    "two-factor-sms-sender-modify.json",
    "two-factor-sms-sender-ttl-remove.json",
];

#[test]
fn when_a_file_is_added_to_events_should_be_covered_here() {
    for entry in std::fs::read_dir(events_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        let known = HTTP_EVENTS.iter().any(|(f, _, _)| *f == name)
            || SIGNUP_EVENTS.iter().any(|(f, _, _, _)| *f == name)
            || PREREGISTRATION_EVENTS.iter().any(|(f, _)| *f == name)
            || STREAM_EVENTS.contains(&name.as_str());
        assert!(known, "events/{name} is fed to no handler by this test");
    }
}

async fn seed_verify_otp(h: &helpers::Harness) {
    // The events' OTP id is a v4 UUID: stored as before opaque ids.
    let id = Uuid::parse_str("5b1e7a43-54c4-4c8a-9f4f-b8f5e7f1d2a0").unwrap();
    h.seed_legacy_otp(id, 2_147_400_001, "+905551112233", true).await;
}

use shared::domain::clock::Clock;

#[tokio::test]
async fn when_http_events_are_handled_should_answer_as_documented() {
    let h = helpers::harness(&[]).await;
    seed_verify_otp(&h).await;
    for (name, status, code) in HTTP_EVENTS {
        let request = http_request(name);
        let response = if name.starts_with("create") {
            handler::create(&h.app, request).await
        } else {
            handler::verify(&h.app, request).await
        };
        let (got, body) = helpers::read(response).await;
        assert_eq!((got.as_u16(), body["Code"].as_u64()), (*status, Some(*code)), "{name}: {body}");
    }
    // The REST v1 event asks for Spanish.
    let sms = testkit::wait_for_sms("+34612345678", 1, testkit::TIMEOUT).await;
    assert!(sms[0].starts_with("Tu codigo"), "folded into GSM-7: {}", sms[0]);
}

fn stream_event(name: &str) -> Event {
    serde_json::from_str(&read_event(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

async fn put_image(h: &helpers::Harness, event: &Event) {
    let image: Item = event.records[0].change.new_image.clone().into();
    h.app.store.client().put_item().table_name(testkit::TABLE).set_item(Some(image)).send().await.unwrap();
}

fn created_ms(event: &Event) -> u64 {
    let image: Item = event.records[0].change.new_image.clone().into();
    shared::store::dynamo::get_n(&image, "cat").unwrap()
}

#[tokio::test]
async fn when_stream_delivers_a_pending_otp_should_retry_refused_sms_then_send_once_and_erase_sealed_code() {
    let h = helpers::harness(&[]).await;
    let insert = stream_event("two-factor-sms-sender-insert.json");
    put_image(&h, &insert).await;
    h.clock.set_ms(created_ms(&insert) + 1_000);

    let id = Uuid::parse_str("9d4f6a1e-2b7c-4e3a-8f5d-0c1b2a3d4e5f").unwrap();

    // WHEN the carrier refuses THEN the record is reported for Lambda to retry, code kept.
    let failing = helpers::harness_with(&[], Some(std::sync::Arc::new(helpers::FailingSms::default()))).await;
    failing.clock.set_ms(created_ms(&insert) + 1_000);
    let response = sender::handle(&failing.app, insert.clone()).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(response.batch_item_failures[0].item_identifier, insert.records[0].change.sequence_number);
    assert_eq!(h.app.store.get(&id).await.unwrap().unwrap().delivery.as_str(), "pending", "kept for the retry");

    // WHEN the retry reaches the carrier THEN the SMS goes out
    let response = sender::handle(&h.app, insert.clone()).await;
    assert!(response.batch_item_failures.is_empty());
    let sms: Vec<_> = testkit::sms_to("+5491123456789").await.into_iter().filter(|s| s.contains("KMTX")).collect();
    assert_eq!(sms.len(), 1);
    assert!(sms[0].contains("123456") && sms[0].starts_with("Tu codigo"), "{}", sms[0]);

    let stored = h.app.store.get(&id).await.unwrap().unwrap();
    assert_eq!(stored.delivery.as_str(), "sent");
    assert_eq!(stored.sealed_code, None);

    // The same record again (Lambda delivers at least once) sends nothing more.
    sender::handle(&h.app, insert).await;
    sender::handle(&h.app, stream_event("two-factor-sms-sender-modify.json")).await;
    let again: Vec<_> = testkit::sms_to("+5491123456789").await.into_iter().filter(|s| s.contains("KMTX")).collect();
    assert_eq!(again.len(), 1);

    // And the delivered code verifies.
    let (status, body) = h.verify(&id.to_string(), "123456").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn when_pending_otp_expired_before_delivery_should_not_send_it() {
    let h = helpers::harness(&[]).await;
    let mut insert = stream_event("two-factor-sms-sender-insert.json");
    // Another OTP id, so this test does not race the others on one item.
    let image = &mut insert.records[0].change.new_image;
    let id = "0a0b0c0d-1111-4222-8333-444455556666";
    image.insert("pk".into(), serde_dynamo::AttributeValue::S(format!("OTP#{id}")));
    put_image(&h, &insert).await;
    h.clock.set_ms(created_ms(&insert) + 181_000);
    let response = sender::handle(&h.app, insert).await;
    assert!(response.batch_item_failures.is_empty());
    let stored = h.app.store.get(&Uuid::parse_str(id).unwrap()).await.unwrap().unwrap();
    assert_eq!(stored.delivery.as_str(), "failed");
    assert_eq!(stored.sealed_code, None, "sealed code erased");
}

#[tokio::test]
async fn when_ttl_removes_the_watch_of_an_otp_never_sent_should_record_it_failed() {
    let h = helpers::harness(&[]).await;
    let mut insert = stream_event("two-factor-sms-sender-insert.json");
    // Another OTP id, so this test does not race the others on one item.
    let id = "7c7c7c7c-2222-4333-8444-555566667777";
    let pk = serde_dynamo::AttributeValue::S(format!("OTP#{id}"));
    insert.records[0].change.new_image.insert("pk".into(), pk);
    put_image(&h, &insert).await;
    let mut removal = stream_event("two-factor-sms-sender-ttl-remove.json");
    let watch = serde_dynamo::AttributeValue::S(format!("OTPW#{id}"));
    removal.records[0].change.keys.insert("pk".into(), watch);
    let response = sender::handle(&h.app, removal).await;
    assert!(response.batch_item_failures.is_empty());
    let stored = h.app.store.get(&Uuid::parse_str(id).unwrap()).await.unwrap().unwrap();
    assert_eq!(stored.delivery.as_str(), "failed");
    assert_eq!(stored.failure.as_deref(), Some("expired undelivered (swept)"));
    assert_eq!(stored.sealed_code, None, "sealed code erased");
}

/// The OpCode of an answer in any of the three formats.
fn op_code(content_type: &str, body: &str) -> i64 {
    if content_type.starts_with("text/csv") {
        let mut reader = csv::Reader::from_reader(body.as_bytes());
        reader.records().next().unwrap().unwrap()[1].parse().unwrap()
    } else if content_type.starts_with("application/xml") {
        shared::edge::xml::parse(body).unwrap().child("OpCode").unwrap().text.parse().unwrap()
    } else {
        serde_json::from_str::<serde_json::Value>(body).unwrap()["OpCode"].as_i64().unwrap()
    }
}

#[tokio::test]
async fn when_signup_events_are_handled_should_answer_as_documented() {
    let h = helpers::signup::harness(&[], None).await;
    // Seed the user the confirm event confirms, with the code 123456 (stored the way sends
    // stored codes before they were bound to the address).
    h.seed_legacy_user("confirm.me@example.com", "u-confirm", "123456").await;

    for (name, status, op, content_type) in SIGNUP_EVENTS {
        let response = shared::signup::handler::handle(&h.app, http_request(name)).await;
        let got_type = response.headers()["content-type"].to_str().unwrap().to_string();
        let body = String::from_utf8_lossy(response.body().as_ref()).to_string();
        assert_eq!(response.status().as_u16(), *status, "{name}: {body}");
        assert!(got_type.starts_with(content_type), "{name}: {got_type}");
        assert_eq!(op_code(&got_type, &body), *op, "{name}: {body}");
    }
    assert_eq!(helpers::signup::emails_to("ana@example.com").await.len(), 1);
}

#[tokio::test]
async fn when_preregistration_events_are_handled_should_answer_as_documented() {
    let lists = serde_json::json!({"demo": helpers::test_destinations::list(&["+447700900100"], 50)}).to_string();
    let test = [("CNF_TEST_DESTINATIONS", lists.as_str()), ("TEST_DESTINATION_CODE", "135790")];
    let h = helpers::preregistration::harness(&test, None).await;
    // Seed the code the validate event validates (123456, application demo).
    let id = Uuid::parse_str("6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f").unwrap();
    let now = h.clock.now_ms();
    let code = shared::preregistration::store::NewCode {
        id,
        application: "demo".into(),
        mobile: None,
        email: Some("seeded@example.com".into()),
        hash: h.app.config.common.keys.hash(1, shared::preregistration::PURPOSE, &id.to_string(), "123456").unwrap(),
        email_hash: None,
        key_version: 1,
        language: "es".into(),
        audit_json: "{}".into(),
        created_ms: now,
        expires_ms: now + 600_000,
        max_attempts: 5,
        // The event's confirmation id is a v4 UUID: stored as before opaque ids, validated by
        // the legacy path (a read first).
        id_plain: None,
    };
    h.app.store.create(&code, &[], &[], shared::store::dynamo::Plan::new(), now).await.unwrap();

    for (name, status) in PREREGISTRATION_EVENTS {
        let request = http_request(name);
        let response = if name.starts_with("generate") {
            shared::preregistration::handler::generate(&h.app, request).await
        } else {
            shared::preregistration::handler::validate(&h.app, request).await
        };
        let (got, body) = helpers::read(response).await;
        assert_eq!(got.as_u16(), *status, "{name}: {body}");
        if *status == 400 {
            assert_eq!(body["Message"], "The request is invalid.", "{name}: {body}");
        }
    }
    let sms = testkit::wait_for_sms("+5491123456789", 1, testkit::TIMEOUT).await;
    let emails = helpers::signup::emails_to("ana.gomez@tienda.online").await;
    let (sms_code, email_code) = (testkit::digits(&sms[0], 6).unwrap(), testkit::digits(&emails[0], 6).unwrap());
    assert_ne!(sms_code, email_code, "a code per channel (docs/api.md, family B)");
    assert!(testkit::sms_to("+447700900100").await.is_empty(), "a test number is sent nothing");
}
