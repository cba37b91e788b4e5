//! Concurrency claims, with real concurrent requests against the DynamoDB-protocol server.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{create_body, harness};
use serde_json::json;
use testkit::unique_phone;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_30_verifications_of_the_right_code_race_should_succeed_exactly_once() {
    let h = harness(&[]).await;
    let (otp_id, code) = h.otp(&unique_phone(), json!({})).await;
    let tasks: Vec<_> = (0..30)
        .map(|_| {
            let app = h.app.clone();
            let (otp_id, code) = (otp_id.clone(), code.clone());
            tokio::spawn(async move {
                let body = json!({"UserId": common::USER, "OtpIdReference": otp_id, "OtpCode": code}).to_string();
                common::read(shared::twofactor::handler::verify(&app, common::post(&body)).await).await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        statuses.push((status.as_u16(), body["Code"].as_u64().unwrap()));
    }
    let successes = statuses.iter().filter(|s| **s == (200, 1000)).count();
    let already = statuses.iter().filter(|s| **s == (409, 4007)).count();
    assert_eq!(successes, 1, "{statuses:?}");
    assert_eq!(already, 29, "{statuses:?}");
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
                common::read(shared::twofactor::handler::create(&app, common::post(&body)).await).await
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
