//! Family C end to end through the handlers, against moto.

use crate::helpers;

use std::sync::Arc;

use helpers::{FailingSms, USER, create_body, harness, harness_with, post, read};
use serde_json::json;
use testkit::unique_phone;

#[tokio::test]
async fn when_otp_is_created_should_text_code_and_reference_and_verify_once() {
    let h = harness(&[]).await;
    let phone = unique_phone();
    // GIVEN a created OTP
    let (status, created) = h.create(&create_body(&phone, json!({"OtpExpirationPeriod": 120}))).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["Code"], 1000);
    assert_eq!(created["Success"], true);
    assert_eq!(created["OtpCode"], serde_json::Value::Null, "the code is not returned by default");
    assert_eq!(created["RemainingExpirationSeconds"], 120);
    assert_eq!(created["GsmNumber"], phone.as_str());
    assert!(created["Id"].as_u64().is_some_and(|id| id > 0 && id <= i32::MAX as u64), "fits a .NET int");
    let reference = created["ReferenceCode"].as_str().unwrap().to_string();
    let otp_id = created["OtpIdReference"].as_str().unwrap().to_string();
    // THEN the SMS carries a 6-digit code and the reference
    let sms = testkit::wait_for_sms(&phone, 1, testkit::TIMEOUT).await;
    assert_eq!(sms.len(), 1);
    assert!(sms[0].contains(&reference), "{}", sms[0]);
    let code = testkit::digits(&sms[0], 6).expect("6-digit code");

    // WHEN a wrong code is tried THEN 400 with the attempts left
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, body) = h.verify(&otp_id, wrong).await;
    assert_eq!((status.as_u16(), body["Code"].as_u64()), (400, Some(4005)), "{body}");
    assert_eq!(body["RemainingAttempts"], 4);
    assert_eq!(body["Success"], false);

    // WHEN the right code is tried THEN it verifies, once
    let (status, body) = h.verify(&otp_id, &code).await;
    assert_eq!((status.as_u16(), body["Code"].as_u64()), (200, Some(1000)), "{body}");
    assert_eq!(body["OtpIdReference"], otp_id.as_str());
    let (status, body) = h.verify(&otp_id, &code).await;
    assert_eq!((status.as_u16(), body["Code"].as_u64()), (409, Some(4007)), "{body}");
}

#[tokio::test]
async fn when_otp_belongs_to_another_user_or_does_not_exist_should_answer_not_found() {
    let h = harness(&[]).await;
    let (otp_id, code) = h.otp(&unique_phone(), json!({})).await;
    let (status, body) = h.verify_as("0f8fad5b-d9cb-469f-a165-70867728950e", &otp_id, &code).await;
    assert_eq!((status.as_u16(), body["Code"].as_u64()), (404, Some(4003)), "{body}");
    let (status, body) = h.verify("1b4e28ba-2fa1-11d2-883f-0016d3cca427", &code).await;
    assert_eq!((status.as_u16(), body["Code"].as_u64()), (404, Some(4003)), "{body}");
    // The owner still can: the other user's try did not consume it.
    let (status, _) = h.verify(&otp_id, &code).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn when_five_attempts_failed_should_refuse_even_the_right_code() {
    let h = harness(&[]).await;
    let (otp_id, code) = h.otp(&unique_phone(), json!({})).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for remaining in (0..5).rev() {
        let (status, body) = h.verify(&otp_id, wrong).await;
        assert_eq!((status.as_u16(), body["Code"].as_u64()), (400, Some(4005)), "{body}");
        assert_eq!(body["RemainingAttempts"], remaining);
    }
    let (status, body) = h.verify(&otp_id, &code).await;
    assert_eq!((status.as_u16(), body["Code"].as_u64()), (429, Some(4006)), "{body}");
}

#[tokio::test]
async fn when_otp_has_expired_should_answer_gone_even_with_the_right_code() {
    let h = harness(&[]).await;
    let (otp_id, code) = h.otp(&unique_phone(), json!({"OtpExpirationPeriod": 60})).await;
    h.clock.advance_ms(60_000);
    let (status, body) = h.verify(&otp_id, &code).await;
    assert_eq!((status.as_u16(), body["Code"].as_u64()), (410, Some(4004)), "{body}");
}

#[tokio::test]
async fn when_send_limit_is_reached_should_refuse_until_the_window_ends() {
    let h = harness(&[]).await;
    let phone = unique_phone();
    let body = create_body(&phone, json!({"MaxSMSCount": 2, "MaxSMSInterval": 60}));
    // The window is the fixed minute the SMS falls in: start at one's beginning.
    h.clock.advance_ms(60_000 - shared::domain::clock::Clock::now_ms(&h.clock) % 60_000);
    assert_eq!(h.create(&body).await.0, 200);
    h.clock.advance_ms(30_000);
    assert_eq!(h.create(&body).await.0, 200);
    let (status, refused) = h.create(&body).await;
    assert_eq!((status.as_u16(), refused["Code"].as_u64()), (429, Some(4000)), "{refused}");
    assert_eq!(refused["Success"], false);
    assert_eq!(testkit::sms_to(&phone).await.len(), 2, "no SMS for a refused request");
    h.clock.advance_ms(29_999);
    assert_eq!(h.create(&body).await.0, 429, "still the same minute");
    h.clock.advance_ms(1);
    assert_eq!(h.create(&body).await.0, 200);
}

#[tokio::test]
async fn when_requests_set_generous_limits_should_still_stop_at_the_daily_ceiling() {
    let h = harness(&[("SMS_DAILY_LIMIT_PER_NUMBER", "3")]).await;
    let phone = unique_phone();
    // Each request reopens its own 1-second window: only the server's ceiling holds.
    let body = create_body(&phone, json!({"MaxSMSCount": 1000, "MaxSMSInterval": 1}));
    for _ in 0..3 {
        assert_eq!(h.create(&body).await.0, 200);
        h.clock.advance_ms(2_000);
    }
    let (status, refused) = h.create(&body).await;
    assert_eq!((status.as_u16(), refused["Code"].as_u64()), (429, Some(4000)), "{refused}");
    assert_eq!(testkit::sms_to(&phone).await.len(), 3);
    h.clock.advance_ms(86_400_000);
    assert_eq!(h.create(&body).await.0, 200);
}

#[tokio::test]
async fn when_number_failed_too_often_should_lock_its_codes_and_refuse_new_ones() {
    let h = harness(&[("DESTINATION_FAILURE_LIMIT", "3")]).await;
    let phone = unique_phone();
    let (first, _) = h.otp(&phone, json!({})).await;
    let (second, code) = h.otp(&phone, json!({})).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(h.verify(&first, wrong).await.0, 400);
    assert_eq!(h.verify(&first, wrong).await.0, 400);
    // The third failure of the number, on another OTP, reaches the cap.
    let (status, body) = h.verify(&second, wrong).await;
    assert_eq!((status.as_u16(), body["Code"].as_u64()), (429, Some(4006)), "{body}");
    let (status, body) = h.verify(&second, &code).await;
    assert_eq!((status.as_u16(), body["Code"].as_u64()), (429, Some(4006)), "{body}");
    // A fresh code does not reset the count.
    let (status, body) = h.create(&create_body(&phone, json!({}))).await;
    assert_eq!((status.as_u16(), body["Code"].as_u64()), (429, Some(4006)), "{body}");
}

#[tokio::test]
async fn when_sync_sms_fails_should_report_it_and_make_the_code_unusable() {
    let failing = Arc::new(FailingSms::default());
    let h = harness_with(&[], Some(failing.clone())).await;
    let phone = unique_phone();
    let (status, body) = h.create(&create_body(&phone, json!({}))).await;
    assert_eq!((status.as_u16(), body["Code"].as_u64()), (502, Some(5000)), "{body}");
    assert_eq!(body["Success"], false);
    let text = failing.0.lock().unwrap().last().cloned().expect("an attempted SMS");
    let code = testkit::digits(&text, 6).unwrap();
    // The id never reached the client, but even someone who had it could not use the code.
    let items = scan_otps().await;
    let otp_id = items
        .iter()
        .filter(|i| i.get("dest").and_then(|v| v.as_s().ok()) == Some(&phone))
        .find(|i| i.get("dlv").and_then(|v| v.as_s().ok()).is_some_and(|d| d == "failed"))
        .and_then(|i| i.get("pk")?.as_s().ok()?.strip_prefix("OTP#").map(str::to_string))
        .expect("the failed OTP is stored as failed");
    let (status, body) = h.verify(&otp_id, &code).await;
    assert_eq!((status.as_u16(), body["Code"].as_u64()), (404, Some(4003)), "{body}");
}

async fn scan_otps() -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    // Every page: the table is shared by all the tests of this binary, so one page of a scan
    // (1 MB) may not reach this test's items.
    testkit::scan_prefix("OTP#").await
}

#[tokio::test]
async fn when_codes_are_stored_should_never_store_the_plain_code() {
    let h = harness(&[]).await;
    let phone = unique_phone();
    let (sync_id, sync_code) = h.otp(&phone, json!({})).await;
    let (status, created) = h.create(&create_body(&phone, json!({"IsSync": false}))).await;
    assert_eq!(status, 200, "{created}");
    let async_id = created["OtpIdReference"].as_str().unwrap();
    for item in scan_otps().await {
        let pk = item["pk"].as_s().unwrap();
        if pk.ends_with(&sync_id) {
            assert!(!format!("{item:?}").contains(&sync_code), "plain code stored: {item:?}");
            assert!(!item.contains_key("sct"), "synchronous OTPs keep no sealed code");
        }
        if pk.ends_with(async_id) {
            assert!(item.contains_key("sct"), "asynchronous OTP waits sealed for its sender");
        }
        assert_eq!(item["h"].as_b().unwrap().as_ref().len(), 32, "HMAC-SHA-256 at rest");
    }
}

#[tokio::test]
async fn when_return_of_the_code_is_enabled_should_answer_it() {
    let h = harness(&[("RETURN_OTP_CODE", "true")]).await;
    let phone = unique_phone();
    let (_, created) = h.create(&create_body(&phone, json!({}))).await;
    let sms = testkit::wait_for_sms(&phone, 1, testkit::TIMEOUT).await;
    assert_eq!(created["OtpCode"].as_str(), testkit::digits(&sms[0], 6).as_deref());
}

#[tokio::test]
async fn when_accept_language_is_turkish_should_text_in_turkish() {
    let h = harness(&[]).await;
    let phone = unique_phone();
    let mut request = post(&create_body(&phone, json!({})));
    request.headers_mut().insert("accept-language", "tr-TR,tr;q=0.9".parse().unwrap());
    let (status, _) = read(shared::twofactor::handler::create(&h.app, request).await).await;
    assert_eq!(status, 200);
    let sms = testkit::wait_for_sms(&phone, 1, testkit::TIMEOUT).await;
    assert!(sms[0].starts_with("Dogrulama kodunuz"), "folded into GSM-7: {}", sms[0]);
}

#[tokio::test]
async fn when_input_is_bad_should_answer_4xx_with_a_code_and_store_nothing() {
    let h = harness(&[]).await;
    let phone = unique_phone();
    let cases: Vec<(String, u16, u64)> = vec![
        (String::new(), 400, 4001),
        ("{".into(), 400, 4001),
        ("[]".into(), 400, 4001),
        (json!({"UserId": USER, "GsmNumber": "sample string 2", "TwoFactorConfigurationId": 1}).to_string(), 400, 4001),
        (create_body(&phone, json!({"TwoFactorConfigurationId": 3})), 400, 4002),
        (create_body(&phone, json!({"TwoFactorConfigurationId": null})), 400, 4002),
        (create_body(&phone, json!({"MaxSMSCount": -1})), 400, 4001),
        (create_body(&phone, json!({"OtpExpirationPeriod": 601})), 400, 4001),
        (create_body(&phone, json!({"MaxSMSInterval": 86_401})), 400, 4001),
        (create_body(&phone, json!({"UserId": "not-a-guid"})), 400, 4001),
        (create_body(&phone, json!({"IsSync": "maybe"})), 400, 4001),
        (create_body("+4915123456789", json!({})), 400, 4001),
        (create_body("+902122345678", json!({})), 400, 4001),
        (create_body(&phone, json!({"MaxSMSCount": 1e20})), 400, 4001),
    ];
    for (body, status, code) in cases {
        let (got_status, answer) = h.create(&body).await;
        assert_eq!((got_status.as_u16(), answer["Code"].as_u64()), (status, Some(code)), "{body} -> {answer}");
        assert!(answer["ExceptionMessage"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // Too large, not UTF-8, wrong method: still the family's shape.
    let mut big = post(&format!("{{\"Source\":\"{}\"}}", "x".repeat(70_000)));
    let (status, answer) = read(shared::twofactor::handler::create(&h.app, big).await).await;
    assert_eq!((status.as_u16(), answer["Code"].as_u64()), (413, Some(4001)));
    big = lambda_http::Request::new(lambda_http::Body::Binary(vec![b'{', 0xff, b'}']));
    *big.method_mut() = lambda_http::http::Method::POST;
    let (status, answer) = read(shared::twofactor::handler::verify(&h.app, big).await).await;
    assert_eq!((status.as_u16(), answer["Code"].as_u64()), (400, Some(4001)));
    let get = lambda_http::Request::new(lambda_http::Body::Empty);
    let (status, answer) = read(shared::twofactor::handler::create(&h.app, get).await).await;
    assert_eq!((status.as_u16(), answer["Code"].as_u64()), (405, Some(4001)));
    let mut elsewhere = post(&create_body(&phone, json!({})));
    *elsewhere.uri_mut() = "/api/TwoFactor/CreateTwoFactorSmsOtpX".parse().unwrap();
    let (status, answer) = read(shared::twofactor::handler::create(&h.app, elsewhere).await).await;
    assert_eq!((status.as_u16(), answer["Code"].as_u64()), (404, Some(4001)), "{answer}");
    assert!(testkit::sms_to(&phone).await.is_empty(), "nothing sent for refused requests");
    assert!(testkit::sms_to("+4915123456789").await.is_empty());
}

#[tokio::test]
async fn when_legacy_client_speaks_xml_should_answer_xml_with_code_names() {
    let h = harness(&[]).await;
    let phone = unique_phone();
    let xml = format!(
        r#"<CreateTwoFactorSmsOtpRequest xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.datacontract.org/2004/07/BusinessLayer.Dto.Request"> <GsmNumber>{phone}</GsmNumber> <IsSync>true</IsSync> <MaxSMSCount>4</MaxSMSCount> <MaxSMSInterval>5</MaxSMSInterval> <OtpExpirationPeriod>6</OtpExpirationPeriod> <Source>sample string 7</Source> <TwoFactorConfigurationId>1</TwoFactorConfigurationId> <UserId>{USER}</UserId> </CreateTwoFactorSmsOtpRequest>"#
    );
    for content_type in ["application/xml", "text/xml"] {
        let mut request = post(&xml);
        request.headers_mut().insert("content-type", content_type.parse().unwrap());
        request.headers_mut().insert("accept", "application/xml".parse().unwrap());
        let response = shared::twofactor::handler::create(&h.app, request).await;
        let status = response.status();
        let text = String::from_utf8_lossy(response.body().as_ref()).to_string();
        let root = shared::edge::xml::parse(&text).unwrap();
        assert_eq!(root.name, "CreateTwoFactorSmsOtpResponse");
        assert_eq!(
            root.namespace.as_deref(),
            Some("http://schemas.datacontract.org/2004/07/BusinessLayer.Dto.Response")
        );
        if content_type == "application/xml" {
            assert_eq!(status, 200, "{text}");
            assert_eq!(root.child("Code").unwrap().text, "SuccessCode");
            assert_eq!(root.child("GsmNumber").unwrap().text, phone);
            assert!(root.child("OtpCode").unwrap().nil);
        } else {
            // MaxSMSCount 4 in 5 s is not reached by two; the second is also accepted.
            assert_eq!(status, 200, "{text}");
        }
    }
    // The JSON twin of a refused request, and XML that is no request at all.
    let mut request = post("<Nope/>");
    request.headers_mut().insert("accept", "text/xml".parse().unwrap());
    let response = shared::twofactor::handler::verify(&h.app, request).await;
    assert_eq!(response.status(), 400);
    let root = shared::edge::xml::parse(std::str::from_utf8(response.body().as_ref()).unwrap()).unwrap();
    assert_eq!(root.child("Code").unwrap().text, "InvalidRequestCode");
    let (status, body) =
        read(shared::twofactor::handler::create(&h.app, post("<CreateTwoFactorSmsOtpRequest><")).await).await;
    assert_eq!((status.as_u16(), body["Code"].as_u64()), (400, Some(4001)), "{body}");
}

#[tokio::test]
async fn when_drawn_id_is_taken_should_draw_again_and_never_reuse_it() {
    use shared::edge::Failure;
    use shared::twofactor::request::CreateRequest;
    let h = harness(&[]).await;
    let (taken, free) = (2_147_000_001_u64, 2_147_000_002_u64);
    // GIVEN the id the generator draws first is reserved already
    h.app
        .store
        .client()
        .put_item()
        .table_name(&h.app.config.common.table_name)
        .item("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("OTPID#{taken}")))
        .item("sk", aws_sdk_dynamodb::types::AttributeValue::S("OTP".into()))
        .send()
        .await
        .unwrap();
    let phone = unique_phone();
    let request = || CreateRequest::parse(&create_body(&phone, json!({}))).unwrap();
    // WHEN an OTP is created THEN it gets the next draw, and its SMS goes out once
    let mut draws = [taken, free].into_iter();
    let created = h.app.create_with_ids(request(), None, None, || draws.next().unwrap()).await.unwrap();
    assert_eq!(created.numeric_id, free);
    assert_eq!(testkit::wait_for_sms(&phone, 1, testkit::TIMEOUT).await.len(), 1);
    // WHEN every draw is taken (now both are) THEN the create gives up as busy, sending nothing
    let err = h.app.create_with_ids(request(), None, None, || taken).await.unwrap_err();
    assert!(matches!(err, Failure::Busy), "{err:?}");
    let err = h.app.create_with_ids(request(), None, None, || free).await.unwrap_err();
    assert!(matches!(err, Failure::Busy), "{err:?}");
    assert_eq!(testkit::sms_to(&phone).await.len(), 1);
}

#[tokio::test]
async fn when_the_key_is_rotated_should_verify_codes_of_the_old_version_until_it_is_dropped() {
    const V1: &str = "1:first-key-of-thirty-two-characters!!";
    const V2_V1: &str = "2:second-key-of-thirty-two-characters!,1:first-key-of-thirty-two-characters!!";
    const V2: &str = "2:second-key-of-thirty-two-characters!";
    let before = harness(&[("OTP_KEYS", V1)]).await;
    let phone = testkit::unique_phone();
    let (old_id, old_code) = before.otp(&phone, json!({})).await;
    let (dropped_id, dropped_code) = before.otp(&phone, json!({})).await;
    // GIVEN a deployment with version 2 current and version 1 kept
    let rotated = harness(&[("OTP_KEYS", V2_V1)]).await;
    // THEN a code made under version 1 verifies, and new codes are made under version 2
    assert_eq!(rotated.verify(&old_id, &old_code).await.0, 200);
    let (new_id, new_code) = rotated.otp(&phone, json!({})).await;
    // AND once version 1 is dropped, its codes no longer verify, version 2's do
    let after = harness(&[("OTP_KEYS", V2)]).await;
    assert_ne!(after.verify(&dropped_id, &dropped_code).await.0, 200);
    assert_eq!(after.verify(&new_id, &new_code).await.0, 200);
}

#[tokio::test]
async fn when_a_path_of_the_family_has_no_endpoint_should_answer_the_familys_404() {
    // GIVEN the verify function, which the template also gives every other /api/TwoFactor/ path
    let h = harness(&[]).await;
    let (otp_id, code) = h.otp(&unique_phone(), json!({})).await;
    let at = |path: &str, body: &str| {
        let mut request = post(body);
        *request.uri_mut() = path.parse().unwrap();
        request
    };
    let verify = json!({"UserId": USER, "OtpIdReference": otp_id, "OtpCode": code}).to_string();
    // WHEN an unknown path is asked, even with a valid verification THEN 404 in the family's shape,
    // and nothing is verified
    for path in ["/api/TwoFactor/NoSuchOperation", "/prod/api/TwoFactor/VerifyTwoFactorSmsOtpX"] {
        let (status, body) = read(shared::twofactor::handler::route(&h.app, at(path, &verify)).await).await;
        assert_eq!((status.as_u16(), body["Success"].as_bool()), (404, Some(false)), "{path}: {body}");
        assert_eq!(body["Code"], 4001, "{path}: {body}");
    }
    // AND its own path (stage prefix or not) is verified
    let path = "/prod/api/TwoFactor/VerifyTwoFactorSmsOtp";
    let (status, body) = read(shared::twofactor::handler::route(&h.app, at(path, &verify)).await).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn when_ttl_has_removed_the_otp_should_answer_not_found() {
    // GIVEN an OTP whose item DynamoDB's TTL has removed (a day after it expired)
    let h = harness(&[]).await;
    let (otp_id, code) = h.otp(&unique_phone(), json!({})).await;
    let pk = format!("{}{otp_id}", shared::store::schema::OTP_PREFIX);
    let removal = h.app.store.client().delete_item().table_name(testkit::TABLE);
    removal.set_key(Some(shared::store::dynamo::key(&pk, shared::store::schema::OTP_SK))).send().await.unwrap();
    // WHEN its right code comes
    let (status, body) = h.verify(&otp_id, &code).await;
    // THEN there is no such OTP (the cancellation names the missing item: no retry, no 503)
    assert_eq!((status.as_u16(), body["Code"].as_u64()), (404, Some(4003)), "{body}");
}

#[tokio::test]
async fn when_a_verifying_transaction_is_cancelled_should_read_each_items_reason() {
    use shared::twofactor::store::{Acceptance, TwoFactorStore, Verifying};
    use testkit::scripted::{Answer, Scripted};
    let h = harness(&[]).await;
    let (id, user) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let hashes = shared::store::attempts::submitted_hashes(
        &h.app.config.common.keys,
        shared::twofactor::PURPOSE,
        &id.to_string(),
        "123456",
    );
    let acceptance = Acceptance { otp_id: &id, user_id: &user, plain: None, hashes: &hashes, now_ms: 1_000 };
    // The reasons by item: the OTP's, then the number's lock's (no item returned in either).
    let cases = [
        (["TransactionConflict", "ConditionalCheckFailed"], Verifying::Conflict),
        (["None", "ConditionalCheckFailed"], Verifying::LockFull { count: 0 }),
        (["ConditionalCheckFailed", "None"], Verifying::NotFound),
        (["TransactionConflict", "None"], Verifying::Conflict),
    ];
    for (reasons, expected) in cases {
        let script = Scripted::new([Answer::Cancelled(reasons.to_vec())]);
        let store = TwoFactorStore::new(testkit::scripted::client(&script).await, testkit::TABLE);
        let lock = store.failure_lock("+905320000000", 5, 86_400_000);
        // The OTP held by another request: whether it would accept the code is unknown, so a
        // refusal by the lock does not mean "right code, number locked" (LockFull): try again.
        assert_eq!(store.verify(&acceptance, &lock, None, 0).await.unwrap(), expected, "{reasons:?}");
    }
}
