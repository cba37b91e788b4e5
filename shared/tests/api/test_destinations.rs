//! Test destinations (issue 25, item 2): a configured number or address gets the fixed code
//! in one DynamoDB call, nothing is sent, no guard counts it, its verification credits no
//! conversion, the code's attempt limits still hold, and each use is counted for the alarm.

use crate::helpers;
use crate::helpers::test_destinations::{CODE, list, profiles, unique_number};

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use shared::aws::sns::{SendFuture, SmsSender};
use shared::domain::clock::Clock;
use shared::ops::metrics::{Metrics, Outcome};

/// Remembers every SMS it is asked to send (and sends none).
#[derive(Default)]
struct Outbox(Mutex<Vec<String>>);

impl SmsSender for Outbox {
    fn send<'a>(&'a self, to: &'a str, _text: &'a str, _sender: &'a str) -> SendFuture<'a> {
        self.0.lock().unwrap().push(to.to_string());
        Box::pin(async { Ok(()) })
    }
}

use helpers::Kept;

fn env_for(list: Value) -> Vec<(&'static str, String)> {
    vec![("TWO_FACTOR_PROFILES", profiles(list)), ("TEST_DESTINATION_CODE", CODE.to_string())]
}

/// Family C with `numbers` as profile 1's test destinations, an outbox for SMS, kept metrics.
fn family_c(
    sdk: &aws_config::SdkConfig,
    numbers: &[&str],
    daily_uses: u32,
) -> (helpers::Harness, Arc<Outbox>, Arc<Kept>) {
    let env = env_for(list(numbers, daily_uses));
    let overrides: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let outbox = Arc::new(Outbox::default());
    let mut h = helpers::harness_on(sdk, &overrides, Some(outbox.clone()));
    let kept = Arc::new(Kept::default());
    Arc::get_mut(&mut h.app).unwrap().metrics = Metrics::new("VerificationCodes/test", kept.clone());
    (h, outbox, kept)
}

async fn item(pk: &str, sk: &str) -> Option<std::collections::HashMap<String, AttributeValue>> {
    let client = aws_sdk_dynamodb::Client::new(&testkit::sdk_config().await);
    let key = [("pk".to_string(), AttributeValue::S(pk.into())), ("sk".to_string(), AttributeValue::S(sk.into()))];
    let got = client.get_item().table_name(testkit::TABLE).set_key(Some(key.into())).consistent_read(true);
    got.send().await.unwrap().item
}

fn day_bucket(pk: &str, now_ms: u64) -> String {
    shared::store::schema::bucket_pk(pk, 86_400_000, now_ms, false)
}

#[tokio::test]
async fn when_family_c_creates_for_a_test_number_should_store_the_fixed_code_in_one_call_and_send_nothing() {
    // GIVEN a profile whose test destinations hold one fictional number
    let (sdk, calls) = testkit::aws_calls::counting_sdk_config().await;
    let number = unique_number();
    let (h, outbox, kept) = family_c(&sdk, &[&number], 50);

    // WHEN an OTP is created for it, synchronously and not, and each is verified
    calls.reset();
    let (status, sync) = h.create(&helpers::create_body(&number, json!({}))).await;
    assert_eq!(status, 200, "{sync}");
    assert_eq!(calls.take().values().sum::<usize>(), 1, "one DynamoDB call, no SNS");
    let (status, not_sync) = h.create(&helpers::create_body(&number, json!({"IsSync": false}))).await;
    assert_eq!(status, 200, "{not_sync}");
    assert_eq!(sync["GsmNumber"], number);

    // THEN nothing was sent, no SMS waits for the sender, and the fixed code verifies each
    assert!(outbox.0.lock().unwrap().is_empty(), "no SMS handed to SNS");
    let pending = not_sync["OtpIdReference"].as_str().unwrap();
    let stored = item(&format!("OTP#{pending}"), "OTP").await.unwrap();
    assert_eq!(stored["dlv"], AttributeValue::S("sync".into()), "never pending for the stream sender");
    assert!(!stored.contains_key("sct"), "no sealed code");
    assert!(item(&format!("OTPW#{pending}"), "WATCH").await.is_none(), "no watch");
    calls.reset();
    assert_eq!(h.verify(sync["OtpIdReference"].as_str().unwrap(), CODE).await.0, 200);
    assert_eq!(calls.take().values().sum::<usize>(), 1, "verified in one call");
    assert_eq!(h.verify(pending, CODE).await.0, 200);

    // AND the uses are counted as tests: never a code sent or a verification
    let records = std::mem::take(&mut *kept.0.lock().unwrap());
    assert_eq!(records.len(), 4);
    assert!(records.iter().all(|r| r.outcome == Outcome::Test && !r.test_over_limit), "{records:?}");
    assert!(records.iter().all(|r| r.sms_delivered == 0));
}

#[tokio::test]
async fn when_a_test_number_is_used_should_count_in_no_window_ceiling_or_breaker_and_credit_no_block() {
    // GIVEN a profile with a test number, the day's SMS ceiling at 1 and each number's at 1
    let number = unique_number();
    let sdk = testkit::sdk_config().await;
    let (h, outbox, _) = family_c(&sdk, &[&number], 50);
    let config = &h.app.config.common.guards;
    assert!(config.sms_daily_limit > 2);

    // WHEN it is sent three codes with MaxSMSCount 1, and one is verified
    let mut last = Value::Null;
    for _ in 0..3 {
        let (status, body) = h.create(&helpers::create_body(&number, json!({"MaxSMSCount": 1}))).await;
        assert_eq!(status, 200, "the number's send window does not count a test: {body}");
        last = body;
    }
    assert_eq!(h.verify(last["OtpIdReference"].as_str().unwrap(), CODE).await.0, 200);

    // THEN none of the items a send counts in holds it (a real number's send, the control,
    // writes each of them), and nothing was sent
    let real = testkit::unique_phone();
    let (status, body) = h.create(&helpers::create_body(&real, json!({"MaxSMSCount": 1}))).await;
    assert_eq!(status, 200, "{body}");
    let now = h.clock.now_ms();
    let counted = |phone: &str| {
        let block = format!("2FA#BLOCK#{}", shared::store::guards::block_of(phone));
        [
            shared::store::schema::bucket_pk(&block, config.block_window_seconds * 1000, now, false),
            shared::store::schema::bucket_pk(&format!("2FA#DAY#{phone}"), 86_400_000, now, true),
            // A window of one SMS: one item that opens with it.
            format!("2FA#RATE#{phone}"),
        ]
    };
    for (test_pk, real_pk) in counted(&number).into_iter().zip(counted(&real)) {
        assert!(item(&real_pk, "WINDOW").await.is_some(), "control: a real send writes {real_pk}");
        assert!(item(&test_pk, "WINDOW").await.is_none(), "{test_pk}: a test number is counted nowhere");
    }
    assert_eq!(*outbox.0.lock().unwrap(), std::slice::from_ref(&real), "only the control's SMS");
    // AND its uses today are counted where the alarm's count lives
    let uses = item(&day_bucket(&format!("2FA#TEST#{number}"), now), "WINDOW").await.expect("the day's uses");
    assert_eq!(uses["cnt"], AttributeValue::N("3".into()));
}

#[tokio::test]
async fn when_a_test_number_passes_its_daily_uses_should_still_answer_and_raise_the_alarm_count() {
    // GIVEN a test number allowed 2 uses a day
    let number = unique_number();
    let (h, _, kept) = family_c(&testkit::sdk_config().await, &[&number], 2);

    // WHEN it is used three times
    for _ in 0..3 {
        assert_eq!(h.create(&helpers::create_body(&number, json!({}))).await.0, 200);
    }

    // THEN the third is past the limit: answered, and counted for the alarm
    let over: Vec<bool> = kept.0.lock().unwrap().iter().map(|r| r.test_over_limit).collect();
    assert_eq!(over, [false, false, true]);
}

#[tokio::test]
async fn when_a_test_code_is_guessed_should_hold_the_attempt_limits_and_the_number_lock() {
    // GIVEN a test number's OTP (5 attempts)
    let number = unique_number();
    let (h, _, _) = family_c(&testkit::sdk_config().await, &[&number], 50);
    let (_, created) = h.create(&helpers::create_body(&number, json!({}))).await;
    let otp = created["OtpIdReference"].as_str().unwrap();

    // WHEN it is tried wrong until its attempts are spent
    let mut statuses = vec![];
    for _ in 0..5 {
        statuses.push(h.verify(otp, "000000").await.0.as_u16());
    }

    // THEN the fixed code no longer opens it
    assert_eq!(statuses, [400, 400, 400, 400, 400]);
    assert_eq!(h.verify(otp, CODE).await.0, 429, "attempts spent: the right code is refused too");
}

#[tokio::test]
async fn when_a_test_list_is_past_its_day_should_treat_the_number_as_any_other() {
    // GIVEN a running function whose list expires at the end of tomorrow (UTC)
    let number = unique_number();
    let (h, outbox, kept) = family_c(&testkit::sdk_config().await, &[&number], 50);

    // WHEN the clock passes that day
    h.clock.advance_ms(2 * 86_400_000);
    let (status, body) = h.create(&helpers::create_body(&number, json!({}))).await;

    // THEN the number gets a real SMS with a random code, counted as a send
    assert_eq!(status, 200, "{body}");
    assert_eq!(*outbox.0.lock().unwrap(), std::slice::from_ref(&number));
    assert_eq!(kept.0.lock().unwrap()[0].outcome, Outcome::Sent);
}

#[tokio::test]
async fn when_a_test_list_is_misconfigured_should_refuse_to_start_naming_the_setting() {
    let number = unique_number();
    for (list, code) in [
        (json!({"expires": "2020-01-01", "numbers": [number]}), Some(CODE)),
        (list(&[&number], 50), None),
        (list(&[&number], 50), Some("1234")),
        (list(&["+905321234567"], 50), Some(CODE)),
    ] {
        let mut env = vec![("TWO_FACTOR_PROFILES".to_string(), profiles(list))];
        env.extend(code.map(|c| ("TEST_DESTINATION_CODE".to_string(), c.to_string())));
        let overrides: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let error = shared::twofactor::TwoFactorConfig::from_lookup(&testkit::env(&overrides)).unwrap_err();
        assert!(
            error.to_string().contains("TWO_FACTOR_PROFILES") && error.to_string().contains("profile 1"),
            "{error}"
        );
        assert!(!error.to_string().contains(CODE));
    }
}

#[tokio::test]
async fn when_a_test_number_is_one_libphonenumber_refuses_in_a_country_sms_never_go_to_should_still_work() {
    // GIVEN the UK's drama mobile range (invalid to libphonenumber; GB not on the allowlist)
    let number = "+447700900417";
    let (h, outbox, _) = family_c(&testkit::sdk_config().await, &[number], 50);
    assert!(!h.app.config.sms_allowed_countries.contains("GB"));

    // WHEN a create names it as a user would type it
    let (status, body) = h.create(&helpers::create_body("+44 (0)7700 900417", json!({}))).await;

    // THEN it is the test number, and the fixed code verifies
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["GsmNumber"], number);
    assert_eq!(h.verify(body["OtpIdReference"].as_str().unwrap(), CODE).await.0, 200);
    assert!(outbox.0.lock().unwrap().is_empty());
    // AND the same number is refused where it is not a test destination
    let plain = helpers::harness(&[]).await;
    assert_eq!(plain.create(&helpers::create_body(number, json!({}))).await.0, 400);
}

/// A family B request from `ip` (per-caller guards count it).
fn from_caller(body: &Value, ip: &str) -> lambda_http::Request {
    use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
    use lambda_http::request::RequestContext;
    let mut request = helpers::post(&body.to_string());
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http.source_ip = Some(ip.to_string());
    request.extensions_mut().insert(RequestContext::ApiGatewayV2(context));
    request
}

#[tokio::test]
async fn when_family_b_generates_for_a_test_number_should_send_nothing_count_no_caller_and_credit_nothing() {
    // GIVEN application "demo" with a UK drama number as its test destination (GB is not on
    // the allowlist), a caller, an outbox and kept metrics
    let (sdk, calls) = testkit::aws_calls::counting_sdk_config().await;
    let number = "+447700900733";
    let lists = json!({"demo": list(&[number], 50)}).to_string();
    let env =
        [("CNF_TEST_DESTINATIONS", lists.as_str()), ("TEST_DESTINATION_CODE", CODE), ("CNF_RESEND_GAP_SECONDS", "0")];
    let outbox = Arc::new(Outbox::default());
    let mut h = helpers::preregistration::harness_on(&sdk, &env, Some(outbox.clone()));
    let kept = Arc::new(Kept::default());
    Arc::get_mut(&mut h.app).unwrap().metrics = Metrics::new("VerificationCodes/test", kept.clone());
    let ip = "198.51.100.177";
    let generate = json!({"applicationId": "demo", "internationalPrefix": "44", "mobileNumber": "7700900733"});

    // WHEN the caller generates a code for it and validates the fixed code
    calls.reset();
    let response = shared::preregistration::handler::generate(&h.app, from_caller(&generate, ip)).await;
    let (status, body) = helpers::read(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(calls.take().values().sum::<usize>(), 1, "one DynamoDB call, no SNS");
    let id = body["response"]["confirmationId"].as_str().unwrap().to_string();
    let validate = json!({"applicationId": "demo", "confirmationId": id, "confirmationCode": CODE});
    calls.reset();
    let response = shared::preregistration::handler::validate(&h.app, from_caller(&validate, ip)).await;
    let (status, body) = helpers::read(response).await;
    assert_eq!((status.as_u16(), &body["response"]["valid"]), (200, &json!(true)), "{body}");
    assert_eq!(calls.take().values().sum::<usize>(), 1, "validated in one call");

    // THEN nothing was sent; neither the caller's sends nor the number's block hold a count
    // or a credit; both requests are counted as tests
    assert!(outbox.0.lock().unwrap().is_empty());
    let now = h.clock.now_ms();
    let guards = &h.app.config.common.guards;
    let caller =
        shared::store::schema::bucket_pk(&format!("CALLER#SEND#{ip}"), guards.caller_window_seconds * 1000, now, false);
    assert!(item(&caller, "WINDOW").await.is_none(), "{caller}");
    let block = shared::store::guards::block_of(number);
    let block =
        shared::store::schema::bucket_pk(&format!("CNF#BLOCK#{block}"), guards.block_window_seconds * 1000, now, false);
    assert!(item(&block, "WINDOW").await.is_none(), "{block}");
    let outcomes: Vec<Outcome> = kept.0.lock().unwrap().iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [Outcome::Test, Outcome::Test]);
    // (The control: a real code from another caller is counted under the same key shape.)
    let other = "198.51.100.179";
    let real = json!({"applicationId": "demo", "emailAddress": helpers::signup::unique_address()});
    let (status, _) =
        helpers::read(shared::preregistration::handler::generate(&h.app, from_caller(&real, other)).await).await;
    assert_eq!(status, 200);
    let counted = caller.replace(ip, other);
    assert!(item(&counted, "WINDOW").await.is_some(), "control: {counted}");
    let uses = item(&day_bucket(&format!("CNF#TEST#{number}"), now), "WINDOW").await.expect("the day's uses");
    assert_eq!(uses["cnt"], AttributeValue::N("1".into()));

    // AND a test number with an e-mail address in one request is refused, in B's shape
    let mixed = json!({"applicationId": "demo", "internationalPrefix": "44", "mobileNumber": "7700900733",
        "emailAddress": "someone@example.com"});
    let (status, body) = h.generate(&mixed).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("test number"), "{body}");
    // AND another application's request to the same number is an ordinary (refused) one
    let other = json!({"applicationId": "other", "internationalPrefix": "44", "mobileNumber": "7700900733"});
    assert_eq!(h.generate(&other).await.0, 400);
}

#[tokio::test]
async fn when_family_b_test_destinations_are_misconfigured_should_refuse_to_start_naming_the_setting() {
    let number = unique_number();
    for (lists, code) in [
        (json!({"nope": list(&[&number], 50)}), Some(CODE)),
        (json!({"demo": list(&[&number], 50)}), None),
        (json!({"demo": {"expires": "2020-01-01", "numbers": [number]}}), Some(CODE)),
        (
            json!({"demo": {"expires": helpers::test_destinations::tomorrow(), "emailDomain": "example.com"}}),
            Some(CODE),
        ),
    ] {
        let lists = lists.to_string();
        let mut env = vec![("CNF_APPLICATIONS", "demo,other"), ("CNF_TEST_DESTINATIONS", lists.as_str())];
        env.extend(code.map(|c| ("TEST_DESTINATION_CODE", c)));
        let error = shared::preregistration::PreregistrationConfig::from_lookup(&testkit::env(&env)).unwrap_err();
        assert!(error.to_string().contains("CNF_TEST_DESTINATIONS"), "{error}");
    }
}

/// Remembers every e-mail it is asked to send (and sends none).
#[derive(Default)]
struct Mailbox(Mutex<Vec<String>>);

impl shared::aws::ses::EmailSender for Mailbox {
    fn send<'a>(&'a self, email: &'a shared::aws::ses::Email) -> shared::aws::ses::SendFuture<'a> {
        self.0.lock().unwrap().push(email.to.clone());
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test]
async fn when_family_a_sends_to_a_test_domain_should_send_nothing_count_no_caller_and_credit_nothing() {
    // GIVEN family A whose test addresses are every address on review.example.test
    let (sdk, calls) = testkit::aws_calls::counting_sdk_config().await;
    let list =
        json!({"expires": helpers::test_destinations::tomorrow(), "emailDomain": "Review.Example.test"}).to_string();
    let env = [
        ("SIGNUP_TEST_DESTINATIONS", list.as_str()),
        ("TEST_DESTINATION_CODE", CODE),
        ("SIGNUP_RESEND_GAP_SECONDS", "0"),
    ];
    let mailbox = Arc::new(Mailbox::default());
    let mut h = helpers::signup::harness_on(&sdk, &env, Some(mailbox.clone()));
    let kept = Arc::new(Kept::default());
    Arc::get_mut(&mut h.app).unwrap().metrics = Metrics::new("VerificationCodes/test", kept.clone());
    let (ip, address) = ("198.51.100.178", format!("probe-{}@review.example.test", std::process::id()));
    let call = |body: Value| {
        let app = h.app.clone();
        async move { helpers::read(shared::signup::handler::handle(&app, from_caller(&body, ip)).await).await }
    };

    // WHEN a caller signs it up twice (MaxSends would not matter) and confirms the fixed code
    calls.reset();
    let (status, body) = call(json!({"EmailAddress": address})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(calls.take().values().sum::<usize>(), 1, "one DynamoDB call, no SES");
    assert_eq!(call(json!({"EmailAddress": address})).await.0, 200);
    calls.reset();
    let (status, body) = call(json!({"EmailAddress": address, "ConfirmationCode": CODE})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(calls.take().values().sum::<usize>(), 1, "confirmed in one call");

    // THEN nothing was sent; the caller's sends hold neither a count nor a credit
    assert!(mailbox.0.lock().unwrap().is_empty());
    let now = h.clock.now_ms();
    let window = h.app.config.common.guards.caller_window_seconds * 1000;
    let caller = shared::store::schema::bucket_pk(&format!("CALLER#SEND#{ip}"), window, now, false);
    assert!(item(&caller, "WINDOW").await.is_none(), "{caller}");
    let outcomes: Vec<Outcome> = kept.0.lock().unwrap().iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [Outcome::Test, Outcome::Test, Outcome::Test]);
    // One count of uses for the whole domain (the alarm's), whatever the address.
    let uses = item(&day_bucket("SIGNUP#TEST#review.example.test", now), "WINDOW").await.expect("the day's uses");
    assert!(uses["cnt"].as_n().unwrap().parse::<u32>().unwrap() >= 2);
    // (The control: a real send from another caller is counted under the same key shape.)
    let other = "198.51.100.180";
    let real = json!({"EmailAddress": helpers::signup::unique_address()});
    let (status, _) = helpers::read(shared::signup::handler::handle(&h.app, from_caller(&real, other)).await).await;
    assert_eq!(status, 200);
    let counted = caller.replace(ip, other);
    assert!(item(&counted, "WINDOW").await.is_some(), "control: {counted}");

    // AND an address on another domain is sent its e-mail as ever
    assert_eq!(h.send(&helpers::signup::unique_address()).await.0, 200);
    assert_eq!(mailbox.0.lock().unwrap().len(), 2, "the control's and this one");
}

#[tokio::test]
async fn when_wrong_codes_are_spread_over_test_addresses_should_lock_the_whole_test_domain() {
    // GIVEN family A's test domain (a domain no other test uses) and 3 failures per lock
    let domain = format!("lock{}.example.test", std::process::id());
    let list = json!({"expires": helpers::test_destinations::tomorrow(), "emailDomain": domain}).to_string();
    let env = [
        ("SIGNUP_TEST_DESTINATIONS", list.as_str()),
        ("TEST_DESTINATION_CODE", CODE),
        ("SIGNUP_RESEND_GAP_SECONDS", "0"),
        ("DESTINATION_FAILURE_LIMIT", "3"),
    ];
    let h = helpers::signup::harness(&env, Some(Arc::new(Mailbox::default()))).await;

    // WHEN a guesser spreads 3 wrong codes over 3 test addresses (each its own attempts)
    let mut statuses = vec![];
    for n in 0..3 {
        let address = format!("guess{n}@{domain}");
        assert_eq!(h.send(&address).await.0, 200);
        statuses.push(h.confirm(&address, "000000").await.0.as_u16());
    }
    // (The third wrong code fills the lock: it answers as the lock does.)
    assert_eq!(statuses, [400, 400, 429], "one lock for the domain, counted across addresses");

    // THEN every test address is locked, even with the right code: the shared fixed code's
    // guesses add up in the domain's one lock, not in one lock per address
    let fresh = format!("fresh@{domain}");
    let (status, body) = h.send(&fresh).await;
    assert_eq!(status, 429, "a send to the locked domain: {body}");
    assert_eq!(h.confirm(&format!("guess0@{domain}"), CODE).await.0, 429);
}

#[tokio::test]
async fn when_family_a_test_destinations_are_misconfigured_should_refuse_to_start_naming_the_setting() {
    let tomorrow = helpers::test_destinations::tomorrow();
    for (list, code) in [
        (json!({"expires": tomorrow, "numbers": [unique_number()]}), Some(CODE)),
        (json!({"expires": tomorrow, "emailDomain": "review.example.test"}), None),
        (json!({"expires": "2020-01-01", "emailDomain": "review.example.test"}), Some(CODE)),
    ] {
        let list = list.to_string();
        let mut env = vec![("SIGNUP_TEST_DESTINATIONS", list.as_str())];
        env.extend(code.map(|c| ("TEST_DESTINATION_CODE", c)));
        let error = shared::signup::SignupConfig::from_lookup(&testkit::env(&env)).unwrap_err();
        assert!(error.to_string().contains("SIGNUP_TEST_DESTINATIONS"), "{error}");
    }
}
