//! Family B end to end through the handlers, against moto.

use crate::helpers;

use std::sync::Arc;

use helpers::preregistration::{harness, payload};
use serde_json::json;

const NO_GAP: &[(&str, &str)] = &[("CNF_RESEND_GAP_SECONDS", "0")];
const KINPOS: &str = "http://schemas.datacontract.org/2004/07/KinPOS.API";
const REQUESTS: &str = "http://schemas.datacontract.org/2004/07/SFE.Auth.Core.Requests";

/// A family B call with a body in XML and an XML answer asked for.
async fn call_xml(
    h: &helpers::preregistration::Harness,
    validate: bool,
    body: &str,
) -> (u16, shared::edge::xml::Element) {
    let mut request = helpers::post(body);
    request.headers_mut().insert("content-type", "application/xml".parse().unwrap());
    request.headers_mut().insert("accept", "application/xml".parse().unwrap());
    let response = if validate {
        shared::preregistration::handler::validate(&h.app, request).await
    } else {
        shared::preregistration::handler::generate(&h.app, request).await
    };
    let text = String::from_utf8_lossy(response.body().as_ref()).to_string();
    (response.status().as_u16(), shared::edge::xml::parse(&text).unwrap())
}

fn unique_mobile() -> String {
    // Argentine mobiles (+54 9 11 ...), national part unique per call.
    testkit::unique_phone().replace("+90532", "9115")
}

fn unique_address() -> String {
    helpers::signup::unique_address().replace("@example.com", "@shop.online")
}

fn other(code: &str) -> &'static str {
    if code == "000000" { "111111" } else { "000000" }
}

#[tokio::test]
async fn when_code_goes_to_phone_and_email_encrypted_should_validate_once() {
    let h = harness(&[], None).await;
    let (mobile, address) = (unique_mobile(), unique_address());
    let (status, body) = h
        .generate(&json!({"applicationId": "demo-encrypted", "internationalPrefix": "54", "mobileNumber": mobile,
                           "emailAddress": address, "language": "en", "deviceAltId": "device-7",
                           "auditInfo": {"ipAddress": "203.0.113.7", "countryCode": "AR"},
                           "additionalParameters": {"campaign": "spring"}}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "only encryptedData: {body}");
    let result = payload(&body);
    assert_eq!(result["channels"], json!(["SMS", "EMAIL"]));
    assert_eq!((result["expiresInSeconds"].as_u64(), result["resendAfterSeconds"].as_u64()), (Some(600), Some(30)));
    assert!(result["maskedMobileNumber"].as_str().unwrap().starts_with("+54 9"));
    assert!(result["maskedEmailAddress"].as_str().unwrap().ends_with("@shop.online"));
    let id = result["confirmationId"].as_str().unwrap().to_string();

    // Each channel gets its own code of the one confirmationId.
    let e164 = format!("+54{mobile}");
    let sms = testkit::wait_for_sms(&e164, 1, testkit::TIMEOUT).await;
    let code = testkit::digits(&sms[0], 6).unwrap();
    assert!(sms[0].starts_with("Your confirmation code"), "{}", sms[0]);
    let emails = helpers::signup::emails_to(&address).await;
    let email_code = testkit::digits(&emails[0], 6).unwrap();
    assert_ne!(email_code, code);
    use shared::preregistration::channels::{CodeChannel, channel_of};
    assert_eq!((channel_of(&id, &code), channel_of(&id, &email_code)), (CodeChannel::Sms, CodeChannel::Email));

    let validate =
        |code: &str| json!({"applicationId": "demo-encrypted", "confirmationId": id, "confirmationCode": code});
    let (status, body) = h.validate(&validate(other(&code))).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["remainingAttempts"], 4);
    assert_eq!(body["Message"], "El código de confirmación es incorrecto.", "no language: Spanish");
    let (status, body) = h.validate(&validate(&code)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(payload(&body), json!({"confirmationId": id, "valid": true}));
    assert_eq!(h.validate(&validate(&code)).await.0, 409);

    // The audit fields are stored with the code.
    let stored = h.app.store.get(&uuid::Uuid::parse_str(&id).unwrap()).await.unwrap().unwrap();
    let audit: serde_json::Value = serde_json::from_str(stored.audit_json.as_deref().unwrap()).unwrap();
    assert_eq!(audit["deviceAltId"], "device-7");
    assert_eq!(audit["auditInfo"]["countryCode"], "AR");
    assert_eq!(audit["additionalParameters"]["campaign"], "spring");
}

#[tokio::test]
async fn when_validated_by_destination_should_find_the_latest_code_of_that_application() {
    let h = harness(NO_GAP, None).await;
    let address = unique_address();
    let generate = json!({"applicationId": "demo", "emailAddress": address});
    let (status, first) = h.generate(&generate).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["encryptedData"], serde_json::Value::Null);
    assert_eq!(first["response"]["maskedMobileNumber"], serde_json::Value::Null);
    assert_eq!(h.generate(&generate).await.0, 200);
    let emails = helpers::signup::emails_to(&address).await;
    let latest = testkit::digits(emails.last().unwrap(), 6).unwrap();
    // Another application does not see this code.
    let (status, _) =
        h.validate(&json!({"applicationId": "other", "emailAddress": address, "confirmationCode": latest})).await;
    assert_eq!(status, 404);
    let (status, body) = h
        .validate(&json!({"applicationId": "demo", "emailAddress": address.to_uppercase(), "confirmationCode": latest}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response"]["valid"], true);

    let mobile = unique_mobile();
    let (status, _) =
        h.generate(&json!({"applicationId": "demo", "internationalPrefix": "0054", "mobileNumber": mobile})).await;
    assert_eq!(status, 200);
    let sms = testkit::wait_for_sms(&format!("+54{mobile}"), 1, testkit::TIMEOUT).await;
    assert!(sms[0].starts_with("Tu codigo"), "Spanish by default: {}", sms[0]);
    let code = testkit::digits(&sms[0], 6).unwrap();
    let (status, body) = h
        .validate(&json!({"applicationId": "demo", "internationalPrefix": "54", "mobileNumber": mobile, "confirmationCode": code}))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn when_requests_are_refused_should_answer_in_asp_net_shape() {
    let h = harness(&[], None).await;
    let address = unique_address();
    // Immediate resend.
    assert_eq!(h.generate(&json!({"applicationId": "demo", "emailAddress": address})).await.0, 200);
    let (status, body) = h.generate(&json!({"applicationId": "demo", "emailAddress": address, "language": "pt"})).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["Message"], "Muitos códigos solicitados; tente novamente mais tarde.");
    // Unknown application.
    let (status, body) = h.generate(&json!({"applicationId": "nope", "emailAddress": unique_address()})).await;
    assert_eq!((status.as_u16(), body["Message"].as_str()), (401, Some("Aplicación no autorizada.")));
    // The seed's own sample body.
    let seed = include_str!("../../../events/generate-cnf-code-not-user-seed-sample.json");
    let request = lambda_http::request::from_str(seed).unwrap();
    let (status, body) = helpers::read(shared::preregistration::handler::generate(&h.app, request).await).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["Message"], "The request is invalid.");
    let state = body["ModelState"].as_object().unwrap();
    for key in [
        "request.userTypeAltId",
        "request.mobileNumber",
        "request.internationalPrefix",
        "request.emailAddress",
        "request.ipAddress",
    ] {
        assert!(state.contains_key(key), "{key} missing in {body}");
    }
    // Not a mobile, a country not allowed, malformed JSON, unknown code.
    for (request, field) in [
        (
            json!({"applicationId": "demo", "internationalPrefix": "54", "mobileNumber": "1143211234"}),
            "request.mobileNumber",
        ),
        (
            json!({"applicationId": "demo", "internationalPrefix": "49", "mobileNumber": "15123456789"}),
            "request.mobileNumber",
        ),
    ] {
        let (status, body) = h.generate(&request).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["ModelState"][field].is_array(), "{body}");
    }
    let mut elsewhere = helpers::post(&json!({"applicationId": "demo", "emailAddress": unique_address()}).to_string());
    *elsewhere.uri_mut() = "/prod/api/Auth/1/1/Nothing".parse().unwrap();
    let (status, body) = helpers::read(shared::preregistration::handler::generate(&h.app, elsewhere).await).await;
    assert_eq!(status, 404, "{body}");
    assert!(body["Message"].is_string());
    let mut get = lambda_http::Request::new(lambda_http::Body::Empty);
    *get.uri_mut() = "/api/Auth/1/1/ValidateCnfCodeNotUser".parse().unwrap();
    let (status, body) = helpers::read(shared::preregistration::handler::validate(&h.app, get).await).await;
    assert_eq!(status, 405, "{body}");
    let malformed = helpers::post("{\"applicationId\": \"demo\", ");
    let (status, body) = helpers::read(shared::preregistration::handler::generate(&h.app, malformed).await).await;
    assert_eq!(status, 400);
    assert!(body["ModelState"]["request"].is_array(), "{body}");
    let unknown = json!({"applicationId": "demo", "confirmationId": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "confirmationCode": "123456", "language": "en"});
    let (status, body) = h.validate(&unknown).await;
    assert_eq!((status.as_u16(), body["Message"].as_str()), (404, Some("Confirmation code not found.")));
}

#[tokio::test]
async fn when_code_is_old_or_guessed_should_answer_gone_then_too_many() {
    let h = harness(NO_GAP, None).await;
    let address = unique_address();
    let (_, body) = h.generate(&json!({"applicationId": "demo", "emailAddress": address})).await;
    let id = body["response"]["confirmationId"].as_str().unwrap().to_string();
    let code = testkit::digits(&helpers::signup::emails_to(&address).await[0], 6).unwrap();
    for _ in 0..5 {
        assert_eq!(
            h.validate(&json!({"applicationId": "demo", "confirmationId": id, "confirmationCode": other(&code)}))
                .await
                .0,
            400
        );
    }
    let right = json!({"applicationId": "demo", "confirmationId": id, "confirmationCode": code});
    assert_eq!(h.validate(&right).await.0, 429);

    let (_, body) = h.generate(&json!({"applicationId": "demo", "emailAddress": address})).await;
    let id = body["response"]["confirmationId"].as_str().unwrap().to_string();
    let code = testkit::digits(helpers::signup::emails_to(&address).await.last().unwrap(), 6).unwrap();
    h.clock.advance_ms(600_000);
    let (status, body) =
        h.validate(&json!({"applicationId": "demo", "confirmationId": id, "confirmationCode": code})).await;
    assert_eq!(status, 410, "{body}");
}

#[tokio::test]
async fn when_sms_cannot_be_sent_should_answer_502_and_never_accept_the_code() {
    let failing = Arc::new(helpers::FailingSms::default());
    let h = harness(&[], Some(failing.clone())).await;
    let mobile = unique_mobile();
    let (status, body) =
        h.generate(&json!({"applicationId": "demo", "internationalPrefix": "54", "mobileNumber": mobile})).await;
    assert_eq!(status, 502, "{body}");
    let code = testkit::digits(failing.0.lock().unwrap().last().unwrap(), 6).unwrap();
    // Every page, and only this test's code: the table is shared by all the tests of this binary.
    let items = testkit::scan_prefix("CNF#").await;
    let id = items
        .iter()
        .filter(|i| i.get("mob").and_then(|v| v.as_s().ok()).is_some_and(|m| m.ends_with(&mobile)))
        .filter(|i| i.get("dlv").and_then(|v| v.as_s().ok()).is_some_and(|d| d == "failed"))
        .find_map(|i| i.get("pk")?.as_s().ok()?.strip_prefix("CNF#").map(str::to_string))
        .expect("the undelivered code is marked");
    let (status, _) =
        h.validate(&json!({"applicationId": "demo", "confirmationId": id, "confirmationCode": code})).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_30_validations_of_the_right_code_race_should_succeed_exactly_once() {
    let h = harness(&[], None).await;
    let address = unique_address();
    let (_, body) = h.generate(&json!({"applicationId": "demo", "emailAddress": address})).await;
    let id = body["response"]["confirmationId"].as_str().unwrap().to_string();
    let code = testkit::digits(&helpers::signup::emails_to(&address).await[0], 6).unwrap();
    let request = json!({"applicationId": "demo", "confirmationId": id, "confirmationCode": code}).to_string();
    let tasks: Vec<_> = (0..30)
        .map(|_| {
            let (app, request) = (h.app.clone(), request.clone());
            tokio::spawn(async move {
                shared::preregistration::handler::validate(&app, helpers::post(&request)).await.status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 29, "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_20_generates_race_for_one_phone_should_send_exactly_5_sms() {
    let h = harness(NO_GAP, None).await;
    let mobile = unique_mobile();
    let request = json!({"applicationId": "demo", "internationalPrefix": "54", "mobileNumber": mobile}).to_string();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (app, request) = (h.app.clone(), request.clone());
            tokio::spawn(async move {
                shared::preregistration::handler::generate(&app, helpers::post(&request)).await.status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 15, "{statuses:?}");
    assert_eq!(testkit::sms_to(&format!("+54{mobile}")).await.len(), 5);
}

#[tokio::test]
async fn when_legacy_client_speaks_xml_should_accept_the_seed_form_and_answer_xml() {
    let h = harness(&[], None).await;
    let address = unique_address();
    let xml = include_str!("../fixtures/seed-generate-cnf-code-not-user.xml")
        .replace("sample string 1<", "203.0.113.8<")
        .replace("<userTypeAltId>203.0.113.8<", "<userTypeAltId>3698b76f-a5c0-4b04-b579-bc084019fb95<")
        .replace("<d2p1:countryCode>sample string 4<", "<d2p1:countryCode>AR<")
        .replace("<mobileNumber>sample string 2</mobileNumber>", "")
        .replace("<internationalPrefix>sample string 3</internationalPrefix>", "")
        .replace("<emailAddress>sample string 4<", &format!("<emailAddress>{address}<"))
        .replace("sample string 7", "demo")
        .replace("sample string 10", "en")
        .replace("sample string 13", "203.0.113.7");
    let mut request = helpers::post(&xml);
    request.headers_mut().insert("content-type", "text/xml".parse().unwrap());
    request.headers_mut().insert("accept", "application/xml".parse().unwrap());
    let response = shared::preregistration::handler::generate(&h.app, request).await;
    let text = String::from_utf8_lossy(response.body().as_ref()).to_string();
    assert_eq!(response.status(), 200, "{text}");
    let root = shared::edge::xml::parse(&text).unwrap();
    // As DataContractSerializer names and places GenericResult<GenerateCnfCodeNotUserResponse>.
    assert_eq!(root.name, "GenericResultOfGenerateCnfCodeNotUserResponseNXX2sC_S0");
    assert_eq!(root.namespace.as_deref(), Some(KINPOS));
    assert!(root.child("encryptedData").unwrap().nil);
    let result = root.child("response").unwrap();
    assert_eq!(result.namespace.as_deref(), Some(KINPOS), "the member is the generic type's");
    for member in &result.children {
        assert_eq!(member.namespace.as_deref(), Some(REQUESTS), "{} is the payload type's", member.name);
    }
    assert_eq!(result.child("channels").unwrap().children[0].text, "EMAIL");
    assert!(result.child("maskedMobileNumber").unwrap().nil);
    let stored =
        h.app.store.get(&uuid::Uuid::parse_str(&result.child("confirmationId").unwrap().text).unwrap()).await.unwrap();
    let audit: serde_json::Value = serde_json::from_str(stored.unwrap().audit_json.as_deref().unwrap()).unwrap();
    assert_eq!(audit["deviceId"], 11, "XML values read like their JSON twins");
    assert_eq!(audit["additionalParameters"]["203.0.113.8"], "sample string 2");

    // The seed's sample as it stands: ModelState in Web API's XML error.
    let mut request = helpers::post(include_str!("../fixtures/seed-generate-cnf-code-not-user.xml"));
    request.headers_mut().insert("accept", "text/xml".parse().unwrap());
    let response = shared::preregistration::handler::generate(&h.app, request).await;
    assert_eq!(response.status(), 400);
    let error = shared::edge::xml::parse(std::str::from_utf8(response.body().as_ref()).unwrap()).unwrap();
    assert_eq!(error.name, "Error");
    assert!(error.child("ModelState").unwrap().child("request.mobileNumber").is_some());
    // Broken or hostile XML.
    for body in
        ["<GenerateCnfCodeNotUserRequest>", "<Wrong xmlns=\"urn:x\"/>", "<!DOCTYPE a [<!ENTITY b \"c\">]><a>&b;</a>"]
    {
        let response = shared::preregistration::handler::generate(&h.app, helpers::post(body)).await;
        assert_eq!(response.status(), 400, "{body}");
    }
}

/// SNS, until told to refuse.
struct Switchable {
    sns: shared::aws::sns::SnsSmsSender,
    refuse: std::sync::atomic::AtomicBool,
}

impl shared::aws::sns::SmsSender for Switchable {
    fn send<'a>(&'a self, to: &'a str, text: &'a str, sender: &'a str) -> shared::aws::sns::SendFuture<'a> {
        if self.refuse.load(std::sync::atomic::Ordering::SeqCst) {
            return Box::pin(async { Err(shared::aws::sns::SmsError::failed("carrier unavailable")) });
        }
        self.sns.send(to, text, sender)
    }
}

#[tokio::test]
async fn when_a_resend_cannot_be_delivered_should_validate_by_destination_against_the_last_delivered_code() {
    let sdk = testkit::sdk_config().await;
    let sms = Arc::new(Switchable { sns: shared::aws::sns::SnsSmsSender::new(&sdk, "0.50"), refuse: false.into() });
    let h = harness(&[("CNF_RESEND_GAP_SECONDS", "0")], Some(sms.clone())).await;
    let mobile = unique_mobile();
    let e164 = format!("+54{mobile}");
    let generate = json!({"applicationId": "demo", "internationalPrefix": "54", "mobileNumber": mobile});
    assert_eq!(h.generate(&generate).await.0, 200);
    let first = testkit::digits(testkit::wait_for_sms(&e164, 1, testkit::TIMEOUT).await.last().unwrap(), 6).unwrap();
    sms.refuse.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(h.generate(&generate).await.0, 502);
    let validate = json!({"applicationId": "demo", "internationalPrefix": "54", "mobileNumber": mobile, "confirmationCode": first});
    let (status, body) = h.validate(&validate).await;
    assert_eq!(status, 200, "the delivered code still validates by destination: {body}");
}

#[tokio::test]
async fn when_xml_request_names_a_language_should_answer_errors_in_it_as_json_does() {
    let h = harness(&[], None).await;
    for language in ["en", "pt", "es"] {
        // GIVEN an unknown application, in JSON and in XML
        let (status, json) = h
            .generate(&json!({"applicationId": "nobody", "emailAddress": unique_address(), "language": language}))
            .await;
        assert_eq!(status, 401);
        let xml = format!(
            "<GenerateCnfCodeNotUserRequest xmlns=\"{REQUESTS}\"><applicationId>nobody</applicationId>\
             <emailAddress>{}</emailAddress><language>{language}</language></GenerateCnfCodeNotUserRequest>",
            unique_address()
        );
        let (status, error) = call_xml(&h, false, &xml).await;
        // THEN both answer in the language asked for
        assert_eq!(status, 401);
        assert_eq!(error.child("Message").unwrap().text, json["Message"].as_str().unwrap(), "{language}");

        // GIVEN an unknown confirmationId
        let unknown = uuid::Uuid::new_v4().to_string();
        let (status, json) = h
            .validate(&json!({"applicationId": "demo", "confirmationId": unknown, "confirmationCode": "123456",
                              "language": language}))
            .await;
        assert_eq!(status, 404);
        let xml = format!(
            "<ValidateCnfCodeNotUserRequest xmlns=\"{REQUESTS}\"><applicationId>demo</applicationId>\
             <confirmationCode>123456</confirmationCode><confirmationId>{unknown}</confirmationId>\
             <language>{language}</language></ValidateCnfCodeNotUserRequest>"
        );
        let (status, error) = call_xml(&h, true, &xml).await;
        assert_eq!(status, 404);
        assert_eq!(error.child("Message").unwrap().text, json["Message"].as_str().unwrap(), "{language}");
    }
    let (_, english) =
        h.generate(&json!({"applicationId": "nobody", "emailAddress": "a@b.co", "language": "en"})).await;
    assert_eq!(english["Message"], "Application not authorized.", "the English text, not the default Spanish");
}

#[tokio::test]
async fn when_xml_answers_validation_or_encrypted_data_should_name_contracts_as_dotnet_does() {
    let h = harness(NO_GAP, None).await;
    let address = unique_address();
    let generate = |app: &str| {
        format!(
            "<GenerateCnfCodeNotUserRequest xmlns=\"{REQUESTS}\"><applicationId>{app}</applicationId>\
             <emailAddress>{address}</emailAddress></GenerateCnfCodeNotUserRequest>"
        )
    };
    // Encrypted: the payload is absent, still declared in its own namespace.
    let (status, root) = call_xml(&h, false, &generate("demo-encrypted")).await;
    assert_eq!(status, 200);
    assert_eq!(root.name, "GenericResultOfGenerateCnfCodeNotUserResponseNXX2sC_S0");
    assert!(!root.child("encryptedData").unwrap().nil);
    assert!(root.child("response").unwrap().nil);

    let (status, root) = call_xml(&h, false, &generate("demo")).await;
    assert_eq!(status, 200);
    let confirmation = root.child("response").unwrap().child("confirmationId").unwrap().text.clone();
    let emails = helpers::signup::emails_to(&address).await;
    let code = testkit::digits(emails.last().unwrap(), 6).unwrap();
    let (status, root) = call_xml(
        &h,
        true,
        &format!(
            "<ValidateCnfCodeNotUserRequest xmlns=\"{REQUESTS}\"><applicationId>demo</applicationId>\
             <confirmationCode>{code}</confirmationCode><confirmationId>{confirmation}</confirmationId>\
             </ValidateCnfCodeNotUserRequest>"
        ),
    )
    .await;
    assert_eq!(status, 200, "{root:?}");
    assert_eq!(root.name, "GenericResultOfValidateCnfCodeNotUserResponseNXX2sC_S0");
    assert_eq!(root.namespace.as_deref(), Some(KINPOS));
    let result = root.child("response").unwrap();
    let valid = result.child("valid").unwrap();
    assert_eq!((valid.namespace.as_deref(), valid.text.as_str()), (Some(REQUESTS), "true"));
    assert_eq!(result.child("confirmationId").unwrap().namespace.as_deref(), Some(REQUESTS));
}

/// A window bucket's count as stored (0 when there is none).
async fn bucket_count(h: &helpers::preregistration::Harness, pk: &str) -> u64 {
    let out = h.app.store.client().get_item().table_name(testkit::TABLE);
    let out = out.set_key(Some(shared::store::dynamo::key(pk, "WINDOW"))).consistent_read(true).send().await.unwrap();
    out.item().and_then(|item| shared::store::dynamo::get_n::<u64>(item, "cnt")).unwrap_or(0)
}

#[tokio::test]
async fn when_wrong_codes_hit_an_addresss_codes_should_lock_the_address_across_codes_by_its_tag() {
    // GIVEN a failure limit of 3 per destination and e-mail-only codes
    let h = harness(&[("CNF_RESEND_GAP_SECONDS", "0"), ("DESTINATION_FAILURE_LIMIT", "3")], None).await;
    let address = unique_address();
    let generate = json!({"applicationId": "demo", "emailAddress": address});
    let mut codes = Vec::new();
    for _ in 0..4 {
        let (status, body) = h.generate(&generate).await;
        assert_eq!(status, 200, "{body}");
        let id = body["response"]["confirmationId"].as_str().unwrap().to_string();
        let code = testkit::digits(helpers::signup::emails_to(&address).await.last().unwrap(), 6).unwrap();
        codes.push((id, code));
    }
    let validate =
        |id: &str, code: &str| json!({"applicationId": "demo", "confirmationId": id, "confirmationCode": code});
    let spare = codes.pop().unwrap();
    // WHEN one wrong code is tried on each of them, the right one of another after two
    let mut answers = Vec::new();
    for (i, (id, code)) in codes.iter().enumerate() {
        if i == 2 {
            // At the limit minus one, a right code is still accepted (checked against the limit).
            assert_eq!(h.validate(&validate(&spare.0, &spare.1)).await.0, 200);
        }
        let (status, body) = h.validate(&validate(id, other(code))).await;
        answers.push((status.as_u16(), body["remainingAttempts"].as_u64()));
    }
    // THEN the third failure of the address locks it, although each code failed only once
    assert_eq!(answers, [(400, Some(4)), (400, Some(4)), (429, None)]);
    let (id, code) = &codes[2];
    assert_eq!(h.validate(&validate(id, code)).await.0, 429, "the right code of a locked address");
    assert_eq!(h.generate(&generate).await.0, 429, "a new code for a locked address");
    // The lock is keyed by the address's tag (which the ids carry), never by the address.
    let keys = &h.app.config.common.keys;
    let tag = keys.email_tag(keys.current_version(), &address).unwrap();
    let bucket =
        shared::domain::clock::Clock::now_ms(&h.clock) / (h.app.config.common.failure_lock.window_seconds * 1000);
    assert_eq!(bucket_count(&h, &format!("CNF#FAIL#~{tag:010x}#{bucket}")).await, 3);
    assert_eq!(bucket_count(&h, &format!("CNF#FAIL#{address}#{bucket}")).await, 0);
    // Another address is not locked.
    let (status, _) = h.generate(&json!({"applicationId": "demo", "emailAddress": unique_address()})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn when_another_failure_fills_the_lock_between_the_check_and_the_count_should_answer_429() {
    // GIVEN a failure limit of 3, three e-mail codes of one address, one wrong code counted
    let limits = [("CNF_RESEND_GAP_SECONDS", "0"), ("DESTINATION_FAILURE_LIMIT", "3")];
    let (sdk, faults) = testkit::faults::faulty_sdk_config().await;
    let h = helpers::preregistration::harness_on(&sdk, &limits, None);
    let address = unique_address();
    let mut codes = Vec::new();
    for _ in 0..3 {
        let (status, body) = h.generate(&json!({"applicationId": "demo", "emailAddress": address})).await;
        assert_eq!(status, 200, "{body}");
        let id = body["response"]["confirmationId"].as_str().unwrap().to_string();
        let code = testkit::digits(helpers::signup::emails_to(&address).await.last().unwrap(), 6).unwrap();
        codes.push((id, code));
    }
    let wrong = |(id, code): &(String, String)| json!({"applicationId": "demo", "confirmationId": id, "confirmationCode": other(code)});
    assert_eq!(h.validate(&wrong(&codes[0])).await.0, 400);
    // WHEN another request counts a second failure after this validation's check (the lock
    // below the limit's last step) and before its count
    let concurrent = wrong(&codes[1]);
    faults.before("dynamodb:TransactWriteItems", 1, move || async move {
        let other = harness(&limits, None).await;
        assert_eq!(other.validate(&concurrent).await.0, 400, "the concurrent failure");
    });
    let (status, body) = h.validate(&wrong(&codes[2])).await;
    // THEN this failure is the third: it locks the address and says so, not "2 attempts left"
    assert_eq!(status, 429, "{body}");
    assert_eq!(
        h.validate(&json!({"applicationId": "demo", "confirmationId": codes[2].0, "confirmationCode": codes[2].1}))
            .await
            .0,
        429
    );
}

#[tokio::test]
async fn when_a_code_has_a_legacy_v4_id_should_validate_it_by_id_and_by_destination() {
    // GIVEN a code stored as before opaque ids: a v4 id and no `lk`
    let h = harness(NO_GAP, None).await;
    let (mobile, address) = (format!("+54{}", unique_mobile()), unique_address());
    let keys = &h.app.config.common.keys;
    let now = shared::domain::clock::Clock::now_ms(&h.clock);
    let seed = |id: uuid::Uuid| shared::preregistration::store::NewCode {
        id,
        application: "demo".into(),
        mobile: Some(mobile.clone()),
        email: Some(address.clone()),
        hash: keys.hash(1, shared::preregistration::PURPOSE, &id.to_string(), "123456").unwrap(),
        email_hash: None,
        key_version: 1,
        language: "es".into(),
        audit_json: "{}".into(),
        created_ms: now,
        expires_ms: now + 600_000,
        max_attempts: 5,
        id_plain: None,
    };
    let first = uuid::Uuid::new_v4();
    h.app.store.create(&seed(first), &[], &[], shared::store::dynamo::Plan::new(), now).await.unwrap();
    let by_id =
        |code: &str| json!({"applicationId": "demo", "confirmationId": first.to_string(), "confirmationCode": code});
    // WHEN a wrong code, then the right one, then the right one again are submitted
    let (status, body) = h.validate(&by_id("654321")).await;
    // THEN it is counted on the code and on both destinations' locks (the e-mail's by tag)
    assert_eq!((status.as_u16(), body["remainingAttempts"].as_u64()), (400, Some(4)), "{body}");
    let bucket = now / (h.app.config.common.failure_lock.window_seconds * 1000);
    let tag = keys.email_tag(keys.current_version(), &address).unwrap();
    assert_eq!(bucket_count(&h, &format!("CNF#FAIL#{mobile}#{bucket}")).await, 1);
    assert_eq!(bucket_count(&h, &format!("CNF#FAIL#~{tag:010x}#{bucket}")).await, 1);
    let (status, body) = h.validate(&by_id("123456")).await;
    assert_eq!((status.as_u16(), body["response"]["valid"].as_bool()), (200, Some(true)), "{body}");
    assert_eq!(body["response"]["confirmationId"], first.to_string());
    assert_eq!(h.validate(&by_id("123456")).await.0, 409, "used once");

    // A newer legacy code is found by destination too.
    let second = uuid::Uuid::new_v4();
    h.app.store.create(&seed(second), &[], &[], shared::store::dynamo::Plan::new(), now).await.unwrap();
    let by_email = json!({"applicationId": "demo", "emailAddress": address, "confirmationCode": "123456"});
    let (status, body) = h.validate(&by_email).await;
    assert_eq!(
        (status.as_u16(), body["response"]["confirmationId"].as_str()),
        (200, Some(second.to_string().as_str()))
    );
    // Another application never sees it.
    let foreign = json!({"applicationId": "other", "confirmationId": second.to_string(), "confirmationCode": "123456"});
    assert_eq!(h.validate(&foreign).await.0, 404);
}

#[tokio::test]
async fn when_the_stored_id_plaintext_differs_should_not_accept_the_right_code() {
    // GIVEN a code whose stored `lk` is not its id's plaintext (as for an id opened under the
    // wrong key version: its destinations would not be the code's)
    let h = harness(NO_GAP, None).await;
    let address = unique_address();
    let (_, body) = h.generate(&json!({"applicationId": "demo", "emailAddress": address})).await;
    let id = body["response"]["confirmationId"].as_str().unwrap().to_string();
    let code = testkit::digits(helpers::signup::emails_to(&address).await.last().unwrap(), 6).unwrap();
    let key = shared::store::dynamo::key(&format!("CNF#{id}"), "CNF");
    let update = h.app.store.client().update_item().table_name(testkit::TABLE).set_key(Some(key));
    let other_plain =
        aws_sdk_dynamodb::types::AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(vec![7u8; 16]));
    update.update_expression("SET lk = :lk").expression_attribute_values(":lk", other_plain).send().await.unwrap();
    // WHEN the right code is submitted THEN the validating write refuses it: unknown
    let right = json!({"applicationId": "demo", "confirmationId": id, "confirmationCode": code});
    assert_eq!(h.validate(&right).await.0, 404);
}

#[tokio::test]
async fn when_a_path_of_the_family_has_no_endpoint_should_answer_web_apis_404() {
    // GIVEN the validate function, which the template also gives every other /api/Auth/1/1/ path
    let h = harness(&[], None).await;
    let address = unique_address();
    let (_, body) = h.generate(&json!({"applicationId": "demo", "emailAddress": address})).await;
    let id = body["response"]["confirmationId"].as_str().unwrap().to_string();
    let code = testkit::digits(helpers::signup::emails_to(&address).await.last().unwrap(), 6).unwrap();
    let validate = json!({"applicationId": "demo", "confirmationId": id, "confirmationCode": code}).to_string();
    let at = |path: &str| {
        let mut request = helpers::post(&validate);
        *request.uri_mut() = path.parse().unwrap();
        request
    };
    // WHEN an unknown path is asked, even with a valid validation THEN ASP.NET Web API's 404
    let response = shared::preregistration::handler::route(&h.app, at("/api/Auth/1/1/NoSuchOperation")).await;
    let (status, body) = helpers::read(response).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["Message"], "No HTTP resource was found that matches the request URI.", "{body}");
    // AND its own path still validates: the unknown path used nothing
    let response = shared::preregistration::handler::route(&h.app, at("/api/Auth/1/1/ValidateCnfCodeNotUser")).await;
    assert_eq!(response.status(), 200);
}
