//! Permissions proven by use (issue 23, item 5). moto enforces no IAM, so a role that lacks an
//! action passes every other test and fails in AWS (family A's idempotent send had no
//! `dynamodb:PutItem`: every keyed send was refused whole). Here each function makes a tour of
//! its operations and outcomes on an SDK that records what IAM would authorise for every call
//! (the action per transaction item, the resource, the partition key's prefix), and the
//! records are held against that function's role as the SAM translator deploys it
//! (`scripts/ci/function_roles.py`):
//! - every use is allowed, by action, resource and `dynamodb:LeadingKeys`, and denied by nothing;
//! - every allowed action and every allowed key prefix is used, or AWS uses it with the role on
//!   the function's behalf (`ON_BEHALF`, each with its reason): a role holds nothing spare.

use crate::helpers;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aws_lambda_events::event::apigw::ApiGatewayV2httpRequestContext;
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use lambda_http::Request;
use lambda_http::request::RequestContext;
use serde_json::{Value, json};
use shared::twofactor::sender;
use testkit::aws_calls::{Use, Uses, recording_sdk_config};

/// Actions no code of ours calls, which AWS performs with the function's role.
const ON_BEHALF: &[(&str, &str, &str)] = &[
    ("*", "kms:Decrypt", "Lambda decrypts the environment and DynamoDB the table, both under DataKey"),
    ("TwoFactorSmsSenderFunction", "dynamodb:DescribeStream", "the stream's event source mapping reads the stream"),
    ("TwoFactorSmsSenderFunction", "dynamodb:GetRecords", "the stream's event source mapping reads the stream"),
    ("TwoFactorSmsSenderFunction", "dynamodb:GetShardIterator", "the stream's event source mapping reads the stream"),
    ("TwoFactorSmsSenderFunction", "dynamodb:ListStreams", "the stream's event source mapping reads the stream"),
    (
        "TwoFactorSmsSenderFunction",
        "sqs:SendMessage",
        "the mapping's on-failure destination (SmsDeliveryFailures; SAM's statement)",
    ),
    ("TwoFactorSmsSenderFunction", "kms:GenerateDataKey", "SQS encrypts the failure queue's messages under DataKey"),
];

/// Managed policies the functions' roles may carry, all used by Lambda itself: logs, traces,
/// and (the sender's, added by SAM for its DynamoDB event) the stream's reads.
const MANAGED: &[&str] = &[
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole",
];

// ---------------------------------------------------------------------------------------
// The roles, and what a statement allows

#[derive(Debug)]
struct Statement {
    allow: bool,
    actions: Vec<String>,
    resources: Vec<String>,
    /// `dynamodb:LeadingKeys` patterns (`ForAllValues:StringLike`), when the statement has them.
    leading_keys: Option<Vec<String>>,
}

fn roles() -> BTreeMap<String, (Vec<Statement>, Vec<String>)> {
    let root = testkit::workspace_root();
    let python = root.join(".venv/bin/python");
    let python = if python.exists() { python } else { "python3".into() };
    let out = std::process::Command::new(python)
        .arg(root.join("scripts/ci/function_roles.py"))
        .arg(root.join("template.yaml"))
        .output()
        .expect("run scripts/ci/function_roles.py (make test installs .venv)");
    assert!(out.status.success(), "function_roles.py: {}", String::from_utf8_lossy(&out.stderr));
    let all: BTreeMap<String, Value> = serde_json::from_slice(&out.stdout).expect("JSON roles");
    let strings = |v: &Value| -> Vec<String> {
        v.as_array().expect("a list").iter().map(|s| s.as_str().expect("a string").to_string()).collect()
    };
    all.into_iter()
        .map(|(function, role)| {
            let statements = role["statements"]
                .as_array()
                .expect("statements")
                .iter()
                .map(|st| {
                    let condition = st["Condition"].as_object().expect("a condition map");
                    let mut leading_keys = None;
                    for (operator, keys) in condition {
                        for (key, values) in keys.as_object().expect("condition keys") {
                            // Any other condition would be ignored here: refuse it, so this test is
                            // taught what it means before it passes.
                            assert_eq!(
                                (operator.as_str(), key.as_str()),
                                ("ForAllValues:StringLike", "dynamodb:LeadingKeys"),
                                "{function}: a condition this test does not evaluate"
                            );
                            leading_keys = Some(strings(values));
                        }
                    }
                    Statement {
                        allow: st["Effect"] == "Allow",
                        actions: strings(&st["Action"]),
                        resources: strings(&st["Resource"]),
                        leading_keys,
                    }
                })
                .collect();
            (function, (statements, strings(&role["managed"])))
        })
        .collect()
}

/// IAM's `StringLike`: `*` any run of characters, `?` one; case-sensitive unless `fold`.
fn like(pattern: &str, text: &str, fold: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if fold {
        (pattern.to_lowercase().chars().collect(), text.to_lowercase().chars().collect())
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    // Classic wildcard matching with backtracking to the last `*`.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < t.len() {
        if i < p.len() && (p[i] == '?' || p[i] == t[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

/// Whether a statement's resource covers what a use touched.
fn covers(resource: &str, used: &str) -> bool {
    match used.split_once('/') {
        // The test table stands for CodesTable (its name differs); a stream is not the table.
        Some(("table", _)) => resource == "<CodesTable.Arn>" || resource == "*",
        Some(("identity", domain)) => {
            resource == "*" || like(resource, &format!("arn:aws:ses:us-east-1:123456789012:identity/{domain}"), false)
        }
        Some(("topic", arn)) => like(resource, arn, false),
        // SMS straight to a phone has no resource ARN: only `*` covers it.
        _ => resource == "*",
    }
}

fn matches(st: &Statement, u: &Use) -> bool {
    st.actions.iter().any(|a| like(a, &u.action, true))
        && st.resources.iter().any(|r| covers(r, &u.resource))
        && match (&st.leading_keys, &u.key_prefix) {
            (None, _) => true,
            // The prefix stands for every key that starts with it: a pattern must take them all.
            (Some(patterns), Some(prefix)) => patterns.iter().any(|p| like(p, &format!("{prefix}\u{1}any"), false)),
            (Some(_), None) => true,
        }
}

fn check(function: &str, uses: &BTreeSet<Use>, role: &(Vec<Statement>, Vec<String>)) -> Vec<String> {
    let (statements, managed) = role;
    let mut errors = Vec::new();
    for u in uses {
        if !statements.iter().any(|st| st.allow && matches(st, u)) {
            errors.push(format!("{function} uses {u:?}, which its role does not allow"));
        }
        if statements.iter().any(|st| !st.allow && matches(st, u)) {
            errors.push(format!("{function} uses {u:?}, which its role denies"));
        }
    }
    let on_behalf = |action: &str| ON_BEHALF.iter().any(|(f, a, _)| (*f == "*" || *f == function) && *a == action);
    for st in statements.iter().filter(|st| st.allow) {
        for action in &st.actions {
            let used = uses
                .iter()
                .any(|u| like(action, &u.action, true) && st.resources.iter().any(|r| covers(r, &u.resource)));
            if !used && !on_behalf(action) {
                errors.push(format!("{function}'s role allows {action} on {:?}, which it never uses", st.resources));
            }
        }
        for pattern in st.leading_keys.iter().flatten() {
            let used = uses
                .iter()
                .filter_map(|u| u.key_prefix.as_deref())
                .any(|p| like(pattern, &format!("{p}\u{1}any"), false));
            if !used {
                errors.push(format!("{function}'s role allows keys {pattern}, which it never touches"));
            }
        }
    }
    for arn in managed {
        if !MANAGED.contains(&arn.as_str()) {
            errors.push(format!("{function}'s role has the managed policy {arn}, which this test does not know"));
        }
    }
    errors
}

// ---------------------------------------------------------------------------------------
// The tours: every operation and outcome of each function, on its own recorder

/// A request as API Gateway delivers it from a public address.
fn from_caller(mut request: Request, key: Option<&str>) -> Request {
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http.source_ip = Some("198.51.100.77".to_string());
    request.extensions_mut().insert(RequestContext::ApiGatewayV2(context));
    if let Some(key) = key {
        request.headers_mut().insert("idempotency-key", key.parse().unwrap());
    }
    request
}

fn fresh_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn other(code: &str) -> &'static str {
    if code == "000000" { "111111" } else { "000000" }
}

async fn recorder() -> (aws_config::SdkConfig, Uses) {
    let (sdk, _, uses) = recording_sdk_config().await;
    (sdk, uses)
}

/// Family C: create, verify and the stream-fed sender.
async fn family_c() -> [(&'static str, BTreeSet<Use>); 3] {
    use helpers::{FailingSms, create_body, harness_on, post, read};
    use shared::twofactor::handler::{create, verify};
    let ((create_sdk, create_uses), (verify_sdk, verify_uses), (sender_sdk, sender_uses)) =
        (recorder().await, recorder().await, recorder().await);
    let creates = harness_on(&create_sdk, &[], None);
    let failing_creates = harness_on(&create_sdk, &[], Some(Arc::new(FailingSms::default())));
    let verifies = harness_on(&verify_sdk, &[], None);
    let phone = testkit::unique_phone();

    // Create: synchronous, with an Idempotency-Key (and its replay), asynchronous, undelivered.
    let (id, code) = creates.otp(&phone, json!({})).await;
    let key = fresh_key();
    for _ in 0..2 {
        let keyed = from_caller(post(&create_body(&phone, json!({}))), Some(&key));
        assert_eq!(create(&creates.app, keyed).await.status(), 200);
        creates.clock.advance_ms(shared::store::idempotency::IN_FLIGHT_MS);
    }
    let (status, pending) =
        read(create(&creates.app, post(&create_body(&phone, json!({"IsSync": false})))).await).await;
    assert_eq!(status, 200, "{pending}");
    let keyed = from_caller(post(&create_body(&phone, json!({}))), Some(&fresh_key()));
    assert_eq!(create(&failing_creates.app, keyed).await.status(), 502);
    // A test number's OTP (its uses counted under 2FA#TEST#), verified with the fixed code.
    let test_number = helpers::test_destinations::unique_number();
    let test_env = [
        (
            "TWO_FACTOR_PROFILES",
            helpers::test_destinations::profiles(helpers::test_destinations::list(&[&test_number], 50)),
        ),
        ("TEST_DESTINATION_CODE", helpers::test_destinations::CODE.to_string()),
    ];
    let test_env: Vec<(&str, &str)> = test_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let test_creates = harness_on(&create_sdk, &test_env, None);
    let (status, test_otp) = read(create(&test_creates.app, post(&create_body(&test_number, json!({})))).await).await;
    assert_eq!(status, 200, "{test_otp}");
    let test_verifies = harness_on(&verify_sdk, &test_env, None);
    let test_id = test_otp["OtpIdReference"].as_str().unwrap();
    let test_verify = verify(&test_verifies.app, post(&verify_body(test_id, helpers::test_destinations::CODE))).await;
    assert_eq!(test_verify.status(), 200);

    // Verify: a wrong code, the right one, a used one; an OTP stored under a v4 id (read first).
    let check = |id: String, code: String| {
        let app = verifies.app.clone();
        async move { read(verify(&app, post(&verify_body(&id, &code))).await).await.0 }
    };
    assert_eq!(check(id.clone(), other(&code).into()).await, 400);
    assert_eq!(check(id.clone(), code.clone()).await, 200);
    assert_ne!(check(id.clone(), code.clone()).await, 200);
    let legacy = uuid::Uuid::new_v4();
    let numeric_id = 2_000_000_000 + u64::from(uuid::Uuid::new_v4().as_fields().0 % 100_000_000);
    helpers::harness(&[]).await.seed_legacy_otp(legacy, numeric_id, &phone, false).await;
    assert_eq!(check(legacy.to_string(), "123456".into()).await, 200);

    // The sender: a pending OTP refused by the carrier, then sent; a watch swept by TTL.
    let pending_id = uuid::Uuid::parse_str(pending["OtpIdReference"].as_str().unwrap()).unwrap();
    let insert = insert_of(&pending_id).await;
    let refusing = harness_on(&sender_sdk, &[], Some(Arc::new(FailingSms::default())));
    assert_eq!(sender::handle(&refusing.app, insert.clone()).await.batch_item_failures.len(), 1);
    let senders = harness_on(&sender_sdk, &[], None);
    assert!(sender::handle(&senders.app, insert).await.batch_item_failures.is_empty());
    let (status, stuck) = read(create(&creates.app, post(&create_body(&phone, json!({"IsSync": false})))).await).await;
    assert_eq!(status, 200, "{stuck}");
    let removal = ttl_removal(stuck["OtpIdReference"].as_str().unwrap());
    assert!(sender::handle(&senders.app, removal).await.batch_item_failures.is_empty());

    [
        ("CreateTwoFactorSmsOtpFunction", create_uses.take()),
        ("VerifyTwoFactorSmsOtpFunction", verify_uses.take()),
        ("TwoFactorSmsSenderFunction", sender_uses.take()),
    ]
}

fn verify_body(id: &str, code: &str) -> String {
    json!({"UserId": helpers::USER, "OtpIdReference": id, "OtpCode": code}).to_string()
}

/// The stream's INSERT of an OTP as stored (read with a client that records nothing).
async fn insert_of(id: &uuid::Uuid) -> Event {
    let client = aws_sdk_dynamodb::Client::new(&testkit::sdk_config().await);
    let key = shared::store::dynamo::key(&format!("OTP#{id}"), "OTP");
    let got = client.get_item().table_name(testkit::TABLE).set_key(Some(key)).consistent_read(true).send().await;
    let mut record = EventRecord::default();
    record.event_name = "INSERT".into();
    record.event_id = id.to_string();
    record.change.sequence_number = Some("1".into());
    record.change.new_image = got.unwrap().item.expect("the OTP").into();
    let mut event = Event::default();
    event.records = vec![record];
    event
}

fn ttl_removal(id: &str) -> Event {
    let path = testkit::workspace_root().join("events/two-factor-sms-sender-ttl-remove.json");
    let mut event: Event = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let pk = serde_dynamo::AttributeValue::S(format!("OTPW#{id}"));
    event.records[0].change.keys.insert("pk".into(), pk);
    event
}

/// Family B: generate and validate.
async fn family_b() -> [(&'static str, BTreeSet<Use>); 2] {
    use helpers::preregistration::harness_on;
    let ((generate_sdk, generate_uses), (validate_sdk, validate_uses)) = (recorder().await, recorder().await);
    let no_gap = &[("CNF_RESEND_GAP_SECONDS", "0")];
    let generates = harness_on(&generate_sdk, no_gap, None);
    let with_gap = harness_on(&generate_sdk, &[], None);
    let failing = harness_on(&generate_sdk, no_gap, Some(Arc::new(helpers::FailingSms::default())));
    let validates = harness_on(&validate_sdk, no_gap, None);
    let mobile = testkit::unique_phone().replace("+90532", "9115");
    let e164 = format!("+54{mobile}");
    let address = helpers::signup::unique_address();
    let body =
        json!({"applicationId": "demo", "internationalPrefix": "54", "mobileNumber": mobile, "emailAddress": address});

    // Generate: SMS and e-mail, with a resend gap, with an Idempotency-Key (and its replay);
    // SMS undelivered.
    let (status, answer) = call(Family::Generate, &with_gap.app, &body, None).await;
    assert_eq!(status, 200, "{answer}");
    let key = fresh_key();
    for _ in 0..2 {
        let (status, answer) = call(Family::Generate, &generates.app, &body, Some(&key)).await;
        assert_eq!(status, 200, "{answer}");
        generates.clock.advance_ms(shared::store::idempotency::IN_FLIGHT_MS);
    }
    let (status, answer) = call(Family::Generate, &generates.app, &body, None).await;
    assert_eq!(status, 200, "{answer}");
    let id = answer["response"]["confirmationId"].as_str().unwrap().to_string();
    let sms = testkit::wait_for_sms(&e164, 3, testkit::TIMEOUT).await;
    let code = testkit::digits(sms.last().unwrap(), 6).unwrap();
    assert_eq!(call(Family::Generate, &failing.app, &body, Some(&fresh_key())).await.0, 502);

    // Validate: a wrong code, the right one, a used one, by destination, an unknown id, a v4 id.
    let by_id = |code: &str| json!({"applicationId": "demo", "confirmationId": id, "confirmationCode": code});
    assert_eq!(call(Family::Validate, &validates.app, &by_id(other(&code)), None).await.0, 400);
    assert_eq!(call(Family::Validate, &validates.app, &by_id(&code), None).await.0, 200);
    assert_eq!(call(Family::Validate, &validates.app, &by_id(&code), None).await.0, 409);
    let (status, answer) = call(Family::Generate, &generates.app, &body, None).await;
    assert_eq!(status, 200, "{answer}");
    let sms = testkit::wait_for_sms(&e164, 4, testkit::TIMEOUT).await;
    let latest = testkit::digits(sms.last().unwrap(), 6).unwrap();
    let by_mobile = json!({"applicationId": "demo", "internationalPrefix": "54", "mobileNumber": mobile,
                           "confirmationCode": latest});
    assert_eq!(call(Family::Validate, &validates.app, &by_mobile, None).await.0, 200);
    let unknown = json!({"applicationId": "demo", "confirmationId": fresh_key(), "confirmationCode": "123456"});
    assert_eq!(call(Family::Validate, &validates.app, &unknown, None).await.0, 404);

    [("GenerateCnfCodeNotUserFunction", generate_uses.take()), ("ValidateCnfCodeNotUserFunction", validate_uses.take())]
}

#[derive(Clone, Copy)]
enum Family {
    Generate,
    Validate,
}

/// A family B call from a public address, with an optional Idempotency-Key.
async fn call(
    which: Family,
    app: &shared::preregistration::Preregistration,
    body: &Value,
    key: Option<&str>,
) -> (lambda_http::http::StatusCode, Value) {
    let request = from_caller(helpers::post(&body.to_string()), key);
    let response = match which {
        Family::Generate => shared::preregistration::handler::generate(app, request).await,
        Family::Validate => shared::preregistration::handler::validate(app, request).await,
    };
    helpers::read(response).await
}

/// Family A: one function sends and confirms.
async fn family_a() -> (&'static str, BTreeSet<Use>) {
    use helpers::signup::{FailingEmail, emails_to, harness_on, unique_address};
    let (sdk, uses) = recorder().await;
    let no_gap = &[("SIGNUP_RESEND_GAP_SECONDS", "0")];
    let h = harness_on(&sdk, no_gap, None);
    let with_gap = harness_on(&sdk, &[], None);
    let failing = harness_on(&sdk, no_gap, Some(Arc::new(FailingEmail::default())));
    let address = unique_address();
    let call = |app: Arc<shared::signup::Signup>, body: Value, key: Option<String>| async move {
        let request = from_caller(helpers::post(&body.to_string()), key.as_deref());
        let mut request = request;
        *request.uri_mut() = "/CognitoSendConfirmCodeRequest".parse().unwrap();
        shared::signup::handler::handle(&app, request).await.status().as_u16()
    };
    let send = json!({"EmailAddress": address});

    // A test address (its uses counted under SIGNUP#TEST#), confirmed with the fixed code.
    let test_list = json!({"expires": helpers::test_destinations::tomorrow(), "emailDomain": "review.example.test"});
    let test_list = test_list.to_string();
    let test_env =
        [("SIGNUP_TEST_DESTINATIONS", test_list.as_str()), ("TEST_DESTINATION_CODE", helpers::test_destinations::CODE)];
    let tests = harness_on(&sdk, &test_env, None);
    let test_address = format!("tour-{}@review.example.test", std::process::id());
    assert_eq!(call(tests.app.clone(), json!({"EmailAddress": test_address}), None).await, 200);
    let confirm = json!({"EmailAddress": test_address, "ConfirmationCode": helpers::test_destinations::CODE});
    assert_eq!(call(tests.app.clone(), confirm, None).await, 200);

    // Send: a new user (with a resend gap), an Idempotency-Key (and its replay), one
    // undelivered, a resend.
    assert_eq!(call(with_gap.app.clone(), send.clone(), None).await, 200);
    let key = fresh_key();
    for _ in 0..2 {
        assert_eq!(call(h.app.clone(), send.clone(), Some(key.clone())).await, 200);
        h.clock.advance_ms(shared::store::idempotency::IN_FLIGHT_MS);
    }
    assert_eq!(call(failing.app.clone(), send.clone(), Some(fresh_key())).await, 502);
    assert_eq!(call(h.app.clone(), send.clone(), None).await, 200);
    let code = testkit::digits(emails_to(&address).await.last().unwrap(), 6).unwrap();

    // Confirm: a wrong code, the right one, then again.
    let confirm = |code: &str| json!({"EmailAddress": address, "ConfirmationCode": code});
    assert_eq!(call(h.app.clone(), confirm(other(&code)), None).await, 400);
    assert_eq!(call(h.app.clone(), confirm(&code), None).await, 200);
    assert_ne!(call(h.app.clone(), confirm(&code), None).await, 200);
    ("CognitoSendConfirmCodeRequestFunction", uses.take())
}

#[tokio::test]
async fn when_each_function_tours_its_operations_should_use_exactly_what_its_role_allows() {
    let roles = roles();
    let mut tours: Vec<(&str, BTreeSet<Use>)> = Vec::new();
    tours.extend(family_c().await);
    tours.extend(family_b().await);
    tours.push(family_a().await);
    let toured: BTreeSet<&str> = tours.iter().map(|(f, _)| *f).collect();
    let deployed: BTreeSet<&str> = roles.keys().map(String::as_str).collect();
    assert_eq!(toured, deployed, "every deployed function makes a tour here");

    let mut errors = Vec::new();
    for (function, uses) in &tours {
        errors.extend(check(function, uses, &roles[*function]));
    }
    let report: String = tours
        .iter()
        .map(|(f, uses)| {
            let lines: Vec<String> = uses
                .iter()
                .map(|u| format!("  {} {} {}", u.action, u.resource, u.key_prefix.as_deref().unwrap_or("")))
                .collect();
            format!("{f}:\n{}\n", lines.join("\n"))
        })
        .collect();
    assert!(errors.is_empty(), "{}\n\nwhat each function used:\n{report}", errors.join("\n"));
}

#[test]
fn when_iam_wildcards_match_should_follow_string_like() {
    assert!(like("OTP#*", "OTP#abc", false));
    assert!(!like("OTP#*", "OTPID#abc", false));
    assert!(like("dynamodb:*", "dynamodb:GetItem", true));
    assert!(like("kms:ReEncrypt*", "KMS:reencryptfrom", true));
    assert!(like("a?c", "abc", false));
    assert!(!like("a?c", "ac", false));
    assert!(like("*", "", false));
}
