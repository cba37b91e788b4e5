//! Lost races (issue 24, item 2): a transaction cancelled with `TransactionConflict` is tried
//! again after a growing, jittered pause, the request still succeeds while its attempts last,
//! and every pause is counted in its metric line (`ContentionRetries`). The conflicts are
//! injected where DynamoDB would answer them (between the SDK and moto), as DynamoDB words them.

use crate::helpers;

use std::sync::{Arc, Mutex};

use serde_json::json;
use shared::ops::metrics::{Metrics, Outcome, Record, Sink};
use testkit::faults::{Fault, faulty_sdk_config};

const TRANSACT: &str = "dynamodb:TransactWriteItems";

#[derive(Default)]
struct Kept(Mutex<Vec<Record>>);

impl Sink for Kept {
    fn emit(&self, record: &Record, line: &str) {
        let data = testkit::emf::extract(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let retries = data.iter().find(|d| d.name == "ContentionRetries" && d.dimensions.is_empty());
        assert_eq!(retries.map(|d| d.values.clone()), Some(vec![f64::from(record.contention_retries)]), "{line}");
        self.0.lock().unwrap().push(*record);
    }
}

impl Kept {
    fn last(&self) -> (Outcome, u32) {
        let records = self.0.lock().unwrap();
        let last = records.last().expect("a record");
        (last.outcome, last.contention_retries)
    }
}

fn kept() -> (Arc<Kept>, Metrics) {
    let kept = Arc::new(Kept::default());
    (kept.clone(), Metrics::new("VerificationCodes/test", kept))
}

#[tokio::test]
async fn when_a_send_and_a_verification_lose_races_should_retry_and_count_each_pause() {
    // GIVEN family C on an SDK whose transactions meet conflicts the test injects
    let (sdk, faults) = faulty_sdk_config().await;
    let mut h = helpers::harness_on(&sdk, &[], None);
    let (kept, metrics) = kept();
    Arc::get_mut(&mut h.app).unwrap().metrics = metrics;
    let phone = testkit::unique_phone();

    // WHEN the create's transaction conflicts 3 times, then passes
    faults.inject_times(TRANSACT, Fault::TransactionConflict, 3);
    let (otp, code) = h.otp(&phone, json!({})).await;

    // THEN it succeeded on its 4th attempt, and its line counts 3 pauses
    assert_eq!(faults.injected(TRANSACT), 3);
    assert_eq!(kept.last(), (Outcome::Sent, 3));

    // AND a verification that conflicts twice verifies, with 2 pauses; one without, 0
    faults.inject_times(TRANSACT, Fault::TransactionConflict, 2);
    assert_eq!(h.verify(&otp, &code).await.0, 200);
    assert_eq!(kept.last(), (Outcome::Verified, 2));
    assert_eq!(h.verify(&otp, &code).await.0, 409);
    assert_eq!(kept.last(), (Outcome::AlreadyUsed, 0));
}

#[tokio::test]
async fn when_a_family_a_confirmation_and_a_family_b_validation_lose_races_should_count_their_pauses() {
    let (sdk, faults) = faulty_sdk_config().await;
    // Family A: a send, then a confirmation whose first two attempts conflict.
    let mut a = helpers::signup::harness_on(&sdk, &[("SIGNUP_RESEND_GAP_SECONDS", "0")], None);
    let (kept_a, metrics) = kept();
    Arc::get_mut(&mut a.app).unwrap().metrics = metrics;
    let address = helpers::signup::unique_address();
    let code = a.send_and_read(&address).await;
    faults.inject_times(TRANSACT, Fault::TransactionConflict, 2);
    assert_eq!(a.confirm(&address, &code).await.0, 200);
    assert_eq!(kept_a.last(), (Outcome::Verified, 2));

    // Family B: a code by e-mail, validated through one conflict.
    let mut b = helpers::preregistration::harness_on(&sdk, &[("CNF_RESEND_GAP_SECONDS", "0")], None);
    let (kept_b, metrics) = kept();
    Arc::get_mut(&mut b.app).unwrap().metrics = metrics;
    let email = helpers::signup::unique_address();
    let (status, body) = b.generate(&json!({"applicationId": "demo", "emailAddress": email})).await;
    assert_eq!(status, 200, "{body}");
    let id = body["response"]["confirmationId"].as_str().unwrap().to_string();
    let mail = helpers::signup::emails_to(&email).await;
    let code = testkit::digits(mail.last().unwrap(), 6).unwrap();
    faults.inject_times(TRANSACT, Fault::TransactionConflict, 1);
    let validate = json!({"applicationId": "demo", "confirmationId": id, "confirmationCode": code});
    assert_eq!(b.validate(&validate).await.0, 200);
    assert_eq!(kept_b.last(), (Outcome::Verified, 1));
}

#[tokio::test]
async fn when_conflicts_outlast_the_attempts_should_answer_busy_after_growing_pauses() {
    // GIVEN every transaction of a create conflicting
    let (sdk, faults) = faulty_sdk_config().await;
    let mut h = helpers::harness_on(&sdk, &[], None);
    let (kept, metrics) = kept();
    Arc::get_mut(&mut h.app).unwrap().metrics = metrics;
    faults.inject(TRANSACT, Fault::TransactionConflict);

    // WHEN it is asked for
    let started = std::time::Instant::now();
    let (status, body) = h.create(&helpers::create_body(&testkit::unique_phone(), json!({}))).await;

    // THEN 503 after its 8 attempts (7 pauses between them, then the 8th's: growing ceilings
    // 4..250 ms, ~0.75 s at most however the jitter falls; the bound leaves room for a busy
    // machine), each counted
    assert_eq!(status, 503, "{body}");
    assert_eq!(faults.injected(TRANSACT), 8);
    assert_eq!(kept.last(), (Outcome::Error, 8));
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
}

const UPDATE: &str = "dynamodb:UpdateItem";

#[tokio::test]
async fn when_a_single_item_write_meets_a_transaction_should_try_it_again_and_nothing_else() {
    // GIVEN a pending (IsSync: false) OTP, on an SDK whose single-item writes meet faults
    let (sdk, faults) = faulty_sdk_config().await;
    let h = helpers::harness_on(&sdk, &[], None);
    let (status, body) = h.create(&helpers::create_body(&testkit::unique_phone(), json!({"IsSync": false}))).await;
    assert_eq!(status, 200, "{body}");
    let id = uuid::Uuid::parse_str(body["OtpIdReference"].as_str().unwrap()).unwrap();
    let store = &h.app.store;

    // WHEN a count of a refused send meets a transaction on the OTP twice, THEN it is tried
    // again until it passes (TransactionConflictException: the SDK does not retry it)
    faults.inject_times(UPDATE, Fault::TransactionConflict, 2);
    assert_eq!(store.count_failed_send(&id).await.unwrap(), Some(1));
    assert_eq!(faults.calls(UPDATE), 3);
    // AND a failure that is no conflict is not tried again here (the SDK's 3 attempts only)
    faults.reset_counts();
    faults.inject(UPDATE, Fault::ServerError(500));
    assert!(store.count_failed_send(&id).await.is_err());
    assert_eq!(faults.calls(UPDATE), 3, "the SDK's attempts, not 8 rounds of them");
    faults.clear();

    // The conditional write that records a delivery: the same, and a refused condition is an
    // answer ("not pending any more"), not an error.
    use shared::twofactor::store::{DeliveryEnd, Finishing};
    faults.reset_counts();
    faults.inject(UPDATE, Fault::ServerError(500));
    assert!(store.finish_delivery(&id, DeliveryEnd::Sent, Finishing::IfPending).await.is_err());
    assert_eq!(faults.calls(UPDATE), 3);
    faults.clear();
    faults.reset_counts();
    faults.inject_times(UPDATE, Fault::TransactionConflict, 2);
    assert!(store.finish_delivery(&id, DeliveryEnd::Sent, Finishing::IfPending).await.unwrap());
    assert_eq!(faults.calls(UPDATE), 3);
    assert!(!store.finish_delivery(&id, DeliveryEnd::Sent, Finishing::IfPending).await.unwrap(), "no longer pending");
}
