//! The function binary, run as Lambda runs it (a runtime-API stub, the SDK on moto), prints
//! one CloudWatch embedded-metric-format line per request: valid as CloudWatch reads it, with
//! the metrics and dimensions an operator's dashboard and alarms use, and no phone number or
//! code in that line or any other it prints.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::collections::BTreeSet;

use serde_json::{Value, json};
use testkit::emf::{Datum, extract};

const NAMESPACE: &str = "VerificationCodes/metrics-test";

fn event(body: Value) -> Value {
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(testkit::workspace_root().join("events/create-two-factor-sms-otp.json")).unwrap(),
    )
    .unwrap();
    event["body"] = Value::String(body.to_string());
    event
}

fn create(phone: &str, sync: bool) -> Value {
    event(json!({"UserId": "3698b76f-a5c0-4b04-b579-bc084019fb95", "GsmNumber": phone,
                 "TwoFactorConfigurationId": 1, "MaxSMSCount": 1, "MaxSMSInterval": 300, "IsSync": sync}))
}

/// `Name{Dim=Value,...}=value` of every datum CloudWatch would take from the line.
fn flat(data: &[Datum]) -> BTreeSet<String> {
    data.iter().map(Datum::to_string).collect()
}

#[test]
fn when_the_binary_answers_requests_should_print_one_valid_emf_line_each_and_nothing_personal() {
    // GIVEN the function as Lambda starts it, and four requests: a send, a second send to the
    // same number over its limit (MaxSMSCount 1), a malformed request, an asynchronous send.
    let (sent_to, queued_for) = (testkit::unique_phone(), testkit::unique_phone());
    let malformed: Value = serde_json::from_str(
        &std::fs::read_to_string(testkit::workspace_root().join("events/create-two-factor-sms-otp-malformed.json"))
            .unwrap(),
    )
    .unwrap();
    let events = vec![create(&sent_to, true), create(&sent_to, true), malformed, create(&queued_for, false)];
    let env = testkit::lambda::function_env(&[("METRICS_NAMESPACE", NAMESPACE), ("RUST_LOG", "info")]);

    // WHEN it serves them
    let run = testkit::lambda::run(std::path::Path::new(env!("CARGO_BIN_EXE_create-two-factor-sms-otp")), &env, events);

    // THEN it answered each, as documented
    let statuses: Vec<_> = run.responses.iter().map(|r| r["statusCode"].as_u64()).collect();
    assert_eq!(statuses, [Some(200), Some(429), Some(400), Some(200)], "{run:#?}");
    // ... and printed one EMF line per request, each valid as CloudWatch reads it
    let lines = testkit::lambda::emf_lines(&run.stdout);
    assert_eq!(lines.len(), 4, "{}", run.stdout);
    let data: Vec<Vec<Datum>> =
        lines.iter().map(|(line, _)| extract(line).unwrap_or_else(|e| panic!("{e}: {line}"))).collect();
    assert!(data.iter().flatten().all(|d| d.namespace == NAMESPACE));
    let (sent, limited, bad, queued) = (flat(&data[0]), flat(&data[1]), flat(&data[2]), flat(&data[3]));
    for expected in [
        "Requests{Family=C,Operation=Create,Outcome=Sent}=1",
        "Requests{}=1",
        "CodesSent{Country=TR}=1",
        "SmsDelivered{Country=TR}=1",
        "CodesSent{Family=C,Operation=Create}=1",
        "ServerErrors{Family=C,Operation=Create}=0",
    ] {
        assert!(sent.contains(expected), "{expected} not in {sent:#?}");
    }
    for expected in ["Refusals{Rule=DestinationLimit}=1", "Refusals{Family=C,Rule=DestinationLimit}=1"] {
        assert!(limited.contains(expected), "{expected} not in {limited:#?}");
    }
    assert!(bad.contains("Refusals{Rule=BadInput}=1"), "{bad:#?}");
    assert!(queued.contains("CodesSent{Country=TR}=1") && queued.contains("SmsDelivered{Country=TR}=0"), "{queued:#?}");
    // ... with the handler's latency, in milliseconds
    for datum in data.iter().flatten().filter(|d| d.name == "Latency") {
        assert_eq!(datum.unit.as_deref(), Some("Milliseconds"));
        assert!(datum.values[0] > 0.0 && datum.values[0] < 10_000.0, "{datum:?}");
    }
    // ... whose dimensions come from closed sets: never a number, an address, a caller or an id
    let closed = ["Family", "Operation", "Outcome", "Rule", "Country"];
    for (line, value) in &lines {
        let members: BTreeSet<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        for member in &members {
            let metric = ["Requests", "Latency", "ServerErrors", "CodesSent", "SmsDelivered", "EmailsDelivered"]
                .iter()
                .chain(&["DeliveryFailures", "Verified", "Refusals", "ContentionRetries", "_aws"])
                .any(|m| m == member);
            assert!(metric || closed.contains(member), "unexpected member {member} in {line}");
        }
    }
    // ... and no line it printed (logs or metrics) holds a number or a code sent
    let code_sent = testkit::digits(
        &tokio::runtime::Runtime::new().unwrap().block_on(testkit::wait_for_sms(&sent_to, 1, testkit::TIMEOUT))[0],
        6,
    )
    .expect("the SMS holds a code");
    let output = format!("{}\n{}", run.stdout, run.stderr);
    assert!(output.lines().count() > lines.len(), "the function's logs are checked too: {output}");
    testkit::lambda::assert_nothing_personal(&output, &[&sent_to, &queued_for, &code_sent]);
}
