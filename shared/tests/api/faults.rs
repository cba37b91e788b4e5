//! Faults injected between the SDK and moto (`testkit::faults`), through the handlers of
//! every family: whatever AWS does, the caller gets the family's own answer in time, and
//! counters, codes and users stay as docs/operations.md (Faults) says.

use crate::helpers;

use std::time::{Duration, Instant};

use lambda_http::{Body, Response};
use serde_json::{Value, json};
use testkit::faults::{Fault, Faults, faulty_sdk_config};

const TRANSACT: &str = "dynamodb:TransactWriteItems";
const GET: &str = "dynamodb:GetItem";
const UPDATE: &str = "dynamodb:UpdateItem";
const PUBLISH: &str = "sns:Publish";
const SEND_EMAIL: &str = "sesv2:SendEmail";

/// The DynamoDB faults that leave nothing behind and must answer 503 in the family's shape.
const REFUSALS: [Fault; 4] =
    [Fault::Throttle, Fault::ThrottlingException, Fault::ServerError(500), Fault::ServerError(503)];

/// A short deadline, for stalls the SDK's own timeouts would take seconds to end.
const SHORT_DEADLINE: &[(&str, &str)] = &[("REQUEST_DEADLINE_MS", "300")];

struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: Value,
    took: Duration,
}

async fn answer(started: Instant, response: Response<Body>) -> Answer {
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    Answer { status: response.status().as_u16(), retry_after, body, took: started.elapsed() }
}

impl Answer {
    /// 503 with `Retry-After`: the family's "busy, try again".
    fn assert_busy(&self, what: &str) {
        assert_eq!(self.status, 503, "{what}: {}", self.body);
        assert_eq!(self.retry_after.as_deref(), Some("1"), "{what}: Retry-After on a 503");
    }

    fn assert_within(&self, limit: Duration, what: &str) {
        assert!(self.took < limit, "{what}: answered after {:?}, limit {limit:?}", self.took);
    }
}

// ---------------------------------------------------------------------------------------
// Family C

mod family_c {
    use super::*;
    use helpers::{Harness, create_body, harness_on, post};

    async fn setup(overrides: &[(&str, &str)]) -> (Harness, Faults) {
        let (sdk, faults) = faulty_sdk_config().await;
        (harness_on(&sdk, overrides, None), faults)
    }

    async fn create(h: &Harness, phone: &str, extra: Value) -> Answer {
        let started = Instant::now();
        answer(started, shared::twofactor::handler::create(&h.app, post(&create_body(phone, extra))).await).await
    }

    async fn verify(h: &Harness, otp: &str, code: &str) -> Answer {
        let body = json!({"UserId": helpers::USER, "OtpIdReference": otp, "OtpCode": code}).to_string();
        let started = Instant::now();
        answer(started, shared::twofactor::handler::verify(&h.app, post(&body)).await).await
    }

    /// The SMS sent to `phone`, read back from moto.
    async fn sms(phone: &str) -> Vec<String> {
        testkit::sms_to(phone).await
    }

    #[tokio::test]
    async fn when_dynamodb_refuses_a_create_should_answer_5001_503_and_count_nothing() {
        let (h, faults) = setup(&[]).await;
        for fault in REFUSALS {
            let phone = testkit::unique_phone();
            faults.inject(TRANSACT, fault);
            let a = create(&h, &phone, json!({"MaxSMSCount": 1})).await;
            a.assert_busy(&format!("{fault:?}"));
            assert_eq!(a.body["Code"], 5001, "{fault:?}: {}", a.body);
            assert_eq!(a.body["Success"], false);
            assert_eq!(faults.injected(TRANSACT), 3, "{fault:?}: the SDK tried three times");
            faults.clear();
            faults.reset_counts();
            assert!(sms(&phone).await.is_empty(), "{fault:?}: no SMS");
            // Nothing was counted: the one SMS MaxSMSCount allows still goes out.
            let a = create(&h, &phone, json!({"MaxSMSCount": 1})).await;
            assert_eq!(a.status, 200, "{fault:?}: {}", a.body);
            assert_eq!(sms(&phone).await.len(), 1);
        }
    }

    #[tokio::test]
    async fn when_a_create_took_effect_but_its_answer_was_lost_should_answer_it_once() {
        let (h, faults) = setup(&[]).await;
        for fault in [Fault::FailAfterEffect, Fault::DropAfterEffect] {
            let phone = testkit::unique_phone();
            faults.inject_times(TRANSACT, fault, 1);
            let a = create(&h, &phone, json!({"MaxSMSCount": 2})).await;
            assert_eq!(a.status, 200, "{fault:?}: {}", a.body);
            a.assert_within(Duration::from_secs(3), &format!("{fault:?}"));
            assert_eq!(faults.injected(TRANSACT), 1);
            faults.reset_counts();
            let texts = sms(&phone).await;
            assert_eq!(texts.len(), 1, "{fault:?}: one SMS");
            // The retried transaction was answered as done, not applied again: the window
            // counted one send, so exactly one more passes.
            assert_eq!(create(&h, &phone, json!({"MaxSMSCount": 2})).await.status, 200);
            let third = create(&h, &phone, json!({"MaxSMSCount": 2})).await;
            assert_eq!((third.status, third.body["Code"].as_u64()), (429, Some(4000)), "{fault:?}");
            // And the first code verifies.
            let code = testkit::digits(&texts[0], 6).unwrap();
            let otp = a.body["OtpIdReference"].as_str().unwrap();
            assert_eq!(verify(&h, otp, &code).await.status, 200);
        }
    }

    #[tokio::test]
    async fn when_sns_throttles_a_sync_sms_should_try_it_again_within_the_deadline() {
        // SNS refuses a throttled Publish before taking it: trying again cannot text twice.
        let (h, faults) = setup(&[]).await;
        let phone = testkit::unique_phone();
        faults.inject_times(PUBLISH, Fault::Throttle, 5);
        let a = create(&h, &phone, json!({})).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(faults.injected(PUBLISH), 5);
        assert_eq!(sms(&phone).await.len(), 1, "sent once, on the 6th try");

        // Throttled on every try: given up after SYNC_ATTEMPTS, in well under the deadline.
        let phone = testkit::unique_phone();
        faults.reset_counts();
        faults.inject(PUBLISH, Fault::Throttle);
        let started = Instant::now();
        let a = create(&h, &phone, json!({})).await;
        assert_eq!((a.status, a.body["Code"].as_u64()), (502, Some(5000)), "{}", a.body);
        assert_eq!(faults.injected(PUBLISH), shared::aws::sns::SYNC_ATTEMPTS);
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        assert!(sms(&phone).await.is_empty());
    }

    #[tokio::test]
    async fn when_sns_refuses_or_fails_a_sync_sms_should_answer_5000_502_and_drop_the_code() {
        let (h, faults) = setup(&[("RETURN_OTP_CODE", "true")]).await;
        for fault in [Fault::Refuse, Fault::ServerError(500), Fault::FailAfterEffect] {
            let phone = testkit::unique_phone();
            faults.inject(PUBLISH, fault);
            let a = create(&h, &phone, json!({})).await;
            assert_eq!((a.status, a.body["Code"].as_u64()), (502, Some(5000)), "{fault:?}: {}", a.body);
            assert_eq!(faults.injected(PUBLISH), 1, "{fault:?}: Publish is never retried (it may text twice)");
            faults.clear();
            faults.reset_counts();
            // After the effect the SMS went out once, and its code is dead like the others.
            let sent = if fault == Fault::FailAfterEffect { 1 } else { 0 };
            assert_eq!(sms(&phone).await.len(), sent, "{fault:?}");
            let otp = a.body["OtpIdReference"].as_str().map(str::to_string);
            assert_eq!(otp, None, "a failed create answers no OTP");
        }
    }

    #[tokio::test]
    async fn when_sns_stalls_should_answer_5000_502_within_the_sns_timeout() {
        let (h, faults) = setup(&[]).await;
        let phone = testkit::unique_phone();
        faults.inject(PUBLISH, Fault::Stall);
        let a = create(&h, &phone, json!({})).await;
        assert_eq!((a.status, a.body["Code"].as_u64()), (502, Some(5000)), "{}", a.body);
        a.assert_within(shared::aws::SNS.operation + Duration::from_secs(1), "SNS stall");
        assert!(a.took >= shared::aws::SNS.operation, "ended by the SNS timeout: {:?}", a.took);
    }

    #[tokio::test]
    async fn when_dynamodb_stalls_should_answer_5001_503_within_the_dynamodb_timeout() {
        let (h, faults) = setup(&[]).await;
        faults.inject(TRANSACT, Fault::Stall);
        let a = create(&h, &testkit::unique_phone(), json!({})).await;
        a.assert_busy("DynamoDB stall");
        assert_eq!(a.body["Code"], 5001);
        a.assert_within(shared::aws::DYNAMODB.operation + Duration::from_secs(1), "DynamoDB stall");
    }

    #[tokio::test]
    async fn when_anything_stalls_past_the_deadline_should_answer_5001_503_by_then() {
        let (h, faults) = setup(SHORT_DEADLINE).await;
        for operation in [TRANSACT, PUBLISH] {
            faults.inject(operation, Fault::Stall);
            let a = create(&h, &testkit::unique_phone(), json!({})).await;
            a.assert_busy(operation);
            assert_eq!(a.body["Code"], 5001, "{operation}");
            a.assert_within(Duration::from_millis(300 + 200), operation);
            faults.clear();
        }
        faults.inject(GET, Fault::Stall);
        let a = verify(&h, &uuid::Uuid::new_v4().to_string(), "123456").await;
        a.assert_busy("verify, GetItem stalled");
        assert_eq!(a.body["Code"], 5001);
        a.assert_within(Duration::from_millis(500), "verify");
    }

    #[tokio::test]
    async fn when_dynamodb_stalls_a_verify_should_answer_5001_503_within_the_dynamodb_timeout() {
        let (h, faults) = setup(&[]).await;
        let (otp, code) = h.otp(&testkit::unique_phone(), json!({})).await;
        faults.inject(TRANSACT, Fault::Stall);
        let a = verify(&h, &otp, &code).await;
        a.assert_busy(TRANSACT);
        assert_eq!(a.body["Code"], 5001);
        a.assert_within(shared::aws::DYNAMODB.operation + Duration::from_secs(1), TRANSACT);
        faults.clear();
        assert_eq!(verify(&h, &otp, &code).await.status, 200, "no attempt spent");
    }

    #[tokio::test]
    async fn when_the_deadline_cuts_an_effect_should_leave_what_the_readme_says() {
        let (h, faults) = setup(SHORT_DEADLINE).await;
        // Cut while sending: the SMS went, the OTP is counted (and nobody has its id).
        let phone = testkit::unique_phone();
        faults.inject_times(PUBLISH, Fault::DropAfterEffect, 1);
        let a = create(&h, &phone, json!({"MaxSMSCount": 1})).await;
        a.assert_busy("create cut while sending");
        a.assert_within(Duration::from_millis(500), "create cut while sending");
        assert_eq!(testkit::wait_for_sms(&phone, 1, testkit::TIMEOUT).await.len(), 1);
        assert_eq!(create(&h, &phone, json!({"MaxSMSCount": 1})).await.status, 429, "counted");
        // Cut while verifying: verified, and asked again it says so.
        let (otp, code) = h.otp(&testkit::unique_phone(), json!({})).await;
        faults.inject_times(TRANSACT, Fault::DropAfterEffect, 1);
        let a = verify(&h, &otp, &code).await;
        a.assert_busy("verify cut while writing");
        tokio::time::sleep(Duration::from_millis(300)).await; // the write lands in moto
        let again = verify(&h, &otp, &code).await;
        assert_eq!((again.status, again.body["Code"].as_u64()), (409, Some(4007)), "{}", again.body);
    }

    #[tokio::test]
    async fn when_dynamodb_refuses_a_verify_should_answer_503_and_spend_no_attempt() {
        let (h, faults) = setup(&[]).await;
        let phone = testkit::unique_phone();
        let (otp, code) = h.otp(&phone, json!({})).await;
        // A verification is one transaction (its id carries the number: no read first).
        for fault in [Fault::Throttle, Fault::ThrottlingException, Fault::ServerError(500)] {
            faults.inject(TRANSACT, fault);
            let a = verify(&h, &otp, &code).await;
            a.assert_busy(&format!("{TRANSACT} {fault:?}"));
            assert_eq!(a.body["Code"], 5001);
            faults.clear();
        }
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let a = verify(&h, &otp, wrong).await;
        assert_eq!((a.status, a.body["RemainingAttempts"].as_u64()), (400, Some(4)), "none spent: {}", a.body);
        assert_eq!(verify(&h, &otp, &code).await.status, 200);
    }

    #[tokio::test]
    async fn when_a_verification_took_effect_but_its_answer_was_lost_should_answer_success_once() {
        let (h, faults) = setup(&[]).await;
        let (otp, code) = h.otp(&testkit::unique_phone(), json!({})).await;
        faults.inject_times(TRANSACT, Fault::FailAfterEffect, 1);
        let a = verify(&h, &otp, &code).await;
        assert_eq!(a.status, 200, "the retry is answered as done, not as already verified: {}", a.body);
        let again = verify(&h, &otp, &code).await;
        assert_eq!((again.status, again.body["Code"].as_u64()), (409, Some(4007)));
    }
}

// ---------------------------------------------------------------------------------------
// Family B

mod family_b {
    use super::*;
    use helpers::post;
    use helpers::preregistration::{Harness, harness_on, payload};

    async fn setup(overrides: &[(&str, &str)]) -> (Harness, Faults) {
        let (sdk, faults) = faulty_sdk_config().await;
        (harness_on(&sdk, overrides, None), faults)
    }

    fn mobile() -> String {
        testkit::unique_phone().replace("+90532", "9115")
    }

    fn address() -> String {
        helpers::signup::unique_address().replace("@example.com", "@shop.online")
    }

    async fn generate(h: &Harness, mobile: &str, address: &str) -> Answer {
        let body = json!({"applicationId": "demo", "internationalPrefix": "54", "mobileNumber": mobile,
                          "emailAddress": address, "language": "en"});
        let started = Instant::now();
        answer(started, shared::preregistration::handler::generate(&h.app, post(&body.to_string())).await).await
    }

    async fn validate(h: &Harness, id: &str, code: &str) -> Answer {
        let body = json!({"applicationId": "demo", "confirmationId": id, "confirmationCode": code});
        let started = Instant::now();
        answer(started, shared::preregistration::handler::validate(&h.app, post(&body.to_string())).await).await
    }

    async fn messages_to(mobile: &str, address: &str) -> (usize, usize) {
        let sms = testkit::sms_to(&format!("+54{mobile}")).await.len();
        (sms, helpers::signup::emails_to(address).await.len())
    }

    #[tokio::test]
    async fn when_dynamodb_refuses_or_stalls_a_generate_should_answer_503_and_count_nothing() {
        let (h, faults) = setup(&[]).await;
        for fault in REFUSALS.into_iter().chain([Fault::Stall]) {
            let (mobile, address) = (mobile(), address());
            faults.inject(TRANSACT, fault);
            let a = generate(&h, &mobile, &address).await;
            a.assert_busy(&format!("{fault:?}"));
            assert_eq!(a.body, json!({"Message": "An error has occurred."}), "{fault:?}");
            a.assert_within(shared::aws::DYNAMODB.operation + Duration::from_secs(1), &format!("{fault:?}"));
            faults.clear();
            assert_eq!(messages_to(&mobile, &address).await, (0, 0), "{fault:?}");
            // Nothing counted: the 30 s resend gap is not running.
            let a = generate(&h, &mobile, &address).await;
            assert_eq!(a.status, 200, "{fault:?}: {}", a.body);
            assert_eq!(messages_to(&mobile, &address).await, (1, 1), "{fault:?}");
        }
    }

    #[tokio::test]
    async fn when_a_generate_took_effect_but_its_answer_was_lost_should_answer_it_once() {
        let (h, faults) = setup(&[]).await;
        let (mobile, address) = (mobile(), address());
        faults.inject_times(TRANSACT, Fault::FailAfterEffect, 1);
        let a = generate(&h, &mobile, &address).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(faults.injected(TRANSACT), 1);
        assert_eq!(messages_to(&mobile, &address).await, (1, 1));
        // Counted once: the resend gap refuses the next one, with nothing more sent.
        assert_eq!(generate(&h, &mobile, &address).await.status, 429);
        assert_eq!(messages_to(&mobile, &address).await, (1, 1));
    }

    #[tokio::test]
    async fn when_a_channel_refuses_or_fails_should_answer_502_and_the_code_never_validates() {
        let (h, faults) = setup(&[]).await;
        for (operation, fault, delivered) in [
            (SEND_EMAIL, Fault::Throttle, (1, 0)),
            (SEND_EMAIL, Fault::ServerError(500), (1, 0)),
            (SEND_EMAIL, Fault::FailAfterEffect, (1, 1)),
            (PUBLISH, Fault::Refuse, (0, 0)),
            (PUBLISH, Fault::FailAfterEffect, (1, 0)),
        ] {
            let (mobile, address) = (mobile(), address());
            faults.inject(operation, fault);
            let a = generate(&h, &mobile, &address).await;
            assert_eq!(a.status, 502, "{operation} {fault:?}: {}", a.body);
            assert_eq!(a.body, json!({"Message": "The confirmation code could not be sent."}));
            assert_eq!(faults.injected(operation), 1, "{operation}: never retried (it may deliver twice)");
            faults.clear();
            faults.reset_counts();
            assert_eq!(messages_to(&mobile, &address).await, delivered, "{operation} {fault:?}");
            // Whatever reached the user, its code is dead.
            if let Some(text) = testkit::sms_to(&format!("+54{mobile}")).await.first() {
                let code = testkit::digits(text, 6).unwrap();
                let body = json!({"applicationId": "demo", "mobileNumber": mobile, "internationalPrefix": "54",
                                  "confirmationCode": code});
                let v = shared::preregistration::handler::validate(&h.app, post(&body.to_string())).await;
                assert_eq!(v.status(), 404, "{operation} {fault:?}");
            }
        }
    }

    #[tokio::test]
    async fn when_ses_stalls_should_answer_502_within_the_ses_timeout() {
        let (h, faults) = setup(&[]).await;
        let (mobile, address) = (mobile(), address());
        faults.inject(SEND_EMAIL, Fault::Stall);
        let a = generate(&h, &mobile, &address).await;
        assert_eq!(a.status, 502, "{}", a.body);
        assert!(a.took >= shared::aws::SES.operation, "ended by the SES timeout: {:?}", a.took);
        a.assert_within(shared::aws::SES.operation + Duration::from_secs(1), "SES stall");
        assert_eq!(messages_to(&mobile, &address).await, (1, 0), "the SMS went first");
    }

    #[tokio::test]
    async fn when_a_send_stalls_past_the_deadline_should_answer_503_by_then() {
        let (h, faults) = setup(SHORT_DEADLINE).await;
        for operation in [PUBLISH, SEND_EMAIL, TRANSACT] {
            faults.inject(operation, Fault::Stall);
            let a = generate(&h, &mobile(), &address()).await;
            a.assert_busy(operation);
            assert_eq!(a.body, json!({"Message": "An error has occurred."}));
            a.assert_within(Duration::from_millis(500), operation);
            faults.clear();
        }
    }

    #[tokio::test]
    async fn when_a_validation_meets_faults_should_answer_503_or_succeed_once() {
        let (h, faults) = setup(&[]).await;
        let (mobile, address) = (mobile(), address());
        let a = generate(&h, &mobile, &address).await;
        assert_eq!(a.status, 200, "{}", a.body);
        let id = payload(&a.body)["confirmationId"].as_str().unwrap().to_string();
        let code = testkit::digits(&testkit::sms_to(&format!("+54{mobile}")).await[0], 6).unwrap();
        // By id, a validation is one transaction (the id carries the destinations: no read
        // first); by destination, the pointer's read comes first.
        let by_destination = json!({"applicationId": "demo", "emailAddress": address, "confirmationCode": code});
        for (operation, fault) in [
            (TRANSACT, Fault::ThrottlingException),
            (TRANSACT, Fault::ServerError(503)),
            (TRANSACT, Fault::Stall),
            (GET, Fault::ThrottlingException),
            (GET, Fault::ServerError(503)),
            (GET, Fault::Stall),
        ] {
            faults.inject(operation, fault);
            let v = if operation == GET {
                let started = Instant::now();
                let request = post(&by_destination.to_string());
                answer(started, shared::preregistration::handler::validate(&h.app, request).await).await
            } else {
                validate(&h, &id, &code).await
            };
            v.assert_busy(&format!("{operation} {fault:?}"));
            assert_eq!(v.body, json!({"Message": "An error has occurred."}));
            faults.clear();
        }
        // Nothing was spent: a wrong code still has all but one attempt left.
        let wrong = validate(&h, &id, if code == "000000" { "111111" } else { "000000" }).await;
        assert_eq!((wrong.status, wrong.body["remainingAttempts"].as_u64()), (400, Some(4)), "{}", wrong.body);
        faults.inject_times(TRANSACT, Fault::FailAfterEffect, 1);
        let v = validate(&h, &id, &code).await;
        assert_eq!(v.status, 200, "{}", v.body);
        assert_eq!(validate(&h, &id, &code).await.status, 409, "used once");
    }
}

// ---------------------------------------------------------------------------------------
// Family A

mod family_a {
    use super::*;
    use helpers::signup::{Harness, emails_to, harness_on, unique_address};

    async fn setup(overrides: &[(&str, &str)]) -> (Harness, Faults) {
        let (sdk, faults) = faulty_sdk_config().await;
        (harness_on(&sdk, overrides, None), faults)
    }

    async fn call(h: &Harness, body: Value) -> Answer {
        let mut request = helpers::post(&body.to_string());
        *request.uri_mut() = "/CognitoSendConfirmCodeRequest".parse().unwrap();
        let started = Instant::now();
        answer(started, shared::signup::handler::handle(&h.app, request).await).await
    }

    async fn send(h: &Harness, address: &str) -> Answer {
        call(h, json!({"EmailAddress": address})).await
    }

    async fn confirm(h: &Harness, address: &str, code: &str) -> Answer {
        call(h, json!({"EmailAddress": address, "ConfirmationCode": code})).await
    }

    #[tokio::test]
    async fn when_dynamodb_refuses_or_stalls_a_send_should_answer_1999_503_and_count_nothing() {
        let (h, faults) = setup(&[]).await;
        // A send is one transaction (no read first): the faults go on it.
        for (operation, fault) in REFUSALS.into_iter().map(|f| (TRANSACT, f)).chain([(TRANSACT, Fault::Stall)]) {
            let address = unique_address();
            faults.inject(operation, fault);
            let a = send(&h, &address).await;
            a.assert_busy(&format!("{operation} {fault:?}"));
            assert_eq!(a.body["OpCode"], 1999, "{operation} {fault:?}: {}", a.body);
            a.assert_within(shared::aws::DYNAMODB.operation + Duration::from_secs(1), &format!("{fault:?}"));
            faults.clear();
            assert!(emails_to(&address).await.is_empty());
            // Nothing counted: the 30 s resend gap is not running.
            let a = send(&h, &address).await;
            assert_eq!(a.status, 200, "{operation} {fault:?}: {}", a.body);
            assert_eq!(emails_to(&address).await.len(), 1);
        }
    }

    #[tokio::test]
    async fn when_a_send_took_effect_but_its_answer_was_lost_should_answer_it_once() {
        let (h, faults) = setup(&[]).await;
        let address = unique_address();
        faults.inject_times(TRANSACT, Fault::DropAfterEffect, 1);
        let a = send(&h, &address).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(emails_to(&address).await.len(), 1);
        // Counted once: the resend gap refuses the next one.
        assert_eq!(send(&h, &address).await.body["OpCode"], 1005);
        let code = testkit::digits(&emails_to(&address).await[0], 6).unwrap();
        // A confirmation is one transaction (no read first): the faults go on it.
        for (operation, fault) in [
            (TRANSACT, Fault::Stall),
            (TRANSACT, Fault::Throttle),
            (TRANSACT, Fault::ThrottlingException),
            (TRANSACT, Fault::ServerError(500)),
        ] {
            faults.inject(operation, fault);
            let c = confirm(&h, &address, &code).await;
            c.assert_busy(&format!("{operation} {fault:?}"));
            assert_eq!(c.body["OpCode"], 1999);
            c.assert_within(shared::aws::DYNAMODB.operation + Duration::from_secs(1), operation);
            faults.clear();
        }
        faults.inject(GET, Fault::Throttle); // not on this path: nothing is read first
        assert_eq!(confirm(&h, &address, &code).await.status, 200, "no attempt spent");
        assert_eq!(faults.injected(GET), 0);
    }

    #[tokio::test]
    async fn when_ses_refuses_or_fails_should_answer_1500_502_and_drop_the_code() {
        let (h, faults) = setup(&[("SIGNUP_RESEND_GAP_SECONDS", "0")]).await;
        for (fault, delivered) in [(Fault::Throttle, 0), (Fault::ServerError(500), 0), (Fault::FailAfterEffect, 1)] {
            let address = unique_address();
            faults.inject(SEND_EMAIL, fault);
            let a = send(&h, &address).await;
            assert_eq!((a.status, a.body["OpCode"].as_u64()), (502, Some(1500)), "{fault:?}: {}", a.body);
            assert_eq!(faults.injected(SEND_EMAIL), 1, "SendEmail is never retried (it may deliver twice)");
            faults.clear();
            faults.reset_counts();
            let emails = emails_to(&address).await;
            assert_eq!(emails.len(), delivered, "{fault:?}");
            if let Some(email) = emails.first() {
                let c = confirm(&h, &address, &testkit::digits(email, 6).unwrap()).await;
                assert_eq!(c.body["OpCode"], 1003, "the delivered code was dropped: {}", c.body);
            }
            // A new send works and confirms.
            let a = send(&h, &address).await;
            assert_eq!(a.status, 200, "{}", a.body);
        }
    }

    #[tokio::test]
    async fn when_ses_stalls_should_answer_1500_502_within_the_ses_timeout() {
        let (h, faults) = setup(&[]).await;
        let address = unique_address();
        faults.inject(SEND_EMAIL, Fault::Stall);
        let a = send(&h, &address).await;
        assert_eq!((a.status, a.body["OpCode"].as_u64()), (502, Some(1500)), "{}", a.body);
        a.assert_within(shared::aws::SES.operation + Duration::from_secs(1), "SES stall");
        assert!(emails_to(&address).await.is_empty());
    }

    #[tokio::test]
    async fn when_ses_or_dynamodb_stalls_past_the_deadline_should_answer_1999_503_by_then() {
        let (h, faults) = setup(SHORT_DEADLINE).await;
        for operation in [SEND_EMAIL, TRANSACT] {
            faults.inject(operation, Fault::Stall);
            let a = send(&h, &unique_address()).await;
            a.assert_busy(operation);
            assert_eq!(a.body["OpCode"], 1999, "{operation}");
            a.assert_within(Duration::from_millis(500), operation);
            faults.clear();
        }
    }

    #[tokio::test]
    async fn when_a_confirmation_took_effect_but_its_answer_was_lost_should_confirm_once() {
        let (h, faults) = setup(&[]).await;
        let address = unique_address();
        assert_eq!(send(&h, &address).await.status, 200);
        let code = testkit::digits(&emails_to(&address).await[0], 6).unwrap();
        faults.inject(UPDATE, Fault::Throttle); // not on this path: confirming is one transaction
        faults.inject_times(TRANSACT, Fault::DropAfterEffect, 1);
        let c = confirm(&h, &address, &code).await;
        assert_eq!(c.status, 200, "{}", c.body);
        assert_eq!(c.body["Data"]["Status"], "CONFIRMED");
        assert_eq!(faults.injected(UPDATE), 0);
        let again = confirm(&h, &address, &code).await;
        assert_eq!(again.body["OpCode"], 1007, "confirmed once: {}", again.body);
    }
}

// ---------------------------------------------------------------------------------------
// Family C's asynchronous path: the stream-fed sender

mod family_c_async {
    use aws_lambda_events::event::dynamodb::{Event, EventRecord};
    use shared::twofactor::sender;
    use std::sync::Arc;
    use uuid::Uuid;

    use super::*;
    use helpers::{Harness, create_body, harness_on, post};

    async fn setup(overrides: &[(&str, &str)]) -> (Harness, Faults) {
        let (sdk, faults) = faulty_sdk_config().await;
        (harness_on(&sdk, overrides, None), faults)
    }

    /// Creates an `IsSync: false` OTP and returns its id and the stream's INSERT of it.
    async fn pending(h: &Harness, phone: &str) -> (Uuid, Event) {
        let response = shared::twofactor::handler::create(&h.app, post(&create_body(phone, json!({"IsSync": false}))));
        let (status, body) = helpers::read(response.await).await;
        assert_eq!(status, 200, "{body}");
        let id = Uuid::parse_str(body["OtpIdReference"].as_str().unwrap()).unwrap();
        let item = raw(h, &format!("OTP#{id}"), "OTP").await.expect("the OTP");
        let mut record = EventRecord::default();
        record.event_name = "INSERT".into();
        record.event_id = id.to_string();
        record.change.sequence_number = Some("1".into());
        // As DynamoDB writes a stream record: the item's key, and its new image.
        let key: shared::store::dynamo::Item =
            item.iter().filter(|(k, _)| *k == "pk" || *k == "sk").map(|(k, v)| (k.clone(), v.clone())).collect();
        record.change.keys = key.into();
        record.change.new_image = item.into();
        let mut event = Event::default();
        event.records = vec![record];
        (id, event)
    }

    async fn raw(h: &Harness, pk: &str, sk: &str) -> Option<shared::store::dynamo::Item> {
        let out = h.app.store.client().get_item().table_name(testkit::TABLE);
        let out = out.set_key(Some(shared::store::dynamo::key(pk, sk))).consistent_read(true).send().await.unwrap();
        out.item().cloned()
    }

    async fn stored(h: &Harness, id: &Uuid) -> shared::twofactor::store::StoredOtp {
        h.app.store.get(id).await.unwrap().unwrap()
    }

    #[tokio::test]
    async fn when_sns_refuses_every_retry_should_give_up_on_the_item_itself_and_erase_the_code() {
        let (h, faults) = setup(&[]).await;
        let phone = testkit::unique_phone();
        let (id, insert) = pending(&h, &phone).await;
        faults.inject(PUBLISH, Fault::Refuse);
        // The mapping's first try and its 3 retries (MaximumRetryAttempts in template.yaml).
        for attempt in 1..=3 {
            let response = sender::handle(&h.app, insert.clone()).await;
            assert_eq!(response.batch_item_failures.len(), 1, "attempt {attempt}: retried");
            let otp = stored(&h, &id).await;
            assert_eq!((otp.delivery.as_str(), otp.failed_sends), ("pending", attempt));
            assert!(otp.sealed_code.is_some(), "kept for the retry");
        }
        let response = sender::handle(&h.app, insert.clone()).await;
        assert!(response.batch_item_failures.is_empty(), "given up: nothing for the on-failure queue");
        let otp = stored(&h, &id).await;
        assert_eq!((otp.delivery.as_str(), otp.failed_sends), ("failed", 4));
        assert_eq!(otp.failure.as_deref(), Some("SMS refused on every attempt"));
        assert_eq!(otp.sealed_code, None, "sealed code erased");
        assert_eq!(faults.injected(PUBLISH), 4);
        // A repeat of the record changes nothing, and the OTP cannot be used.
        faults.clear();
        assert!(sender::handle(&h.app, insert).await.batch_item_failures.is_empty());
        assert!(testkit::sms_to(&phone).await.is_empty());
        assert_eq!(stored(&h, &id).await.failed_sends, 4);
    }

    #[tokio::test]
    async fn when_sns_refuses_an_otp_another_attempt_has_finished_should_skip_it_not_retry() {
        use shared::twofactor::store::{DeliveryEnd, Finishing};
        // GIVEN a pending OTP and SNS refusing it
        let (h, faults) = setup(&[]).await;
        let (id, insert) = pending(&h, &testkit::unique_phone()).await;
        faults.inject(PUBLISH, Fault::Refuse);
        // WHEN another attempt of its record (a repeat on another batch) finishes it while this
        // one waits for SNS, before this one counts the refusal
        faults.before("dynamodb:UpdateItem", 0, move || async move {
            let other = helpers::harness(&[]).await;
            let finished = other.app.store.finish_delivery(&id, DeliveryEnd::Sent, Finishing::IfPending);
            assert!(finished.await.unwrap(), "the other attempt finishes it");
        });
        let response = sender::handle(&h.app, insert).await;
        // THEN this attempt finds it no longer pending: nothing counted, nothing to retry
        assert!(response.batch_item_failures.is_empty(), "not handed back for a retry");
        let otp = stored(&h, &id).await;
        assert_eq!((otp.delivery.as_str(), otp.failed_sends), ("sent", 0));
        assert_eq!(faults.injected(PUBLISH), 1);
    }

    /// Sends nothing; holds each SMS until 4 are in flight (or 2 s have passed) and keeps how
    /// many were in flight at once, in all and to one number.
    #[derive(Default)]
    struct Overlap {
        now: std::sync::Mutex<(usize, std::collections::BTreeMap<String, usize>)>,
        most: std::sync::Mutex<(usize, usize)>,
        sent: std::sync::Mutex<Vec<String>>,
    }

    impl shared::aws::sns::SmsSender for Overlap {
        fn send<'a>(&'a self, to: &'a str, _: &'a str, _: &'a str) -> shared::aws::sns::SendFuture<'a> {
            Box::pin(async move {
                {
                    let mut now = self.now.lock().unwrap();
                    now.0 += 1;
                    let to_one = {
                        let count = now.1.entry(to.to_string()).or_default();
                        *count += 1;
                        *count
                    };
                    let mut most = self.most.lock().unwrap();
                    *most = (most.0.max(now.0), most.1.max(to_one));
                }
                let waited = Instant::now();
                while self.now.lock().unwrap().0 < 4 && waited.elapsed() < Duration::from_secs(2) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let mut now = self.now.lock().unwrap();
                now.0 -= 1;
                *now.1.get_mut(to).unwrap() -= 1;
                self.sent.lock().unwrap().push(to.to_string());
                Ok(())
            })
        }
    }

    #[tokio::test]
    async fn when_a_batch_holds_several_otps_should_send_them_at_once_and_one_otps_records_in_order() {
        // GIVEN 4 pending OTPs, and a batch with each one's INSERT and the first's again
        let (sdk, _) = faulty_sdk_config().await;
        let overlap = Arc::new(Overlap::default());
        let h = harness_on(&sdk, &[], Some(overlap.clone()));
        let mut batch = Event::default();
        let mut phones = vec![];
        for n in 0..4 {
            let phone = testkit::unique_phone();
            let (_, event) = pending(&h, &phone).await;
            let mut record = event.records[0].clone();
            record.change.sequence_number = Some(format!("{}", 10 + n));
            batch.records.push(record);
            phones.push(phone);
        }
        let mut again = batch.records[0].clone();
        again.change.sequence_number = Some("20".into());
        batch.records.push(again);

        // WHEN the sender handles the batch
        let response = sender::handle(&h.app, batch).await;

        // THEN the 4 SMS were in flight together, never two for one OTP, each sent once
        assert!(response.batch_item_failures.is_empty());
        let (in_all, to_one) = *overlap.most.lock().unwrap();
        assert_eq!((in_all, to_one), (4, 1), "4 OTPs at once; one OTP's records one after another");
        let mut sent = overlap.sent.lock().unwrap().clone();
        sent.sort();
        phones.sort();
        assert_eq!(sent, phones, "the repeated record found its OTP sent and sent nothing");
    }

    #[tokio::test]
    async fn when_sns_throttles_the_sender_should_wait_and_hand_the_record_back_without_counting_a_refusal() {
        let (h, faults) = setup(&[]).await;
        let phone = testkit::unique_phone();
        let (id, insert) = pending(&h, &phone).await;
        // Throttled a few times: the sender waits them out in the same invocation.
        faults.inject_times(PUBLISH, Fault::Throttle, 4);
        assert!(sender::handle(&h.app, insert.clone()).await.batch_item_failures.is_empty());
        assert_eq!(testkit::sms_to(&phone).await.len(), 1);
        assert_eq!((stored(&h, &id).await.delivery.as_str(), stored(&h, &id).await.failed_sends), ("sent", 0));

        // Throttled past its patience, every time: back to Lambda, never counted towards
        // giving the OTP up (a refusal is; SNS's rate is not).
        let phone = testkit::unique_phone();
        let (id, insert) = pending(&h, &phone).await;
        faults.reset_counts();
        faults.inject(PUBLISH, Fault::Throttle);
        for attempt in 1..=5 {
            let response = sender::handle(&h.app, insert.clone()).await;
            assert_eq!(response.batch_item_failures.len(), 1, "attempt {attempt}: retried");
            let otp = stored(&h, &id).await;
            assert_eq!((otp.delivery.as_str(), otp.failed_sends), ("pending", 0), "attempt {attempt}");
        }
        assert_eq!(faults.injected(PUBLISH), 5 * shared::aws::sns::STREAM_ATTEMPTS);
        faults.clear();
        assert!(sender::handle(&h.app, insert).await.batch_item_failures.is_empty());
        assert_eq!(testkit::sms_to(&phone).await.len(), 1, "sent once the rate allows");
    }

    #[tokio::test]
    async fn when_an_ambiguous_failure_is_retried_should_send_at_least_once_as_documented() {
        let (h, faults) = setup(&[]).await;
        for (operation, fault) in [(PUBLISH, Fault::FailAfterEffect), (UPDATE, Fault::Throttle)] {
            let phone = testkit::unique_phone();
            let (id, insert) = pending(&h, &phone).await;
            faults.inject_times(operation, fault, if operation == UPDATE { 3 } else { 1 });
            let response = sender::handle(&h.app, insert.clone()).await;
            assert_eq!(response.batch_item_failures.len(), 1, "{operation}: retried");
            assert_eq!(testkit::sms_to(&phone).await.len(), 1, "{operation}: the SMS went out");
            faults.clear();
            assert!(sender::handle(&h.app, insert.clone()).await.batch_item_failures.is_empty());
            let sms = testkit::sms_to(&phone).await;
            assert_eq!(sms.len(), 2, "{operation}: sent again (docs/operations.md: at-least-once)");
            assert_eq!(sms[0], sms[1], "the same code both times");
            assert_eq!(stored(&h, &id).await.delivery.as_str(), "sent");
            // Further repeats send nothing more.
            sender::handle(&h.app, insert).await;
            assert_eq!(testkit::sms_to(&phone).await.len(), 2);
            let code = testkit::digits(&sms[0], 6).unwrap();
            let body = json!({"UserId": helpers::USER, "OtpIdReference": id.to_string(), "OtpCode": code});
            let verified = shared::twofactor::handler::verify(&h.app, post(&body.to_string())).await;
            assert_eq!(verified.status(), 200);
        }
    }

    fn ttl_removal(id: &Uuid) -> Event {
        let path = testkit::workspace_root().join("events/two-factor-sms-sender-ttl-remove.json");
        let mut event: Event = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let pk = serde_dynamo::AttributeValue::S(format!("OTPW#{id}"));
        event.records[0].change.keys.insert("pk".into(), pk);
        event
    }

    #[tokio::test]
    async fn when_ttl_removes_the_watch_of_a_pending_otp_should_sweep_it_and_leave_a_sent_one() {
        let (h, _faults) = setup(&[]).await;
        // Never delivered to the sender (past the record age limit, say).
        let (stuck, _) = pending(&h, &testkit::unique_phone()).await;
        let watch = raw(&h, &format!("OTPW#{stuck}"), "WATCH").await.expect("a watch item");
        let expires_ms: u64 =
            shared::store::dynamo::get_n(&raw(&h, &format!("OTP#{stuck}"), "OTP").await.unwrap(), "exp").unwrap();
        assert_eq!(
            shared::store::dynamo::get_n::<u64>(&watch, "ttl"),
            Some(expires_ms.div_ceil(1000)),
            "TTL at expiry"
        );

        let response = sender::handle(&h.app, ttl_removal(&stuck)).await;
        assert!(response.batch_item_failures.is_empty());
        let otp = stored(&h, &stuck).await;
        assert_eq!(otp.delivery.as_str(), "failed");
        assert_eq!(otp.failure.as_deref(), Some("expired undelivered (swept)"));
        assert_eq!(otp.sealed_code, None);

        // One that was sent stays sent.
        let (sent, insert) = pending(&h, &testkit::unique_phone()).await;
        assert!(sender::handle(&h.app, insert).await.batch_item_failures.is_empty());
        sender::handle(&h.app, ttl_removal(&sent)).await;
        assert_eq!(stored(&h, &sent).await.delivery.as_str(), "sent");
        // A synchronous OTP has no watch.
        let (status, body) = helpers::read(
            shared::twofactor::handler::create(&h.app, post(&create_body(&testkit::unique_phone(), json!({})))).await,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let id = body["OtpIdReference"].as_str().unwrap();
        assert!(raw(&h, &format!("OTPW#{id}"), "WATCH").await.is_none());
    }

    #[tokio::test]
    async fn when_sns_stalls_should_report_the_record_after_the_sns_timeout_and_send_it_on_retry() {
        let (h, faults) = setup(&[]).await;
        let phone = testkit::unique_phone();
        let (id, insert) = pending(&h, &phone).await;
        faults.inject_times(PUBLISH, Fault::Stall, 1);
        let started = Instant::now();
        let response = sender::handle(&h.app, insert.clone()).await;
        assert!(started.elapsed() < shared::aws::SNS.operation + Duration::from_secs(1), "{:?}", started.elapsed());
        assert_eq!(response.batch_item_failures.len(), 1);
        let otp = stored(&h, &id).await;
        assert_eq!((otp.delivery.as_str(), otp.failed_sends), ("pending", 1), "kept for the retry");
        assert!(sender::handle(&h.app, insert).await.batch_item_failures.is_empty());
        assert_eq!(testkit::sms_to(&phone).await.len(), 1);
    }
}
