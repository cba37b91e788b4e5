//! `Idempotency-Key` on the three sends, through the handlers against moto, with real
//! concurrent requests: one message per key, the first answer replayed, 409 while the first
//! may be running, 422 for another body under the same key.

use crate::helpers;

use std::sync::Arc;

use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

const IN_FLIGHT_MS: u64 = shared::store::idempotency::IN_FLIGHT_MS;

fn with_key(key: &str, body: &str) -> Request {
    let mut request = helpers::post(body);
    request.headers_mut().insert("idempotency-key", key.parse().unwrap());
    request
}

fn read(response: Response<Body>) -> (u16, Value) {
    (response.status().as_u16(), serde_json::from_slice(response.body().as_ref()).unwrap())
}

fn unique_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Runs `n` copies of a request at once; the statuses and bodies.
async fn at_once<F, Fut>(n: usize, request: F) -> Vec<(u16, Value)>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Response<Body>> + Send + 'static,
{
    let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(request())).collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(read(task.await.unwrap()));
    }
    answers
}

fn statuses(answers: &[(u16, Value)]) -> Vec<u16> {
    let mut statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    statuses.sort();
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_10_creates_race_with_one_key_should_send_one_sms_and_replay_its_answer() {
    let h = helpers::harness(&[]).await;
    let phone = testkit::unique_phone();
    let (key, body) = (unique_key(), helpers::create_body(&phone, json!({})));
    let app = h.app.clone();
    let answers = at_once(10, || {
        let (app, request) = (app.clone(), with_key(&key, &body));
        async move { shared::twofactor::handler::create(&app, request).await }
    })
    .await;
    assert_eq!(statuses(&answers), [vec![200], vec![409; 9]].concat(), "{answers:?}");
    let first = answers.iter().find(|a| a.0 == 200).unwrap().1.clone();
    let busy = answers.iter().find(|a| a.0 == 409).unwrap().1.clone();
    assert_eq!((busy["Success"].as_bool(), busy["Code"].as_u64()), (Some(false), Some(4001)), "{busy}");
    assert_eq!(testkit::wait_for_sms(&phone, 1, testkit::TIMEOUT).await.len(), 1);

    h.clock.advance_ms(IN_FLIGHT_MS);
    let replay = read(shared::twofactor::handler::create(&h.app, with_key(&key, &body)).await);
    assert_eq!(replay, (200, first.clone()), "the same status and body");
    assert_eq!(testkit::sms_to(&phone).await.len(), 1, "no second SMS");

    let other = helpers::create_body(&phone, json!({"Source": "another-body"}));
    let (status, answer) = read(shared::twofactor::handler::create(&h.app, with_key(&key, &other)).await);
    assert_eq!((status, answer["Code"].as_u64()), (422, Some(4001)), "{answer}");
    // Without a key, or with another one, a request is a new send.
    assert_eq!(read(shared::twofactor::handler::create(&h.app, helpers::post(&body)).await).0, 200);
    assert_eq!(read(shared::twofactor::handler::create(&h.app, with_key(&unique_key(), &body)).await).0, 200);
    assert_eq!(testkit::sms_to(&phone).await.len(), 3);
}

#[tokio::test]
async fn when_the_first_send_failed_should_replay_the_failure_without_trying_again() {
    let failing = Arc::new(helpers::FailingSms::default());
    let h = helpers::harness_with(&[], Some(failing.clone())).await;
    let (key, body) = (unique_key(), helpers::create_body(&testkit::unique_phone(), json!({})));
    let (status, first) = read(shared::twofactor::handler::create(&h.app, with_key(&key, &body)).await);
    assert_eq!((status, first["Code"].as_u64()), (502, Some(5000)), "{first}");
    h.clock.advance_ms(IN_FLIGHT_MS);
    let replay = read(shared::twofactor::handler::create(&h.app, with_key(&key, &body)).await);
    assert_eq!(replay, (502, first));
    assert_eq!(failing.0.lock().unwrap().len(), 1, "the SMS was tried once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_10_generates_race_with_one_key_should_send_one_code_and_replay_its_confirmation_id() {
    let h = helpers::preregistration::harness(&[], None).await;
    let address = helpers::signup::unique_address();
    let key = unique_key();
    let body = json!({"applicationId": "demo", "emailAddress": address, "language": "en"}).to_string();
    let app = h.app.clone();
    let answers = at_once(10, || {
        let (app, request) = (app.clone(), with_key(&key, &body));
        async move { shared::preregistration::handler::generate(&app, request).await }
    })
    .await;
    assert_eq!(statuses(&answers), [vec![200], vec![409; 9]].concat(), "{answers:?}");
    let first = answers.iter().find(|a| a.0 == 200).unwrap().1.clone();
    assert_eq!(helpers::signup::emails_to(&address).await.len(), 1);
    h.clock.advance_ms(IN_FLIGHT_MS);
    let replay = read(shared::preregistration::handler::generate(&h.app, with_key(&key, &body)).await);
    assert_eq!(replay, (200, first));
    assert_eq!(helpers::signup::emails_to(&address).await.len(), 1);
    let other = json!({"applicationId": "demo", "emailAddress": address, "language": "es"}).to_string();
    let (status, answer) = read(shared::preregistration::handler::generate(&h.app, with_key(&key, &other)).await);
    assert_eq!(status, 422, "{answer}");
    assert!(answer["Message"].as_str().unwrap().contains("Idempotency-Key"), "{answer}");
    let (status, answer) = read(shared::preregistration::handler::generate(&h.app, with_key(" ", &body)).await);
    assert_eq!(status, 400, "{answer}");
    assert!(answer["ModelState"]["Idempotency-Key"].is_array(), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_10_signup_sends_race_with_one_key_should_send_one_email_and_replay_the_user() {
    let h = helpers::signup::harness(&[], None).await;
    let address = helpers::signup::unique_address();
    let key = unique_key();
    let body = json!({"EmailAddress": address}).to_string();
    let app = h.app.clone();
    let answers = at_once(10, || {
        let (app, request) = (app.clone(), with_key(&key, &body));
        async move { shared::signup::handler::handle(&app, request).await }
    })
    .await;
    assert_eq!(statuses(&answers), [vec![200], vec![409; 9]].concat(), "{answers:?}");
    let first = answers.iter().find(|a| a.0 == 200).unwrap().1.clone();
    assert_eq!(helpers::signup::emails_to(&address).await.len(), 1);
    h.clock.advance_ms(IN_FLIGHT_MS);
    let (status, replay) = read(shared::signup::handler::handle(&h.app, with_key(&key, &body)).await);
    assert_eq!((status, &replay["Data"], &replay["OpCode"]), (200, &first["Data"], &first["OpCode"]));
    assert_eq!(helpers::signup::emails_to(&address).await.len(), 1);
    let other = json!({"EmailAddress": helpers::signup::unique_address()}).to_string();
    let (status, answer) = read(shared::signup::handler::handle(&h.app, with_key(&key, &other)).await);
    assert_eq!((status, answer["OpCode"].as_i64()), (422, Some(1001)), "{answer}");
    // Keys are scoped to the endpoint: the same key on family B is another request.
    let b = helpers::preregistration::harness(&[], None).await;
    let generate = json!({"applicationId": "demo", "emailAddress": address}).to_string();
    assert_eq!(read(shared::preregistration::handler::generate(&b.app, with_key(&key, &generate)).await).0, 200);
}

/// A request as API Gateway delivers it from `ip`, with `key`.
fn from_with_key(ip: &str, key: &str, body: &str) -> Request {
    use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
    use lambda_http::request::RequestContext;
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http.source_ip = Some(ip.to_string());
    let mut request = with_key(key, body);
    request.extensions_mut().insert(RequestContext::ApiGatewayV2(context));
    request
}

#[tokio::test]
async fn when_another_caller_squats_a_public_key_should_leave_the_victims_sends_alone() {
    // GIVEN an attacker who saw (or guessed) the key a victim's app will send, and used it first
    let key = unique_key();
    let b = helpers::preregistration::harness(&[], None).await;
    let (squat, victim) = (helpers::signup::unique_address(), helpers::signup::unique_address());
    let generate = |address: &str| json!({"applicationId": "demo", "emailAddress": address}).to_string();
    let first = read(
        shared::preregistration::handler::generate(&b.app, from_with_key("203.0.113.66", &key, &generate(&squat)))
            .await,
    );
    assert_eq!(first.0, 200, "{first:?}");
    // WHEN the victim sends with that key from its own address, at once and after the in-flight window
    let mine = read(
        shared::preregistration::handler::generate(&b.app, from_with_key("198.51.100.20", &key, &generate(&victim)))
            .await,
    );
    // THEN its send is its own: not 409 (in flight), not 422 (another body), not the attacker's answer
    assert_eq!(mine.0, 200, "{mine:?}");
    assert_ne!(mine.1, first.1);
    assert_eq!(helpers::signup::emails_to(&victim).await.len(), 1);
    // The same for family A, and for another application of family B from the same address.
    let a = helpers::signup::harness(&[], None).await;
    let signup = |address: &str| json!({"EmailAddress": address}).to_string();
    let (squat, victim) = (helpers::signup::unique_address(), helpers::signup::unique_address());
    assert_eq!(
        read(shared::signup::handler::handle(&a.app, from_with_key("203.0.113.66", &key, &signup(&squat))).await).0,
        200
    );
    let mine =
        read(shared::signup::handler::handle(&a.app, from_with_key("198.51.100.20", &key, &signup(&victim))).await);
    assert_eq!(mine.0, 200, "{mine:?}");
    assert_eq!(helpers::signup::emails_to(&victim).await.len(), 1);
    let other_app = json!({"applicationId": "other", "emailAddress": helpers::signup::unique_address()}).to_string();
    assert_eq!(
        read(shared::preregistration::handler::generate(&b.app, from_with_key("203.0.113.66", &key, &other_app)).await)
            .0,
        200
    );
}

#[tokio::test]
async fn when_a_public_key_is_too_short_to_be_random_should_answer_400_in_the_familys_shape() {
    let short = "k".repeat(shared::store::idempotency::MIN_PUBLIC_KEY_LENGTH - 1);
    let b = helpers::preregistration::harness(&[], None).await;
    let body = json!({"applicationId": "demo", "emailAddress": helpers::signup::unique_address()}).to_string();
    let (status, answer) = read(shared::preregistration::handler::generate(&b.app, with_key(&short, &body)).await);
    assert_eq!(status, 400, "{answer}");
    assert!(answer["ModelState"]["Idempotency-Key"][0].as_str().unwrap().contains("at least 16"), "{answer}");
    let a = helpers::signup::harness(&[], None).await;
    let address = helpers::signup::unique_address();
    let (status, answer) = read(
        shared::signup::handler::handle(&a.app, with_key(&short, &json!({"EmailAddress": address}).to_string())).await,
    );
    assert_eq!((status, answer["OpCode"].as_i64()), (400, Some(1001)), "{answer}");
    assert!(helpers::signup::emails_to(&address).await.is_empty(), "nothing sent");
    // Family C's callers are authenticated backends: a short key is theirs to choose.
    let c = helpers::harness(&[]).await;
    let create = helpers::create_body(&testkit::unique_phone(), json!({}));
    assert_eq!(read(shared::twofactor::handler::create(&c.app, with_key("k", &create)).await).0, 200);
}

/// The key ring before and after the second phase of a rotation: version 2 added everywhere
/// (version 1 still current), then made current (docs/configuration.md, Key rotation).
const RING_ADDED: &str =
    "1:local-development-key-never-use-in-production,2:local-rotated-key-two-never-use-in-production";
const RING_SWAPPED: &str =
    "2:local-rotated-key-two-never-use-in-production,1:local-development-key-never-use-in-production";

#[tokio::test]
async fn when_keys_rotate_between_a_send_and_its_retry_should_replay_the_first_answer_and_send_once() {
    // GIVEN a family C create and a family B generate with a key, under version 1
    let before = helpers::harness(&[("OTP_KEYS", RING_ADDED)]).await;
    let b_before = helpers::preregistration::harness(&[("OTP_KEYS", RING_ADDED)], None).await;
    let phone = testkit::unique_phone();
    let (key, body) = (unique_key(), helpers::create_body(&phone, json!({})));
    let first = read(shared::twofactor::handler::create(&before.app, with_key(&key, &body)).await);
    assert_eq!(first.0, 200, "{first:?}");
    let address = helpers::signup::unique_address();
    let generate = json!({"applicationId": "demo", "emailAddress": address}).to_string();
    let b_first = read(shared::preregistration::handler::generate(&b_before.app, with_key(&key, &generate)).await);
    assert_eq!(b_first.0, 200, "{b_first:?}");

    // WHEN version 2 becomes current and the clients retry with the same keys
    let after = helpers::harness(&[("OTP_KEYS", RING_SWAPPED)]).await;
    after.clock.set_ms(shared::domain::clock::Clock::now_ms(&before.clock) + IN_FLIGHT_MS);
    let replay = read(shared::twofactor::handler::create(&after.app, with_key(&key, &body)).await);
    let b_after = helpers::preregistration::harness(&[("OTP_KEYS", RING_SWAPPED)], None).await;
    b_after.clock.set_ms(shared::domain::clock::Clock::now_ms(&b_before.clock) + IN_FLIGHT_MS);
    let b_replay = read(shared::preregistration::handler::generate(&b_after.app, with_key(&key, &generate)).await);

    // THEN each gets its first answer again, and nothing is sent twice
    assert_eq!(replay, first, "the record written under version 1 is found under version 2");
    assert_eq!(testkit::wait_for_sms(&phone, 1, testkit::TIMEOUT).await.len(), 1);
    assert_eq!(b_replay.0, 200, "{b_replay:?}");
    assert_eq!(
        helpers::preregistration::payload(&b_replay.1)["confirmationId"],
        helpers::preregistration::payload(&b_first.1)["confirmationId"]
    );
    assert_eq!(helpers::signup::emails_to(&address).await.len(), 1);
}

#[tokio::test]
async fn when_a_code_is_made_under_the_new_current_key_should_verify_where_it_is_only_accepted() {
    // GIVEN codes made by functions already on the second phase (version 2 current)
    let makes = helpers::harness(&[("OTP_KEYS", RING_SWAPPED)]).await;
    let (otp, code) = makes.otp(&testkit::unique_phone(), json!({})).await;
    let b_makes = helpers::preregistration::harness(&[("OTP_KEYS", RING_SWAPPED)], None).await;
    let address = helpers::signup::unique_address();
    let (status, generated) = b_makes.generate(&json!({"applicationId": "demo", "emailAddress": address})).await;
    assert_eq!(status, 200, "{generated}");
    let b_code = testkit::digits(helpers::signup::emails_to(&address).await.last().unwrap(), 6).unwrap();
    // WHEN they are verified by functions still on the first phase (version 1 current, 2 added)
    let verifies = helpers::harness(&[("OTP_KEYS", RING_ADDED)]).await;
    let b_verifies = helpers::preregistration::harness(&[("OTP_KEYS", RING_ADDED)], None).await;
    // THEN both verify
    assert_eq!(verifies.verify(&otp, &code).await.0, 200);
    let id = generated["response"]["confirmationId"].clone();
    let validate = json!({"applicationId": "demo", "confirmationId": id, "confirmationCode": b_code});
    let (status, body) = b_verifies.validate(&validate).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn when_a_key_is_reused_around_its_windows_should_409_then_replay_then_forget_it_after_24_hours() {
    // GIVEN a create with a key
    let h = helpers::harness(&[("CALLER_SEND_LIMIT", "1000")]).await;
    let phone = testkit::unique_phone();
    let (key, body) = (unique_key(), helpers::create_body(&phone, json!({"MaxSMSCount": 20})));
    let first = read(shared::twofactor::handler::create(&h.app, with_key(&key, &body)).await);
    assert_eq!(first.0, 200, "{first:?}");
    let again = || async { read(shared::twofactor::handler::create(&h.app, with_key(&key, &body)).await) };
    // WHEN it is retried 1 ms before the in-flight window ends THEN 409; at its end, the replay
    h.clock.advance_ms(IN_FLIGHT_MS - 1);
    assert_eq!(again().await.0, 409);
    h.clock.advance_ms(1);
    assert_eq!(again().await, first);
    // 1 ms before 24 h the replay still; at 24 h the key is forgotten: a new send
    h.clock.advance_ms(shared::store::idempotency::RETENTION_MS - IN_FLIGHT_MS - 1);
    assert_eq!(again().await, first);
    assert_eq!(testkit::sms_to(&phone).await.len(), 1);
    h.clock.advance_ms(1);
    let later = again().await;
    assert_eq!(later.0, 200, "{later:?}");
    assert_ne!(later.1["OtpIdReference"], first.1["OtpIdReference"], "a new OTP");
    assert_eq!(testkit::wait_for_sms(&phone, 2, testkit::TIMEOUT).await.len(), 2);
}
