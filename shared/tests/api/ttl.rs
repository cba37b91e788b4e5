//! Every item type's expiry, as written, held to the lifetime `docs/table.md` documents for it
//! (issue 27, item 3). moto never deletes an expired item, so no other test sees a TTL: one
//! written already expired would let DynamoDB's sweep remove a counter mid-window (a limit
//! reset), one written too far out would keep it forever. The clock is fixed at 00:30:01.234
//! of a day no other test counts in, so every bucket's end is known.

use crate::helpers;

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::request::RequestContext;
use serde_json::{Value, json};
use shared::domain::clock::Clock;

const S: u64 = 1000;
const HOUR: u64 = 3_600_000;
const DAY: u64 = 86_400_000;

/// The clock every harness of this test is set to.
fn t0() -> u64 {
    (shared::domain::clock::SystemClock.now_ms() / DAY + 47) * DAY + 30 * 60 * S + 1234
}

/// The end of the bucket of `interval` that `t` falls in, in seconds.
fn end_s(t: u64, interval: u64) -> u64 {
    (t / interval + 1) * interval / S
}

fn from_caller(body: &Value, ip: &str, key: &str) -> lambda_http::Request {
    let mut request = helpers::post(&body.to_string());
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http.source_ip = Some(ip.to_string());
    request.extensions_mut().insert(RequestContext::ApiGatewayV2(context));
    request.headers_mut().insert("idempotency-key", key.parse().unwrap());
    request
}

/// The `ttl` of the item `pk` (sk as the table holds it), read consistently.
async fn ttl(client: &aws_sdk_dynamodb::Client, pk: &str) -> Option<u64> {
    for sk in ["OTP", "WATCH", "WINDOW", "CNF", "USER", "IDEM"] {
        let key = shared::store::dynamo::key(pk, sk);
        let got = client.get_item().table_name(testkit::TABLE).set_key(Some(key)).consistent_read(true).send().await;
        if let Some(item) = got.unwrap().item {
            return shared::store::dynamo::get_n(&item, "ttl");
        }
    }
    None
}

/// The `ttl`s of the idempotency records written at `t`, whose keys are keyed hashes.
async fn idempotency_ttls(client: &aws_sdk_dynamodb::Client, t: u64) -> Vec<u64> {
    let scan = client
        .scan()
        .table_name(testkit::TABLE)
        .filter_expression("begins_with(pk, :p) AND #at = :t")
        .expression_attribute_names("#at", "at")
        .expression_attribute_values(":p", AttributeValue::S("IDEM#".into()))
        .expression_attribute_values(":t", AttributeValue::N(t.to_string()));
    ttls_of(scan).await
}

/// The `ttl`s of the items whose key starts with `prefix` (a sharded count's shards, picked at
/// random).
async fn ttls_under(client: &aws_sdk_dynamodb::Client, prefix: &str) -> Vec<u64> {
    let scan = client
        .scan()
        .table_name(testkit::TABLE)
        .filter_expression("begins_with(pk, :p)")
        .expression_attribute_values(":p", AttributeValue::S(prefix.into()));
    ttls_of(scan).await
}

async fn ttls_of(scan: aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder) -> Vec<u64> {
    let mut ttls = Vec::new();
    let mut pages = scan.into_paginator().send();
    while let Some(page) = pages.next().await {
        ttls.extend(page.unwrap().items().iter().filter_map(|i| shared::store::dynamo::get_n::<u64>(i, "ttl")));
    }
    ttls
}

#[tokio::test]
async fn when_each_item_type_is_written_should_expire_as_docs_table_documents() {
    let t = t0();
    let client = aws_sdk_dynamodb::Client::new(&testkit::sdk_config().await);
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();

    // Family C: a synchronous OTP with a key, an asynchronous one, a wrong verification.
    let c = helpers::harness(&[]).await;
    c.clock.set_ms(t);
    let phone = testkit::unique_phone();
    let body = json!({"UserId": helpers::USER, "GsmNumber": phone, "TwoFactorConfigurationId": 1, "IsSync": true});
    let (status, created) = helpers::read(
        shared::twofactor::handler::create(
            &c.app,
            from_caller(&body, "198.51.100.240", &uuid::Uuid::new_v4().to_string()),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let mut pending = body.clone();
    pending["IsSync"] = json!(false);
    let (_, pending) =
        helpers::read(shared::twofactor::handler::create(&c.app, helpers::post(&pending.to_string())).await).await;
    let otp_exp = t + 180 * S;
    expected.insert(format!("OTP#{}", created["OtpIdReference"].as_str().unwrap()), otp_exp / S + 86_400);
    expected.insert(format!("OTPID#{}", created["Id"]), otp_exp / S + 86_400);
    expected.insert(format!("OTPW#{}", pending["OtpIdReference"].as_str().unwrap()), otp_exp.div_ceil(S));
    expected.insert(format!("2FA#RATE#{phone}#300#{}", t / (300 * S)), end_s(t, 300 * S) + 60);
    expected.insert(format!("2FA#DAY#{phone}#86400#{}", t / DAY), end_s(t, DAY) + 60);
    let block = &phone[..phone.len() - 3];
    expected.insert(format!("2FA#BLOCK#{block}#{}", t / HOUR), end_s(t, HOUR) + 86_400);
    let otp = created["OtpIdReference"].as_str().unwrap();
    let sent = testkit::digits(&testkit::wait_for_sms(&phone, 1, testkit::TIMEOUT).await[0], 6).unwrap();
    assert_eq!(c.verify(otp, if sent == "000000" { "111111" } else { "000000" }).await.0, 400, "a wrong code");
    expected.insert(format!("2FA#FAIL#{phone}#{}", t / HOUR), end_s(t, HOUR) + 86_400);

    // Family B: SMS and e-mail from a caller with a key, then a wrong code.
    let b = helpers::preregistration::harness(&[], None).await;
    b.clock.set_ms(t);
    let mobile = testkit::unique_phone().replace("+90532", "9118");
    let e164 = format!("+54{mobile}");
    let address = helpers::signup::unique_address();
    let generate =
        json!({"applicationId": "demo", "internationalPrefix": "54", "mobileNumber": mobile, "emailAddress": address});
    let request = from_caller(&generate, "198.51.100.241", &uuid::Uuid::new_v4().to_string());
    let (status, answer) = helpers::read(shared::preregistration::handler::generate(&b.app, request).await).await;
    assert_eq!(status, 200, "{answer}");
    let id = answer["response"]["confirmationId"].as_str().unwrap().to_string();
    let code_exp = (t + 600 * S) / S + 86_400;
    expected.insert(format!("CNF#{id}"), code_exp);
    for destination in [e164.as_str(), address.as_str()] {
        expected.insert(format!("CNFLATEST#demo#{destination}"), code_exp);
        expected.insert(format!("CNF#RATE#{destination}#3600#{}", t / HOUR), end_s(t, HOUR) + 60);
        expected.insert(format!("CNF#GAP#{destination}"), (t + 30 * S) / S + 60);
    }
    let b_block = &e164[..e164.len() - 3];
    expected.insert(format!("CNF#BLOCK#{b_block}#{}", t / HOUR), end_s(t, HOUR) + 86_400);
    expected.insert(format!("CALLER#SEND#198.51.100.241#{}", t / HOUR), end_s(t, HOUR) + 86_400);
    let sms_code = testkit::digits(&testkit::wait_for_sms(&e164, 1, testkit::TIMEOUT).await[0], 6).unwrap();
    let email_code = testkit::digits(&helpers::signup::emails_to(&address).await[0], 6).unwrap();
    let wrong = (0..10).map(|d| d.to_string().repeat(6)).find(|c| *c != sms_code && *c != email_code).unwrap();
    let validate = json!({"applicationId": "demo", "confirmationId": id, "confirmationCode": wrong});
    let mut request = from_caller(&validate, "198.51.100.241", "unused-key-of-a-validation");
    request.headers_mut().remove("idempotency-key");
    let (status, _) = helpers::read(shared::preregistration::handler::validate(&b.app, request).await).await;
    assert_eq!(status, 400, "a wrong code");
    expected.insert(format!("CNF#FAIL#{e164}#{}", t / HOUR), end_s(t, HOUR) + 86_400);
    expected.insert(format!("CALLER#FAIL#198.51.100.241#{}", t / HOUR), end_s(t, HOUR) + 86_400);

    // Family A: a send from a caller with a key, then a wrong confirmation.
    let a = helpers::signup::harness(&[], None).await;
    a.clock.set_ms(t);
    let user = helpers::signup::unique_address();
    let request = from_caller(&json!({"EmailAddress": user}), "198.51.100.242", &uuid::Uuid::new_v4().to_string());
    assert_eq!(shared::signup::handler::handle(&a.app, request).await.status(), 200);
    expected.insert(format!("USER#{user}"), t / S + 30 * 86_400);
    expected.insert(format!("SIGNUP#RATE#{user}#3600#{}", t / HOUR), end_s(t, HOUR) + 60);
    expected.insert(format!("SIGNUP#GAP#{user}"), (t + 30 * S) / S + 60);
    expected.insert(format!("CALLER#SEND#198.51.100.242#{}", t / HOUR), end_s(t, HOUR) + 86_400);
    let mut request = from_caller(&json!({"EmailAddress": user, "ConfirmationCode": "0000000"}), "198.51.100.242", "x");
    request.headers_mut().remove("idempotency-key");
    assert_eq!(shared::signup::handler::handle(&a.app, request).await.status(), 400);
    expected.insert(format!("SIGNUP#FAIL#{user}#{}", t / HOUR), end_s(t, HOUR) + 86_400);
    expected.insert(format!("CALLER#FAIL#198.51.100.242#{}", t / HOUR), end_s(t, HOUR) + 86_400);

    // THEN every item expires as documented: never before its window or code can matter, and
    // never later than a day past it
    let mut wrong = Vec::new();
    for (pk, want) in &expected {
        let got = ttl(&client, pk).await;
        if got != Some(*want) {
            wrong.push(format!("{pk}: ttl {got:?}, documented {want}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The day's ceilings: the shards the sends picked (family C's two sends, family B's one).
    for family in ["2FA", "CNF"] {
        let shards = ttls_under(&client, &format!("{family}#CEIL#{}#", t / DAY)).await;
        assert!(!shards.is_empty() && shards.len() <= 2, "{family}: {shards:?}");
        assert!(shards.iter().all(|ttl| *ttl == end_s(t, DAY) + 86_400), "{family}: {shards:?}");
    }
    // The three sends' idempotency records: kept 24 hours.
    assert_eq!(idempotency_ttls(&client, t).await, vec![(t + DAY) / S; 3]);
}
