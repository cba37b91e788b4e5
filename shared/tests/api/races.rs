//! Concurrency claims, with real concurrent requests against the DynamoDB-protocol server.

use crate::helpers;

use helpers::{create_body, harness};
use serde_json::json;
use testkit::unique_phone;

/// Sends every `(otp id, code)` verification at once; each answer's HTTP status and `Code`.
async fn verify_at_once(h: &helpers::Harness, attempts: Vec<(String, String)>) -> Vec<(u16, u64)> {
    let tasks: Vec<_> = attempts
        .into_iter()
        .map(|(otp_id, code)| {
            let app = h.app.clone();
            tokio::spawn(async move {
                let body = json!({"UserId": helpers::USER, "OtpIdReference": otp_id, "OtpCode": code}).to_string();
                helpers::read(shared::twofactor::handler::verify(&app, helpers::post(&body)).await).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        answers.push((status.as_u16(), body["Code"].as_u64().unwrap()));
    }
    answers
}

fn count(answers: &[(u16, u64)], answer: (u16, u64)) -> usize {
    answers.iter().filter(|a| **a == answer).count()
}

fn wrong(code: &str) -> String {
    if code == "000000" { "111111".into() } else { "000000".into() }
}

const MISMATCH: (u16, u64) = (400, 4005);
const TOO_MANY: (u16, u64) = (429, 4006);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_30_verifications_of_the_right_code_race_should_succeed_exactly_once() {
    let h = harness(&[]).await;
    let (otp_id, code) = h.otp(&unique_phone(), json!({})).await;
    let answers = verify_at_once(&h, vec![(otp_id, code); 30]).await;
    assert_eq!(count(&answers, (200, 1000)), 1, "{answers:?}");
    assert_eq!(count(&answers, (409, 4007)), 29, "{answers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_20_wrong_codes_race_on_one_otp_should_count_exactly_its_5_attempts() {
    let h = harness(&[]).await;
    let (otp_id, code) = h.otp(&unique_phone(), json!({})).await;
    let answers = verify_at_once(&h, vec![(otp_id.clone(), wrong(&code)); 20]).await;
    assert_eq!(count(&answers, MISMATCH), 5, "{answers:?}");
    assert_eq!(count(&answers, TOO_MANY), 15, "{answers:?}");
    // The five failures used the OTP up: the right code is refused too.
    assert_eq!(verify_at_once(&h, vec![(otp_id, code)]).await, vec![TOO_MANY]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_30_wrong_codes_race_across_a_numbers_otps_should_lock_it_at_exactly_the_limit() {
    let h = harness(&[("DESTINATION_FAILURE_LIMIT", "10")]).await;
    let phone = unique_phone();
    let mut attempts = Vec::new();
    for _ in 0..6 {
        let (otp_id, code) = h.otp(&phone, json!({"MaxSMSCount": 100})).await;
        attempts.extend(vec![(otp_id, wrong(&code)); 5]);
    }
    let answers = verify_at_once(&h, attempts).await;
    // Every failure counts once on the number's lock, whatever the interleaving: the 1st to
    // the 9th are plain mismatches, the 10th and later find the number locked.
    assert_eq!(count(&answers, MISMATCH), 9, "{answers:?}");
    assert_eq!(count(&answers, TOO_MANY), 21, "{answers:?}");
    let (status, body) = h.create(&create_body(&phone, json!({"MaxSMSCount": 100}))).await;
    assert_eq!((status.as_u16(), body["Code"].as_u64()), (429, Some(4006)), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_20_creates_race_with_limit_5_should_send_exactly_5_sms() {
    let h = harness(&[]).await;
    let phone = unique_phone();
    let body = create_body(&phone, json!({"MaxSMSCount": 5, "MaxSMSInterval": 300}));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let app = h.app.clone();
            let body = body.clone();
            tokio::spawn(async move {
                helpers::read(shared::twofactor::handler::create(&app, helpers::post(&body)).await).await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        statuses.push((status.as_u16(), body["Code"].as_u64().unwrap()));
    }
    assert_eq!(statuses.iter().filter(|s| **s == (200, 1000)).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == (429, 4000)).count(), 15, "{statuses:?}");
    assert_eq!(testkit::sms_to(&phone).await.len(), 5);
}
