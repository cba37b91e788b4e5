//! The guards against SMS pumping and probing (`shared::store::guards`), through the handlers against
//! moto, with real concurrent requests: per-caller limits, SMS ceilings, the number-block
//! breaker, SNS's maximum price, and family A's answer for unknown addresses.
//!
//! The ceilings are shared by every test in a binary (one day's shards per family), so the tests of
//! this file run one at a time, and those that need a fresh ceiling move their clock days
//! ahead, where the windows of the others have closed.

use crate::helpers;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use uuid::Uuid;

/// Async-aware: each test has its own runtime, and a failed test must not poison the rest.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const DAY_MS: u64 = 86_400_000;

/// A request as API Gateway delivers it from `ip`.
fn post_from(ip: &str, body: &str) -> Request {
    let mut request = helpers::post(body);
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http.source_ip = Some(ip.to_string());
    request.extensions_mut().insert(RequestContext::ApiGatewayV2(context));
    request
}

/// Status, `Retry-After` and the JSON body.
fn read(response: Response<Body>) -> (u16, Option<u64>, Value) {
    let retry = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    (response.status().as_u16(), retry, serde_json::from_slice(response.body().as_ref()).unwrap())
}

fn count(answers: &[(u16, Option<u64>, Value)], status: u16) -> usize {
    answers.iter().filter(|a| a.0 == status).count()
}

/// The numbers of a block of 1,000 that no other test uses: `+90533 SSS K` + 3 digits.
fn fresh_block() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("+90533{:03}{}", std::process::id() % 1000, NEXT.fetch_add(1, Ordering::SeqCst))
}

fn unique_spanish_mobile() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("+346{:02}{:06}", std::process::id() % 100, NEXT.fetch_add(1, Ordering::SeqCst))
}

/// Runs every request at once and returns the answers in order.
async fn at_once<F, Fut>(n: usize, request: F) -> Vec<(u16, Option<u64>, Value)>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Response<Body>> + Send + 'static,
{
    let tasks: Vec<_> = (0..n).map(|i| tokio::spawn(request(i))).collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(read(task.await.unwrap()));
    }
    answers
}

async fn b_generate(app: &Arc<shared::preregistration::Preregistration>, ip: &str, body: Value) -> Response<Body> {
    shared::preregistration::handler::generate(app, post_from(ip, &body.to_string())).await
}

async fn c_create(app: &Arc<shared::twofactor::TwoFactor>, phone: &str) -> Response<Body> {
    shared::twofactor::handler::create(app, helpers::post(&helpers::create_body(phone, json!({})))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_40_sends_race_from_one_caller_should_send_exactly_30_and_refuse_the_rest_with_retry_after() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let h = helpers::preregistration::harness(&[], None).await;
    let addresses: Vec<String> = (0..40).map(|_| helpers::signup::unique_address()).collect();
    let app = h.app.clone();
    let answers = at_once(40, |i| {
        let (app, address) = (app.clone(), addresses[i].clone());
        async move {
            b_generate(
                &app,
                "198.51.100.10",
                json!({"applicationId": "demo", "emailAddress": address, "language": "en"}),
            )
            .await
        }
    })
    .await;
    assert_eq!(count(&answers, 200), 30, "{answers:?}");
    assert_eq!(count(&answers, 429), 10, "{answers:?}");
    let mut delivered = 0;
    for address in &addresses {
        delivered += helpers::signup::emails_to(address).await.len();
    }
    assert_eq!(delivered, 30, "exactly one e-mail per accepted send");
    let refused = answers.iter().find(|a| a.0 == 429).unwrap();
    let retry = refused.1.expect("Retry-After");
    assert!((1..=3600).contains(&retry), "until the end of the hour's bucket: {retry}");
    let message = refused.2["Message"].as_str().unwrap();
    assert!(message.contains("(too many codes requested from your network; try again in"), "{message}");
    let reason = message.split("; try again in").next().unwrap();
    assert!(!reason.contains(char::is_numeric), "no figures in a public answer: {message}");

    // Another caller is not affected; family A shares the same budget per caller.
    let other = b_generate(
        &h.app,
        "198.51.100.11",
        json!({"applicationId": "demo", "emailAddress": helpers::signup::unique_address()}),
    )
    .await;
    assert_eq!(read(other).0, 200);
    let a = helpers::signup::harness(&[], None).await;
    let body = json!({"EmailAddress": helpers::signup::unique_address()}).to_string();
    let (status, retry, envelope) =
        read(shared::signup::handler::handle(&a.app, post_from("198.51.100.10", &body)).await);
    assert_eq!((status, envelope["OpCode"].as_i64()), (429, Some(1005)), "{envelope}");
    assert!(retry.is_some() && envelope["ErrorText"].as_str().unwrap().contains("from your network"), "{envelope}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_80_failed_validations_race_from_one_caller_should_answer_exactly_60_then_refuse_even_the_right_code() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let h = helpers::preregistration::harness(&[("CALLER_FAILURE_LIMIT", "60")], None).await;
    let ip = "198.51.100.20";
    // A real code, sent from another network, to try from this one once it is over its limit.
    let address = helpers::signup::unique_address();
    let (status, body) = h.generate(&json!({"applicationId": "demo", "emailAddress": address})).await;
    assert_eq!(status, 200, "{body}");
    let code = testkit::digits(helpers::signup::emails_to(&address).await.last().unwrap(), 6).unwrap();

    let app = h.app.clone();
    let answers = at_once(80, |_| {
        let app = app.clone();
        let body = json!({"applicationId": "demo", "confirmationId": Uuid::new_v4().to_string(), "confirmationCode": "123456"});
        async move { shared::preregistration::handler::validate(&app, post_from(ip, &body.to_string())).await }
    })
    .await;
    assert_eq!(count(&answers, 404), 60, "unknown codes count as failures: {answers:?}");
    assert_eq!(count(&answers, 429), 20, "{answers:?}");

    let right = json!({"applicationId": "demo", "emailAddress": address, "confirmationCode": code}).to_string();
    let (status, retry, body) = read(shared::preregistration::handler::validate(&h.app, post_from(ip, &right)).await);
    assert_eq!(status, 429, "over its limit, the caller is refused whatever it sends: {body}");
    assert!(retry.is_some());
    let (status, _, body) =
        read(shared::preregistration::handler::validate(&h.app, post_from("198.51.100.21", &right)).await);
    assert_eq!(status, 200, "the code was not spent by the refusal: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_unknown_addresses_are_confirmed_should_answer_like_a_wrong_code_and_count_against_the_caller() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let h = helpers::signup::harness(&[("CALLER_FAILURE_LIMIT", "60")], None).await;
    let ip = "198.51.100.30";
    // A known address with a wrong code, and an address that never asked: the same answer.
    let known = helpers::signup::unique_address();
    let code = h.send_and_read(&known).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let confirm = |address: &str, code: &str| json!({"EmailAddress": address, "ConfirmationCode": code}).to_string();
    let (status, _, known_answer) =
        read(shared::signup::handler::handle(&h.app, post_from("198.51.100.31", &confirm(&known, wrong))).await);
    let unknown = helpers::signup::unique_address();
    let (unknown_status, _, unknown_answer) =
        read(shared::signup::handler::handle(&h.app, post_from("198.51.100.31", &confirm(&unknown, wrong))).await);
    assert_eq!((status, unknown_status), (400, 400));
    for field in ["OpCode", "ErrorText", "Total", "Data", "Data2"] {
        assert_eq!(known_answer[field], unknown_answer[field], "{field}");
    }

    let app = h.app.clone();
    let answers = at_once(80, |_| {
        let app = app.clone();
        let body = confirm(&helpers::signup::unique_address(), "123456");
        async move { shared::signup::handler::handle(&app, post_from(ip, &body)).await }
    })
    .await;
    assert_eq!(count(&answers, 400), 60, "{answers:?}");
    assert_eq!(count(&answers, 429), 20, "{answers:?}");
    let refused = answers.iter().find(|a| a.0 == 429).unwrap();
    assert_eq!(refused.2["OpCode"], 1004);
    assert!(refused.2["ErrorText"].as_str().unwrap().contains("too many failed verifications"), "{}", refused.2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_callers_share_an_ipv6_64_should_share_one_budget() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let h = helpers::preregistration::harness(&[("CALLER_SEND_LIMIT", "2")], None).await;
    let send = |ip: &'static str| {
        let app = h.app.clone();
        async move {
            let body = json!({"applicationId": "demo", "emailAddress": helpers::signup::unique_address()});
            read(b_generate(&app, ip, body).await).0
        }
    };
    assert_eq!(send("2001:db8:77:1::1").await, 200);
    assert_eq!(send("2001:db8:77:1:ffff::2").await, 200);
    assert_eq!(send("2001:db8:77:1:abcd:1:2:3").await, 429, "the same /64");
    assert_eq!(send("2001:db8:77:2::1").await, 200, "another /64");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_sends_race_past_a_country_ceiling_should_send_exactly_the_ceiling_and_name_it() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let h = helpers::harness(&[("SMS_COUNTRY_DAILY_LIMITS", "ES:3")]).await;
    h.clock.advance_ms(2 * DAY_MS);
    let phones: Vec<String> = (0..6).map(|_| unique_spanish_mobile()).collect();
    let app = h.app.clone();
    let answers = at_once(6, |i| {
        let (app, phone) = (app.clone(), phones[i].clone());
        async move { c_create(&app, &phone).await }
    })
    .await;
    assert_eq!(count(&answers, 200), 3, "{answers:?}");
    let refused: Vec<_> = answers.iter().filter(|a| a.0 == 429).collect();
    assert_eq!(refused.len(), 3, "{answers:?}");
    for (_, retry, body) in &refused {
        assert_eq!(body["Code"], 4000);
        let message = body["ExceptionMessage"].as_str().unwrap();
        assert!(
            message.starts_with("daily SMS ceiling for ES reached: 3 sent in the last 24 hours (limit 3)"),
            "{message}"
        );
        assert!(retry.is_some());
    }
    let mut sent = 0;
    for phone in &phones {
        sent += testkit::sms_to(phone).await.len();
    }
    assert_eq!(sent, 3);
    // Another country is under its own ceiling.
    assert_eq!(read(c_create(&h.app, &format!("{}001", fresh_block())).await).0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_sends_race_past_the_daily_ceiling_should_send_exactly_the_ceiling_across_countries() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let h = helpers::harness(&[("SMS_DAILY_LIMIT", "4")]).await;
    h.clock.advance_ms(4 * DAY_MS);
    let block = fresh_block();
    let phones: Vec<String> =
        (0..7).map(|i| if i % 2 == 0 { unique_spanish_mobile() } else { format!("{block}{i:03}") }).collect();
    let app = h.app.clone();
    let answers = at_once(7, |i| {
        let (app, phone) = (app.clone(), phones[i].clone());
        async move { c_create(&app, &phone).await }
    })
    .await;
    assert_eq!(count(&answers, 200), 4, "{answers:?}");
    assert_eq!(count(&answers, 429), 3, "{answers:?}");
    let refused = answers.iter().find(|a| a.0 == 429).unwrap();
    assert!(refused.2["ExceptionMessage"].as_str().unwrap().starts_with("daily SMS ceiling reached: 4 sent"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_a_block_gets_codes_nobody_verifies_should_refuse_it_until_enough_are_verified_or_the_window_ends() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let h = helpers::harness(&[("SMS_BLOCK_MIN_SENDS", "5")]).await;
    let block = fresh_block();
    let mut otps = Vec::new();
    for i in 0..5 {
        otps.push(h.otp(&format!("{block}{i:03}"), json!({})).await);
    }
    let (status, retry, body) = read(c_create(&h.app, &format!("{block}500")).await);
    assert_eq!((status, body["Code"].as_u64()), (429, Some(4000)), "{body}");
    assert_eq!(
        body["ExceptionMessage"].as_str().unwrap().split("; try").next().unwrap(),
        "5 codes sent to this number's block of 1,000 in the last hour, 0 verified (at least 20% must be)"
    );
    assert!(retry.is_some());
    // Family B has a breaker of its own: family C's refusals do not close the block to it.
    let b = helpers::preregistration::harness(&[("SMS_BLOCK_MIN_SENDS", "5")], None).await;
    let national = block.trim_start_matches("+90");
    let generate =
        json!({"applicationId": "demo", "internationalPrefix": "90", "mobileNumber": format!("{national}777")});
    assert_eq!(b.generate(&generate).await.0, 200);

    // One verification in five is 20%: the block is open again, for exactly one more send.
    let (otp_id, code) = &otps[0];
    assert_eq!(h.verify(otp_id, code).await.0, 200);
    assert_eq!(read(c_create(&h.app, &format!("{block}501")).await).0, 200);
    assert_eq!(read(c_create(&h.app, &format!("{block}502")).await).0, 429, "1 of 6 is below 20%");

    // The window ends: the block starts afresh.
    h.clock.advance_ms(3_601_000);
    assert_eq!(read(c_create(&h.app, &format!("{block}503")).await).0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_12_sends_race_to_a_block_without_verifications_should_send_exactly_the_minimum() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let h = helpers::harness(&[("SMS_BLOCK_MIN_SENDS", "5")]).await;
    let block = fresh_block();
    let app = h.app.clone();
    let answers = at_once(12, |i| {
        let (app, phone) = (app.clone(), format!("{block}{i:03}"));
        async move { c_create(&app, &phone).await }
    })
    .await;
    assert_eq!(count(&answers, 200), 5, "{answers:?}");
    assert_eq!(count(&answers, 429), 7, "{answers:?}");
}

#[tokio::test]
async fn when_an_sms_is_sent_should_carry_the_maximum_price() {
    use shared::aws::sns::SmsSender;
    let fake = testkit::fake_aws::FakeAws::default();
    let env = |name: &str| {
        let value = match name {
            "AWS_REGION" => "us-east-1",
            "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => "testing",
            "AWS_ENDPOINT_URL" => "http://aws.invalid",
            _ => return None,
        };
        Some(value.to_string())
    };
    let sdk = shared::aws::from_lambda_environment_with(env, || {
        aws_sdk_dynamodb::config::SharedHttpClient::new(fake.clone())
    })
    .unwrap();
    let sender = shared::aws::sns::SnsSmsSender::new(&sdk, "0.25");
    sender.send("+905321234567", "text", "VERIFY").await.unwrap();
    let attributes = fake.last_message().unwrap().attributes;
    assert!(
        attributes.contains(&("AWS.SNS.SMS.MaxPrice".to_string(), "Number".to_string(), "0.25".to_string())),
        "{attributes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_wrong_codes_come_from_one_caller_should_count_them_and_spare_the_code_once_refused() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let h = helpers::preregistration::harness(&[("CALLER_FAILURE_LIMIT", "3")], None).await;
    let ip = "198.51.100.40";
    let address = helpers::signup::unique_address();
    let (status, body) = h.generate(&json!({"applicationId": "demo", "emailAddress": address})).await;
    assert_eq!(status, 200, "{body}");
    let code = testkit::digits(helpers::signup::emails_to(&address).await.last().unwrap(), 6).unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let validate = |code: &str| {
        let body =
            json!({"applicationId": "demo", "emailAddress": address, "confirmationCode": code, "language": "en"})
                .to_string();
        let app = h.app.clone();
        async move { read(shared::preregistration::handler::validate(&app, post_from(ip, &body)).await) }
    };
    for remaining in [4, 3, 2] {
        let (status, _, body) = validate(wrong).await;
        assert_eq!((status, body["remainingAttempts"].as_u64()), (400, Some(remaining)), "{body}");
    }
    let (status, retry, body) = validate(wrong).await;
    assert_eq!(status, 429, "the fourth failure from this caller: {body}");
    assert!(retry.is_some() && body["Message"].as_str().unwrap().contains("too many failed verifications"), "{body}");
    // The refused guess was not counted on the code: it has 2 attempts left, from elsewhere.
    let body = json!({"applicationId": "demo", "emailAddress": address, "confirmationCode": wrong}).to_string();
    let (status, _, body) =
        read(shared::preregistration::handler::validate(&h.app, post_from("198.51.100.41", &body)).await);
    assert_eq!((status, body["remainingAttempts"].as_u64()), (400, Some(1)), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_a_caller_is_over_its_failure_limit_should_refuse_even_the_right_code_and_leave_it_usable() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let h = helpers::signup::harness(&[("CALLER_FAILURE_LIMIT", "2")], None).await;
    let ip = format!("192.0.2.{}", std::process::id() % 250 + 1);
    let address = helpers::signup::unique_address();
    let code = h.send_and_read(&address).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let confirm = |code: &str| json!({"EmailAddress": address, "ConfirmationCode": code}).to_string();
    for _ in 0..2 {
        let (status, _, body) = read(shared::signup::handler::handle(&h.app, post_from(&ip, &confirm(wrong))).await);
        assert_eq!((status, body["OpCode"].as_i64()), (400, Some(1002)), "{body}");
    }
    // WHEN the caller is over its limit THEN even the right code is refused, before any count
    let (status, retry, body) = read(shared::signup::handler::handle(&h.app, post_from(&ip, &confirm(&code))).await);
    assert_eq!((status, body["OpCode"].as_i64()), (429, Some(1004)), "{body}");
    assert!(retry.is_some_and(|s| s > 0), "Retry-After");
    assert!(body["ErrorText"].as_str().unwrap().contains("too many failed verifications"), "{body}");
    // AND the code is not spent: another caller confirms it
    let (status, _, body) =
        read(shared::signup::handler::handle(&h.app, post_from("198.51.100.99", &confirm(&code))).await);
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_a_caller_probes_confirmed_addresses_should_pay_as_for_sends_and_learn_nothing_past_its_budget() {
    // GIVEN 6 confirmed users, and callers whose send budget is 3 an hour
    let h = helpers::signup::harness(&[("CALLER_SEND_LIMIT", "3")], None).await;
    let mut confirmed = Vec::new();
    for _ in 0..6 {
        let address = helpers::signup::unique_address();
        let code = h.send_and_read(&address).await;
        assert_eq!(h.confirm(&address, &code).await.0, 200);
        confirmed.push(address);
    }
    let send = |ip: &'static str, address: &str, key: Option<&str>| {
        let mut request = post_from(ip, &json!({"EmailAddress": address}).to_string());
        if let Some(key) = key {
            request.headers_mut().insert("idempotency-key", key.parse().unwrap());
        }
        let app = h.app.clone();
        async move { shared::signup::handler::handle(&app, request).await }
    };

    // WHEN a caller sends to all six at once
    let answers = at_once(6, |i| send("198.51.100.150", &confirmed[i], None)).await;
    // THEN each probe costs a send: 3 learn "already confirmed" (1007), 3 only the caller's limit
    let op = |a: &(u16, Option<u64>, Value)| (a.0, a.2["OpCode"].as_i64().unwrap());
    let mut seen: Vec<_> = answers.iter().map(op).collect();
    seen.sort();
    assert_eq!(seen, [vec![(409, 1007); 3], vec![(429, 1005); 3]].concat(), "{answers:?}");
    assert!(answers.iter().filter(|a| a.0 == 429).all(|a| a.1.is_some()), "Retry-After");
    // AND the budget is spent for real sends too
    let (status, _, body) = read(send("198.51.100.150", &helpers::signup::unique_address(), None).await);
    assert_eq!((status, body["OpCode"].as_i64()), (429, Some(1005)), "{body}");
    // AND nothing was sent to the confirmed users
    for address in &confirmed {
        assert_eq!(helpers::signup::emails_to(address).await.len(), 1, "only the first code");
    }

    // WHEN another caller reuses its own Idempotency-Key with a confirmed address as the body
    let key = Uuid::new_v4().to_string();
    assert_eq!(read(send("198.51.100.151", &helpers::signup::unique_address(), Some(&key)).await).0, 200);
    let (status, _, body) = read(send("198.51.100.151", &confirmed[0], Some(&key)).await);
    // THEN the key answers (another body: 422), not the user's state
    assert_eq!((status, body["OpCode"].as_i64()), (422, Some(1001)), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_public_sends_flood_a_block_and_the_days_budget_should_leave_two_factor_sms_alone() {
    let _serial = ONE_AT_A_TIME.lock().await;
    // GIVEN a deployment whose family B budget is small: a breaker at 3 sends, a day of 6 SMS
    let settings = [("SMS_BLOCK_MIN_SENDS", "3"), ("SMS_DAILY_LIMIT", "6")];
    let b = helpers::preregistration::harness(&settings, None).await;
    // (family C keeps the breaker the test environment gives it: its 6 sends below stay under it)
    let c = helpers::harness(&[("SMS_DAILY_LIMIT", "6")]).await;
    for clock in [&b.clock, &c.clock] {
        clock.advance_ms(9 * DAY_MS); // a day no other test counts in
    }
    let block = fresh_block();
    let national = block.trim_start_matches("+90").to_string();
    let generate = |i: usize, ip: &'static str| {
        let body =
            json!({"applicationId": "demo", "internationalPrefix": "90", "mobileNumber": format!("{national}{i:03}")});
        let app = b.app.clone();
        async move { shared::preregistration::handler::generate(&app, post_from(ip, &body.to_string())).await }
    };
    // WHEN one anonymous caller sends 10 unvalidated codes into one block at once
    let answers = at_once(10, |i| generate(i, "203.0.113.80")).await;
    // THEN it spends family B's day (6), but one caller alone never trips the block
    assert_eq!(count(&answers, 200), 6, "{answers:?}");
    let refused = answers.iter().find(|a| a.0 == 429).unwrap();
    assert!(refused.2["Message"].as_str().unwrap().contains("capacidad diaria de SMS"), "a ceiling: {refused:?}");
    // AND every family C create to that block, and anywhere else, still goes out
    let created = at_once(5, |i| {
        let (app, phone) = (c.app.clone(), format!("{block}{:03}", 500 + i));
        async move { c_create(&app, &phone).await }
    })
    .await;
    assert_eq!(count(&created, 200), 5, "{created:?}");
    assert_eq!(read(c_create(&c.app, &unique_spanish_mobile()).await).0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_family_b_sends_come_from_several_callers_should_trip_its_block_only_then() {
    let _serial = ONE_AT_A_TIME.lock().await;
    // GIVEN family B's breaker: 3 sends, none verified, from at least 3 callers (the default)
    let b = helpers::preregistration::harness(&[("SMS_BLOCK_MIN_SENDS", "3")], None).await;
    let block = fresh_block();
    let national = block.trim_start_matches("+90").to_string();
    let send = |i: usize, ip: &'static str| {
        let body = json!({"applicationId": "demo", "internationalPrefix": "90", "mobileNumber": format!("{national}{i:03}"), "language": "en"});
        b_generate(&b.app, ip, body)
    };
    // WHEN two callers send 6 codes into the block
    for i in 0..6 {
        let ip = if i % 2 == 0 { "203.0.113.90" } else { "203.0.113.91" };
        assert_eq!(read(send(i, ip).await).0, 200, "two callers cannot close it");
    }
    // THEN a third caller's send is counted, and the block then refuses everyone
    assert_eq!(read(send(6, "203.0.113.92").await).0, 200);
    let (status, retry, body) = read(send(7, "203.0.113.93").await);
    assert_eq!(status, 429, "{body}");
    assert!(retry.is_some());
    // A public answer names the rule, not the block or its figures.
    let message = body["Message"].as_str().unwrap();
    assert!(message.contains("too many unverified codes sent to numbers like this one; try again in"), "{body}");
    assert!(!message.contains(block.trim_start_matches('+')) && !message.contains("7 codes"), "{body}");
}
