//! Each family's handler records the outcome its answer says, with the destination's country
//! on SMS sends and on the verifications of SMS codes (the conversion by country), through the
//! real store on moto: every path an operator's dashboard counts.
use crate::helpers;

use std::sync::Arc;

use serde_json::json;
use shared::ops::metrics::{Country, Metrics, Operation, Outcome, Rule};

use helpers::Kept;

trait Summary {
    fn take(&self) -> Vec<(Operation, Outcome, Option<Country>, u32, u32)>;
}

impl Summary for Kept {
    /// (operation, outcome, country, SMS, e-mails) of each record so far, then forgets them.
    fn take(&self) -> Vec<(Operation, Outcome, Option<Country>, u32, u32)> {
        let records = std::mem::take(&mut *self.0.lock().unwrap());
        records.iter().map(|r| (r.operation, r.outcome, r.country, r.sms_delivered, r.emails_delivered)).collect()
    }
}

fn kept() -> (Arc<Kept>, Metrics) {
    let kept = Arc::new(Kept::default());
    (kept.clone(), Metrics::new("VerificationCodes/test", kept))
}

#[tokio::test]
async fn when_family_c_sends_and_verifies_should_record_each_outcome_with_the_country() {
    // GIVEN family C with its metric lines kept
    let mut h = helpers::harness(&[]).await;
    let (kept, metrics) = kept();
    Arc::get_mut(&mut h.app).unwrap().metrics = metrics;
    let phone = testkit::unique_phone();
    let tr = Country::new("TR");

    // WHEN a code is sent, verified wrong, right, and again
    let (otp, code) = h.otp(&phone, json!({})).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    h.verify(&otp, wrong).await;
    h.verify(&otp, &code).await;
    h.verify(&otp, &code).await;
    h.create(&helpers::create_body("12345", json!({}))).await;

    // THEN each request has its record: the send and the verification by country
    assert_eq!(
        kept.take(),
        [
            (Operation::Create, Outcome::Sent, tr, 1, 0),
            (Operation::Verify, Outcome::Mismatch, None, 0, 0),
            (Operation::Verify, Outcome::Verified, tr, 0, 0),
            (Operation::Verify, Outcome::AlreadyUsed, None, 0, 0),
            (Operation::Create, Outcome::Refused(Rule::BadInput), None, 0, 0),
        ]
    );
}

#[tokio::test]
async fn when_family_c_cannot_deliver_should_record_a_delivery_failure() {
    let failing: Arc<dyn shared::aws::sns::SmsSender> = Arc::new(helpers::FailingSms::default());
    let mut h = helpers::harness_with(&[], Some(failing)).await;
    let (kept, metrics) = kept();
    Arc::get_mut(&mut h.app).unwrap().metrics = metrics;
    let (status, _) = h.create(&helpers::create_body(&testkit::unique_phone(), json!({}))).await;
    assert_eq!(status, 502);
    assert_eq!(kept.take(), [(Operation::Create, Outcome::DeliveryFailed, None, 0, 0)]);
}

#[tokio::test]
async fn when_family_b_sends_by_sms_and_email_and_validates_should_record_the_country_on_both() {
    // GIVEN family B with its metric lines kept
    let mut h = helpers::preregistration::harness(&[], None).await;
    let (kept, metrics) = kept();
    Arc::get_mut(&mut h.app).unwrap().metrics = metrics;
    let number = format!("9112{}", &testkit::unique_phone()[6..]);
    let address = format!("metrics.{}@example.com", std::process::id());

    // WHEN a code goes by SMS and e-mail, is validated wrong then right
    let (status, body) = h
        .generate(&json!({"applicationId": "demo", "internationalPrefix": "54", "mobileNumber": number,
                          "emailAddress": address}))
        .await;
    assert_eq!(status, 200, "{body}");
    let id = helpers::preregistration::payload(&body)["confirmationId"].as_str().unwrap().to_string();
    let sms = testkit::wait_for_sms(&format!("+54{number}"), 1, testkit::TIMEOUT).await;
    let code = testkit::digits(&sms[0], 6).unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    h.validate(&json!({"applicationId": "demo", "confirmationId": id, "confirmationCode": wrong})).await;
    h.validate(&json!({"applicationId": "demo", "confirmationId": id, "confirmationCode": code})).await;
    h.validate(&json!({"applicationId": "nobody", "confirmationId": id, "confirmationCode": code})).await;

    // THEN the send counts an SMS to AR and an e-mail, and the validation counts for AR
    let ar = Country::new("AR");
    assert_eq!(
        kept.take(),
        [
            (Operation::Generate, Outcome::Sent, ar, 1, 1),
            (Operation::Validate, Outcome::Mismatch, None, 0, 0),
            (Operation::Validate, Outcome::Verified, ar, 0, 0),
            (Operation::Validate, Outcome::Refused(Rule::BadInput), None, 0, 0),
        ]
    );
}

#[tokio::test]
async fn when_family_a_sends_and_confirms_should_record_send_and_confirm() {
    let mut h = helpers::signup::harness(&[], None).await;
    let (kept, metrics) = kept();
    Arc::get_mut(&mut h.app).unwrap().metrics = metrics;
    let address = helpers::signup::unique_address();
    let code = h.send_and_read(&address).await;
    h.confirm(&address, "12ab").await;
    h.confirm(&address, &code).await;
    h.send(&address).await;
    assert_eq!(
        kept.take(),
        [
            (Operation::Send, Outcome::Sent, None, 0, 1),
            (Operation::Confirm, Outcome::Refused(Rule::BadInput), None, 0, 0),
            (Operation::Confirm, Outcome::Verified, None, 0, 0),
            (Operation::Send, Outcome::AlreadyUsed, None, 0, 0),
        ]
    );
}

#[tokio::test]
async fn when_the_sender_acts_on_a_stream_record_should_record_each_attempt_with_the_country() {
    // GIVEN the sample pending OTP (to +54 9 11 ...) stored, and the sender with its lines kept
    let event: aws_lambda_events::event::dynamodb::Event = serde_json::from_str(
        &std::fs::read_to_string(testkit::workspace_root().join("events/two-factor-sms-sender-insert.json")).unwrap(),
    )
    .unwrap();
    let image: shared::store::dynamo::Item = event.records[0].change.new_image.clone().into();
    let created: u64 = shared::store::dynamo::get_n(&image, "cat").unwrap();
    let failing: Arc<dyn shared::aws::sns::SmsSender> = Arc::new(helpers::FailingSms::default());
    let (mut refusing, mut h) = (helpers::harness_with(&[], Some(failing)).await, helpers::harness(&[]).await);
    h.app.store.client().put_item().table_name(testkit::TABLE).set_item(Some(image)).send().await.unwrap();
    let (kept, metrics) = kept();
    for harness in [&mut refusing, &mut h] {
        harness.clock.set_ms(created + 1_000);
        Arc::get_mut(&mut harness.app).unwrap().metrics = metrics.clone();
    }

    // WHEN the carrier refuses it, then takes it, then the record comes again
    shared::twofactor::sender::handle(&refusing.app, event.clone()).await;
    shared::twofactor::sender::handle(&h.app, event.clone()).await;
    shared::twofactor::sender::handle(&h.app, event).await;

    // THEN a failed attempt and a delivery, both to AR; the repeat was no OTP to act on
    let ar = Country::new("AR");
    assert_eq!(
        kept.take(),
        [(Operation::Deliver, Outcome::DeliveryFailed, ar, 0, 0), (Operation::Deliver, Outcome::Sent, ar, 1, 0)]
    );
}

#[tokio::test]
async fn when_a_code_goes_by_sms_and_email_should_credit_sms_conversion_only_for_the_sms_code() {
    // GIVEN family B sending codes by SMS and by e-mail, its metric lines kept
    let mut h = helpers::preregistration::harness(&[("CNF_RESEND_GAP_SECONDS", "0")], None).await;
    let (kept, metrics) = kept();
    Arc::get_mut(&mut h.app).unwrap().metrics = metrics;
    let kept_channels = || -> Vec<_> {
        let records = std::mem::take(&mut *kept.0.lock().unwrap());
        records
            .iter()
            .filter(|r| r.operation == Operation::Validate)
            .map(|r| (r.outcome, r.country, r.channel))
            .collect()
    };
    let mobile = testkit::unique_phone().replace("+90532", "9116");
    let e164 = format!("+54{mobile}");
    let address = helpers::signup::unique_address();
    let generate =
        json!({"applicationId": "demo", "internationalPrefix": "54", "mobileNumber": mobile, "emailAddress": address});
    let block_credits = || async {
        // The number's block in the hour of the sends (family B's own breaker).
        let bucket = shared::domain::clock::Clock::now_ms(&h.clock) / 3_600_000;
        let key = shared::store::dynamo::key(&format!("CNF#BLOCK#{}#{bucket}", &e164[..e164.len() - 3]), "WINDOW");
        let out = h.app.store.client().get_item().table_name(testkit::TABLE).set_key(Some(key));
        let item = out.consistent_read(true).send().await.unwrap().item;
        item.and_then(|i| shared::store::dynamo::get_n::<u64>(&i, "vh")).unwrap_or(0)
    };

    // WHEN a pumper validates a code from the e-mail (a catch-all address of its own)
    let (status, body) = h.generate(&generate).await;
    assert_eq!(status, 200, "{body}");
    let id = body["response"]["confirmationId"].clone();
    let sms_code = testkit::digits(testkit::wait_for_sms(&e164, 1, testkit::TIMEOUT).await.last().unwrap(), 6).unwrap();
    let email_code = testkit::digits(helpers::signup::emails_to(&address).await.last().unwrap(), 6).unwrap();
    assert_ne!(sms_code, email_code, "one code per channel");
    let validate = |code: &str| json!({"applicationId": "demo", "confirmationId": id, "confirmationCode": code});
    let (status, body) = h.validate(&validate(&email_code)).await;
    assert_eq!(status, 200, "{body}");
    // THEN nothing proves the SMS arrived: no credit to the block, no SMS conversion by country
    assert_eq!(block_credits().await, 0, "the e-mail code credits no block");
    assert_eq!(kept_channels(), [(Outcome::Verified, None, Some(shared::ops::metrics::Channel::Email))]);
    // AND the code is used: the SMS's code of the same send no longer validates
    assert_eq!(h.validate(&validate(&sms_code)).await.0, 409);
    kept_channels();

    // WHEN the next code is validated with the SMS's own code
    let (status, body) = h.generate(&generate).await;
    assert_eq!(status, 200, "{body}");
    let id = body["response"]["confirmationId"].clone();
    let sms_code = testkit::digits(testkit::wait_for_sms(&e164, 2, testkit::TIMEOUT).await.last().unwrap(), 6).unwrap();
    let (status, body) =
        h.validate(&json!({"applicationId": "demo", "confirmationId": id, "confirmationCode": sms_code})).await;
    assert_eq!(status, 200, "{body}");
    // THEN it is the SMS's conversion
    assert_eq!(block_credits().await, 100, "one verification x 100");
    assert_eq!(kept_channels(), [(Outcome::Verified, Country::new("AR"), Some(shared::ops::metrics::Channel::Sms))]);
}
