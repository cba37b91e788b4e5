//! Family A end to end through the handler, against moto.

use crate::helpers;

use std::sync::Arc;

use helpers::signup::{FailingEmail, emails_to, harness, unique_address};

const NO_GAP: &[(&str, &str)] = &[("SIGNUP_RESEND_GAP_SECONDS", "0")];

fn other_code(code: &str) -> &'static str {
    if code == "000000" { "111111" } else { "000000" }
}

#[tokio::test]
async fn when_new_address_signs_up_should_create_user_email_code_and_confirm_once() {
    let h = harness(&[], None).await;
    let address = unique_address();
    // WHEN a code is requested for a new address
    let (status, body) = h.send(&address.to_uppercase()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["Total"].as_i64(), body["OpCode"].as_i64()), (Some(1), Some(0)));
    assert_eq!(body["ErrorText"], serde_json::Value::Null);
    assert_eq!(body["CachedResponse"], false);
    assert_eq!(body["Data2"], serde_json::Value::Null);
    let data = &body["Data"];
    assert_eq!(data["Status"], "UNCONFIRMED");
    assert_eq!(data["Username"], address.as_str(), "addresses are normalised");
    let user_id = data["UserID"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(user_id).is_ok());
    assert_eq!(data["Attributes"], serde_json::json!({"sub": user_id, "email": address, "email_verified": "false"}));
    assert_eq!(data["UserPool"], serde_json::json!({"PoolID": "us-east-1_LocalPool", "ClientID": "local-client"}));
    assert_eq!(data["ClientID"], "local-client");
    assert_eq!((data["SessionTokens"].is_null(), data["Device"].is_null()), (true, true));
    assert_eq!(data["Settings"], serde_json::json!({}));
    assert!(body["TotalExecutionTime"].as_str().unwrap().starts_with("00:00:"));
    assert!(body["RequestTime"].as_str().unwrap().ends_with('Z'));
    // THEN the e-mail carries the code
    let emails = emails_to(&address).await;
    assert_eq!(emails.len(), 1);
    let code = testkit::digits(&emails[0], 6).unwrap();

    let (status, body) = h.confirm(&address, other_code(&code)).await;
    assert_eq!(
        (status.as_u16(), body["OpCode"].as_i64(), body["Total"].as_i64()),
        (400, Some(1002), Some(0)),
        "{body}"
    );
    assert!(body["Data"].is_null() && body["ErrorText"].is_string());

    let (status, body) = h.confirm(&address, &code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Data"]["Status"], "CONFIRMED");
    assert_eq!(body["Data"]["Attributes"]["email_verified"], "true");
    assert_eq!(body["Data"]["UserID"], user_id);

    for (status, body) in [h.confirm(&address, &code).await, h.send(&address).await] {
        assert_eq!((status.as_u16(), body["OpCode"].as_i64()), (409, Some(1007)), "{body}");
    }
}

#[tokio::test]
async fn when_input_is_bad_or_user_unknown_should_answer_4xx_in_the_envelope() {
    let h = harness(&[], None).await;
    for (body, status, op) in [
        ("{\"EmailAddress\":\"a@b.co\"", 400, 1001),
        ("", 400, 1001),
        ("{\"EmailAddress\":\"not an address\"}", 400, 1001),
        ("{\"EmailAddress\":\"String\",\"ConfirmationCode\":\"String\"}", 400, 1001),
        // An address that never asked for a code answers like a wrong code (no enumeration).
        ("{\"EmailAddress\":\"nobody@example.com\",\"ConfirmationCode\":\"123456\"}", 400, 1002),
        ("{\"EmailAddress\":[1]}", 400, 1001),
    ] {
        let (got, answer) = h.json(body).await;
        assert_eq!((got.as_u16(), answer["OpCode"].as_i64()), (status, Some(op)), "{body} -> {answer}");
        assert_eq!(answer["Total"], 0);
    }
}

#[tokio::test]
async fn when_code_is_requested_again_at_once_should_refuse_then_replace_it_after_the_gap() {
    let h = harness(&[], None).await;
    let address = unique_address();
    let first = h.send_and_read(&address).await;
    let (status, body) = h.send(&address).await;
    assert_eq!((status.as_u16(), body["OpCode"].as_i64()), (429, Some(1005)), "{body}");
    assert_eq!(emails_to(&address).await.len(), 1);
    h.clock.advance_ms(30_000);
    let second = h.send_and_read(&address).await;
    if first != second {
        let (status, body) = h.confirm(&address, &first).await;
        assert_eq!(
            (status.as_u16(), body["OpCode"].as_i64()),
            (400, Some(1002)),
            "the earlier code is replaced: {body}"
        );
    }
    assert_eq!(h.confirm(&address, &second).await.0, 200);
}

#[tokio::test]
async fn when_five_codes_were_sent_this_hour_should_refuse_the_sixth() {
    let h = harness(NO_GAP, None).await;
    let address = unique_address();
    for _ in 0..5 {
        assert_eq!(h.send(&address).await.0, 200);
    }
    let (status, body) = h.send(&address).await;
    assert_eq!((status.as_u16(), body["OpCode"].as_i64()), (429, Some(1005)), "{body}");
    h.clock.advance_ms(3_600_000);
    assert_eq!(h.send(&address).await.0, 200);
}

#[tokio::test]
async fn when_code_is_a_day_old_should_answer_expired() {
    let h = harness(&[], None).await;
    let address = unique_address();
    let code = h.send_and_read(&address).await;
    h.clock.advance_ms(24 * 3_600_000);
    let (status, body) = h.confirm(&address, &code).await;
    assert_eq!((status.as_u16(), body["OpCode"].as_i64()), (410, Some(1003)), "{body}");
}

#[tokio::test]
async fn when_five_confirmations_failed_should_refuse_the_right_code() {
    let h = harness(&[], None).await;
    let address = unique_address();
    let code = h.send_and_read(&address).await;
    for _ in 0..5 {
        assert_eq!(h.confirm(&address, other_code(&code)).await.0, 400);
    }
    let (status, body) = h.confirm(&address, &code).await;
    assert_eq!((status.as_u16(), body["OpCode"].as_i64()), (429, Some(1004)), "{body}");
}

#[tokio::test]
async fn when_email_cannot_be_sent_should_answer_delivery_failure_and_drop_the_code() {
    let failing = Arc::new(FailingEmail::default());
    let h = harness(&[], Some(failing.clone())).await;
    let address = unique_address();
    let (status, body) = h.send(&address).await;
    assert_eq!((status.as_u16(), body["OpCode"].as_i64()), (502, Some(1500)), "{body}");
    let attempted = failing.0.lock().unwrap().last().cloned().unwrap();
    assert!(attempted.text.contains("confirmation code") && attempted.html.contains("<strong>"));
    let code = testkit::digits(&attempted.text, 6).unwrap();
    let (status, body) = h.confirm(&address, &code).await;
    assert_eq!((status.as_u16(), body["OpCode"].as_i64()), (410, Some(1003)), "{body}");
}

#[tokio::test]
async fn when_answer_format_is_chosen_should_follow_query_then_suffix_then_accept() {
    let h = harness(NO_GAP, None).await;
    let csv_header = "Total,OpCode,ErrorText,RequestTime,ResponseTime,TotalExecutionTime,CachedResponse,Data,Data2";
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 8] = [
        // ServiceStack's predefined routes: their format, whatever ?format= or Accept say.
        ("/json/reply/CognitoSendConfirmCodeRequest?format=csv", &[("accept", "application/xml")], "application/json"),
        ("/xml/reply/CognitoSendConfirmCodeRequest?format=json", &[("accept", "text/csv")], "application/xml"),
        ("/csv/reply/CognitoSendConfirmCodeRequest?format=xml", &[("accept", "application/json")], "text/csv"),
        ("/CognitoSendConfirmCodeRequest?format=csv", &[("accept", "application/xml")], "text/csv"),
        ("/CognitoSendConfirmCodeRequest.csv", &[("accept", "application/json")], "text/csv"),
        ("/CognitoSendConfirmCodeRequest", &[("accept", "text/csv")], "text/csv"),
        ("/CognitoSendConfirmCodeRequest.xml", &[], "application/xml"),
        ("/CognitoSendConfirmCodeRequest.json", &[("accept", "text/csv")], "application/json"),
    ];
    for (path, headers, want) in cases {
        // A fresh address each time: one may be sent 5 codes an hour.
        let address = unique_address();
        let body = serde_json::json!({ "EmailAddress": address }).to_string();
        let (status, content_type, text) = h.call(path, headers, &body).await;
        assert_eq!(status, 200, "{path}: {text}");
        assert!(content_type.starts_with(want), "{path}: {content_type}");
        match want {
            "text/csv" => {
                let mut reader = csv::Reader::from_reader(text.as_bytes());
                assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>().join(","), csv_header);
                let row = reader.records().next().unwrap().unwrap();
                assert_eq!((&row[0], &row[1]), ("1", "0"));
                let data: serde_json::Value = serde_json::from_str(&row[7]).unwrap();
                assert_eq!(data["Username"], address.as_str());
            }
            "application/xml" => {
                let root = shared::edge::xml::parse(&text).unwrap();
                assert_eq!(root.name, "CognitoSendConfirmCodeResponse");
                assert_eq!(root.child("Data").unwrap().child("Username").unwrap().text, address);
            }
            _ => assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap()["Total"], 1),
        }
    }
}

#[tokio::test]
async fn when_body_is_xml_or_json_labelled_csv_should_read_it() {
    let h = harness(NO_GAP, None).await;
    let address = unique_address();
    let xml = format!(
        "<CognitoSendConfirmCodeRequest xmlns=\"http://schemas.servicestack.net/types\"><EmailAddress>{address}</EmailAddress></CognitoSendConfirmCodeRequest>"
    );
    let (status, _, text) =
        h.call("/CognitoSendConfirmCodeRequest", &[("content-type", "application/xml")], &xml).await;
    assert_eq!(status, 200, "{text}");
    let labelled = serde_json::json!({ "EmailAddress": address }).to_string();
    let (status, content_type, text) = h
        .call("/CognitoSendConfirmCodeRequest", &[("content-type", "text/csv"), ("accept", "text/csv")], &labelled)
        .await;
    assert_eq!(status, 200, "{text}");
    assert!(content_type.starts_with("text/csv"));
    let bomb = "<!DOCTYPE x [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]><CognitoSendConfirmCodeRequest><EmailAddress>&b;</EmailAddress></CognitoSendConfirmCodeRequest>";
    let (status, _, text) = h.call("/CognitoSendConfirmCodeRequest.xml", &[], bomb).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("<OpCode>1001</OpCode>"), "{text}");
}

#[tokio::test]
async fn when_xml_request_is_in_a_namespace_should_answer_in_it_errors_included() {
    let h = harness(NO_GAP, None).await;
    let request = |ns: &str, address: &str| {
        format!(
            "<CognitoSendConfirmCodeRequest xmlns=\"{ns}\"><EmailAddress>{address}</EmailAddress></CognitoSendConfirmCodeRequest>"
        )
    };
    let servicestack = "http://schemas.servicestack.net/types";
    let cdn = "http://schemas.datacontract.org/2004/07/Cdn.Api";
    for (ns, address, status) in [
        (servicestack, unique_address(), 200),
        (servicestack, "not an address".to_string(), 400),
        (cdn, unique_address(), 200),
        ("urn:a-client's-own", unique_address(), 200),
    ] {
        let (got, _, text) = h.call("/xml/reply/CognitoSendConfirmCodeRequest", &[], &request(ns, &address)).await;
        assert_eq!(got, status, "{text}");
        let root = shared::edge::xml::parse(&text).unwrap();
        assert_eq!(root.namespace.as_deref(), Some(ns), "{text}");
        assert_eq!(root.child("OpCode").unwrap().namespace.as_deref(), Some(ns), "{text}");
    }
    // No namespace, or a JSON request: Cdn.Api's, as before.
    let plain = "<CognitoSendConfirmCodeRequest><EmailAddress>x@y</EmailAddress></CognitoSendConfirmCodeRequest>";
    let json = serde_json::json!({ "EmailAddress": "x@y" }).to_string();
    for body in [plain, &json] {
        let (_, _, text) = h.call("/CognitoSendConfirmCodeRequest.xml", &[], body).await;
        assert_eq!(shared::edge::xml::parse(&text).unwrap().namespace.as_deref(), Some(cdn), "{text}");
    }
}

/// Sends `n` confirmations of `code` for `address` at once; each answer's HTTP status.
async fn confirm_at_once(h: &helpers::signup::Harness, address: &str, code: &str, n: usize) -> Vec<u16> {
    let body = serde_json::json!({ "EmailAddress": address, "ConfirmationCode": code }).to_string();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (app, body) = (h.app.clone(), body.clone());
            tokio::spawn(
                async move { shared::signup::handler::handle(&app, helpers::post(&body)).await.status().as_u16() },
            )
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_30_confirmations_of_the_right_code_race_should_confirm_exactly_once() {
    let h = harness(&[], None).await;
    let address = unique_address();
    let code = h.send_and_read(&address).await;
    let statuses = confirm_at_once(&h, &address, &code, 30).await;
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 29, "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_20_wrong_codes_race_should_count_exactly_5_failures() {
    let h = harness(&[], None).await;
    let address = unique_address();
    let code = h.send_and_read(&address).await;
    let statuses = confirm_at_once(&h, &address, other_code(&code), 20).await;
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 15, "{statuses:?}");
    let (status, body) = h.confirm(&address, &code).await;
    assert_eq!((status.as_u16(), body["OpCode"].as_i64()), (429, Some(1004)), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_20_sends_race_for_a_new_address_should_send_exactly_the_limit_to_one_user() {
    let h = harness(NO_GAP, None).await;
    let address = unique_address();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let app = h.app.clone();
            let body = serde_json::json!({ "EmailAddress": address }).to_string();
            tokio::spawn(async move {
                let response = shared::signup::handler::handle(&app, helpers::post(&body)).await;
                let status = response.status().as_u16();
                let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
                (status, body["Data"]["UserID"].as_str().map(str::to_string))
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    let ok: Vec<_> = results.iter().filter(|(s, _)| *s == 200).collect();
    assert_eq!(ok.len(), 5, "{results:?}");
    assert_eq!(results.iter().filter(|(s, _)| *s == 429).count(), 15, "{results:?}");
    let ids: std::collections::BTreeSet<_> = ok.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(ids.len(), 1, "one user, whatever the race: {ids:?}");
    assert_eq!(emails_to(&address).await.len(), 5);
}

/// SES, until told to refuse.
struct Switchable {
    ses: shared::aws::ses::SesEmailSender,
    refuse: std::sync::atomic::AtomicBool,
}

impl shared::aws::ses::EmailSender for Switchable {
    fn send<'a>(&'a self, email: &'a shared::aws::ses::Email) -> shared::aws::ses::SendFuture<'a> {
        if self.refuse.load(std::sync::atomic::Ordering::SeqCst) {
            return Box::pin(async { Err(shared::aws::ses::EmailError("SES unavailable".into())) });
        }
        self.ses.send(email)
    }
}

#[tokio::test]
async fn when_a_resend_cannot_be_emailed_should_keep_the_code_the_user_already_has() {
    let sdk = testkit::sdk_config().await;
    let email = Arc::new(Switchable {
        ses: shared::aws::ses::SesEmailSender::new(&sdk, "no-reply@example.com"),
        refuse: false.into(),
    });
    let h = harness(NO_GAP, Some(email.clone())).await;
    let address = unique_address();
    let first = h.send_and_read(&address).await;
    email.refuse.store(true, std::sync::atomic::Ordering::SeqCst);
    let (status, body) = h.send(&address).await;
    assert_eq!((status.as_u16(), body["OpCode"].as_i64()), (502, Some(1500)), "{body}");
    let (status, body) = h.confirm(&address, &first).await;
    assert_eq!((status.as_u16(), body["OpCode"].as_i64()), (200, Some(0)), "the first code still confirms: {body}");
}

#[tokio::test]
async fn when_a_user_stays_unconfirmed_should_expire_and_once_confirmed_never() {
    let h = harness(&[("UNCONFIRMED_USER_TTL_DAYS", "7")], None).await;
    let address = unique_address();
    let code = h.send_and_read(&address).await;
    let ttl = || async {
        let key = std::collections::HashMap::from([
            ("pk".to_string(), aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{address}"))),
            ("sk".to_string(), aws_sdk_dynamodb::types::AttributeValue::S("USER".into())),
        ]);
        let out = h.app.store.client().get_item().table_name(testkit::TABLE).set_key(Some(key)).send().await.unwrap();
        out.item.unwrap().get("ttl").map(|v| v.as_n().unwrap().parse::<u64>().unwrap())
    };
    let now_s = shared::domain::clock::Clock::now_ms(&h.clock) / 1000;
    assert_eq!(ttl().await, Some(now_s + 7 * 86_400));
    assert_eq!(h.confirm(&address, &code).await.0, 200);
    assert_eq!(ttl().await, None, "a confirmed user is kept");
}

#[tokio::test]
async fn when_a_user_was_stored_before_codes_bound_the_address_should_confirm_it_and_keep_its_id() {
    let sdk = testkit::sdk_config().await;
    let email = Arc::new(Switchable {
        ses: shared::aws::ses::SesEmailSender::new(&sdk, "no-reply@example.com"),
        refuse: true.into(),
    });
    let h = harness(NO_GAP, Some(email.clone())).await;
    let address = unique_address();
    // GIVEN a user and code stored the old way (random id, hash bound to the code's id)
    h.seed_legacy_user(&address, "3e0c9a52-8d7b-4f61-a2c4-5b6d7e8f9a0b", "123456").await;
    let (status, body) = h.confirm(&address, "654321").await;
    assert_eq!((status.as_u16(), body["OpCode"].as_i64()), (400, Some(1002)), "{body}");
    // WHEN a resend's e-mail fails THEN the old code is put back as it was
    let (status, body) = h.send(&address).await;
    assert_eq!((status.as_u16(), body["OpCode"].as_i64()), (502, Some(1500)), "{body}");
    let (status, body) = h.confirm(&address, "123456").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Data"]["UserID"], "3e0c9a52-8d7b-4f61-a2c4-5b6d7e8f9a0b", "the stored id, not a derived one");
    assert_eq!(body["Data"]["Status"], "CONFIRMED");
    let (status, body) = h.confirm(&address, "123456").await;
    assert_eq!((status.as_u16(), body["OpCode"].as_i64()), (409, Some(1007)), "{body}");
}

#[tokio::test]
async fn when_a_user_was_created_under_an_older_key_should_keep_its_id_through_sends_and_confirmation() {
    const V1: &str = "1:first-key-of-thirty-two-characters!!";
    const V2_V1: &str = "2:second-key-of-thirty-two-characters!,1:first-key-of-thirty-two-characters!!";
    let before = harness(&[("OTP_KEYS", V1), ("SIGNUP_RESEND_GAP_SECONDS", "0")], None).await;
    let rotated = harness(&[("OTP_KEYS", V2_V1), ("SIGNUP_RESEND_GAP_SECONDS", "0")], None).await;
    let ids = |body: &serde_json::Value| body["Data"]["UserID"].as_str().unwrap().to_string();

    // A code sent under version 1 confirms under version 2, answering the user's own id.
    let address = unique_address();
    let (_, sent) = before.send(&address).await;
    let code = testkit::digits(emails_to(&address).await.last().unwrap(), 6).unwrap();
    let (status, body) = rotated.confirm(&address, other_code(&code)).await;
    assert_eq!((status.as_u16(), body["OpCode"].as_i64()), (400, Some(1002)), "{body}");
    let (status, body) = rotated.confirm(&address, &code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body), ids(&sent));

    // A resend under version 2 keeps the id made under version 1.
    let address = unique_address();
    let (_, sent) = before.send(&address).await;
    let code = rotated.send_and_read(&address).await;
    let (status, body) = rotated.confirm(&address, &code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body), ids(&sent));
    // A new user under version 2 gets version 2's id.
    let address = unique_address();
    let (_, new) = rotated.send(&address).await;
    assert_ne!(ids(&new), ids(&sent));
}

#[tokio::test]
async fn when_another_failure_fills_the_lock_between_the_check_and_the_count_should_answer_1004() {
    // GIVEN a failure limit of 3 and one wrong code counted on an address
    let limits = [("DESTINATION_FAILURE_LIMIT", "3")];
    let (sdk, faults) = testkit::faults::faulty_sdk_config().await;
    let h = helpers::signup::harness_on(&sdk, &limits, None);
    let address = unique_address();
    let code = h.send_and_read(&address).await;
    assert_eq!(h.confirm(&address, other_code(&code)).await.0, 400);
    // WHEN another request counts a second failure after this confirmation's check (the lock
    // below the limit's last step) and before its count
    let (concurrent, wrong) = (address.clone(), other_code(&code));
    faults.before("dynamodb:TransactWriteItems", 1, move || async move {
        let other = harness(&limits, None).await;
        assert_eq!(other.confirm(&concurrent, wrong).await.0, 400, "the concurrent failure");
    });
    let (status, body) = h.confirm(&address, other_code(&code)).await;
    // THEN this failure is the third: it locks the address and says so, not "wrong code"
    assert_eq!((status.as_u16(), body["OpCode"].as_i64()), (429, Some(1004)), "{body}");
    assert_eq!(h.confirm(&address, &code).await.0, 429, "the right code of a locked address");
}

#[tokio::test]
async fn when_an_address_reaches_its_failure_limit_should_refuse_even_the_right_code_and_sends() {
    let h = harness(&[("DESTINATION_FAILURE_LIMIT", "3"), ("SIGNUP_RESEND_GAP_SECONDS", "0")], None).await;
    // One below the limit, the right code still confirms (checked again against the limit).
    let address = unique_address();
    let code = h.send_and_read(&address).await;
    for _ in 0..2 {
        let (status, body) = h.confirm(&address, other_code(&code)).await;
        assert_eq!((status.as_u16(), body["OpCode"].as_i64()), (400, Some(1002)), "{body}");
    }
    assert_eq!(h.confirm(&address, &code).await.0, 200);

    // The failure that reaches the limit locks the address: the right code and new sends too.
    let address = unique_address();
    let code = h.send_and_read(&address).await;
    for expected in [1002, 1002, 1004] {
        let (_, body) = h.confirm(&address, other_code(&code)).await;
        assert_eq!(body["OpCode"].as_i64(), Some(expected), "{body}");
    }
    let (status, body) = h.confirm(&address, &code).await;
    assert_eq!((status.as_u16(), body["OpCode"].as_i64()), (429, Some(1004)), "{body}");
    let (status, body) = h.send(&address).await;
    assert_eq!((status.as_u16(), body["OpCode"].as_i64()), (429, Some(1004)), "{body}");
    // Until the bucket ends.
    h.clock.advance_ms(3_600_000);
    let code = h.send_and_read(&address).await;
    assert_eq!(h.confirm(&address, &code).await.0, 200);
}
