//! The function binary, run as Lambda runs it (a runtime-API stub, the SDK on moto), counts a
//! code sent by SMS and e-mail in its one EMF line per request, by destination country, and
//! prints neither the number, nor the address, nor the code.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use serde_json::{Value, json};
use testkit::emf::extract;

#[test]
fn when_a_code_goes_by_sms_and_email_should_count_both_by_country_and_print_nothing_personal() {
    // GIVEN the function as Lambda starts it and a request for a code by SMS (Argentina) and
    // e-mail, from a demo application
    let number = format!("9112{}", &testkit::unique_phone()[6..]);
    let address = format!("ana.{}@tienda.online", std::process::id());
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(testkit::workspace_root().join("events/generate-cnf-code-not-user.json")).unwrap(),
    )
    .unwrap();
    event["body"] = Value::String(
        json!({"applicationId": "demo", "internationalPrefix": "54", "mobileNumber": number,
                           "emailAddress": address, "language": "es"})
        .to_string(),
    );
    let env = testkit::lambda::function_env(&[("RUST_LOG", "info")]);

    // WHEN it serves it
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_generate-cnf-code-not-user"));
    let run = testkit::lambda::run(binary, &env, vec![event]);

    // THEN it answered, and its one metric line counts the code, the SMS to AR and the e-mail
    assert_eq!(run.responses.len(), 1, "{run:#?}");
    assert_eq!(run.responses[0]["statusCode"], 200, "{run:#?}");
    let lines = testkit::lambda::emf_lines(&run.stdout);
    assert_eq!(lines.len(), 1, "{}", run.stdout);
    let data = extract(&lines[0].0).unwrap_or_else(|e| panic!("{e}: {}", lines[0].0));
    let value = |name: &str, dimensions: &[(&str, &str)]| {
        data.iter()
            .find(|d| {
                d.name == name
                    && d.dimensions.len() == dimensions.len()
                    && d.dimensions.iter().zip(dimensions).all(|((k, v), (x, y))| k == x && v == y)
            })
            .map(|d| d.values[0])
    };
    let operation = [("Family", "B"), ("Operation", "Generate")];
    assert_eq!(value("CodesSent", &[("Country", "AR")]), Some(1.0));
    assert_eq!(value("SmsDelivered", &[("Country", "AR")]), Some(1.0));
    assert_eq!(value("EmailsDelivered", &operation), Some(1.0));
    assert_eq!(value("Requests", &[("Family", "B"), ("Operation", "Generate"), ("Outcome", "Sent")]), Some(1.0));
    assert_eq!(value("Requests", &[]), Some(1.0));
    assert_eq!(value("Refusals", &[("Rule", "BadInput")]), None);
    // ... and no line it printed holds the number, the address or the code
    let rt = tokio::runtime::Runtime::new().unwrap();
    let e164 = format!("+54{number}");
    let sms = rt.block_on(testkit::wait_for_sms(&e164, 1, testkit::TIMEOUT));
    let code = testkit::digits(sms.first().expect("the SMS went out"), 6).expect("a code");
    let output = format!("{}\n{}", run.stdout, run.stderr);
    testkit::lambda::assert_nothing_personal(&output, &[&e164, &number, &address, &code]);
}
