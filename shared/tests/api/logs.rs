//! What the functions log about a request: each service operation is one span named after it,
//! with masked destinations only; full numbers, addresses and codes never appear.

use std::sync::{Arc, Mutex};

use lambda_http::tracing::subscriber::fmt::MakeWriter;
use serde_json::json;

use crate::helpers;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> MakeWriter<'w> for Captured {
    type Writer = Captured;

    fn make_writer(&'w self) -> Self::Writer {
        self.clone()
    }
}

/// The functions' subscriber, as Lambda configures it (JSON) at its most verbose level (TRACE:
/// what is masked must stay masked whatever an operator turns on), installed for the whole
/// binary: a subscriber of one thread misses the events whose call sites another test's
/// thread registered first (tracing caches their interest), which made this test flaky.
fn captured() -> &'static Captured {
    static CAPTURED: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    CAPTURED.get_or_init(|| {
        let captured = Captured::default();
        let env = |name: &str| match name {
            "AWS_LAMBDA_LOG_FORMAT" => Some("JSON".to_string()),
            "AWS_LAMBDA_LOG_LEVEL" => Some("TRACE".to_string()),
            _ => None,
        };
        tracing::subscriber::set_global_default(shared::ops::logging::subscriber(env, captured.clone()))
            .expect("no other subscriber in this binary");
        captured
    })
}

#[tokio::test]
async fn when_requests_are_served_should_log_one_span_per_operation_with_masked_fields_only() {
    // GIVEN the functions' subscriber
    let captured = captured();
    let (c, a) = (helpers::harness(&[]).await, helpers::signup::harness(&[], None).await);
    let b = helpers::preregistration::harness(&[], None).await;
    let b_address = helpers::signup::unique_address().replace("@example.com", "@logs.example");
    let (phone, address) = (testkit::unique_phone(), helpers::signup::unique_address());

    // WHEN a family C code is created and verified, and a family A code sent and confirmed
    let (otp_id, code) = c.otp(&phone, json!({})).await;
    assert_eq!(c.verify(&otp_id, &code).await.0, 200);
    let signup_code = a.send_and_read(&address).await;
    assert_eq!(a.confirm(&address, &signup_code).await.0, 200);
    let (status, generated) = b.generate(&json!({"applicationId": "demo", "emailAddress": b_address})).await;
    assert_eq!(status, 200, "{generated}");
    let b_code = testkit::digits(helpers::signup::emails_to(&b_address).await.last().unwrap(), 6).unwrap();
    let id = generated["response"]["confirmationId"].clone();
    let validate = json!({"applicationId": "demo", "confirmationId": id, "confirmationCode": b_code});
    assert_eq!(b.validate(&validate).await.0, 200);

    // THEN each operation's lines carry its span, with the destination masked
    let out = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // (other tests log through it too: look for this test's lines)
    let logged = |span: &str, field: &str, value: &str| {
        lines.iter().any(|l| l["span"]["name"] == span && l["span"][field] == value)
    };
    assert!(logged("two_factor_create", "phone", &shared::domain::mask::phone(&phone)), "create");
    assert!(logged("two_factor_verify", "otp", &otp_id), "verify");
    for name in ["signup_send", "signup_confirm"] {
        assert!(logged(name, "email", &shared::domain::mask::email(&address)), "{name}");
    }
    for name in ["preregistration_generate", "preregistration_validate"] {
        assert!(logged(name, "application", "demo"), "{name}");
    }
    // AND nothing logged holds the number, the address or a code
    for secret in [&phone[1..], address.as_str(), b_address.as_str()] {
        assert!(!out.contains(secret), "logged {secret}");
    }
    // (a 6-digit code could occur by chance in another test's line: look in this test's)
    let ours: Vec<String> = lines
        .iter()
        .filter(|l| {
            [shared::domain::mask::phone(&phone), otp_id.clone(), shared::domain::mask::email(&address)]
                .iter()
                .any(|v| ["phone", "otp", "email"].iter().any(|field| l["span"][field] == v.as_str()))
        })
        .map(|l| l.to_string())
        .collect();
    assert!(ours.len() >= 4, "{ours:?}");
    for secret in [code.as_str(), signup_code.as_str()] {
        assert!(!ours.iter().any(|l| l.contains(secret)), "logged {secret}: {ours:?}");
    }
}

/// The longest run of `number`'s digits (without its `+`) that `line` holds, and the digits of
/// all its distinct runs of 4 or more together: a block beside a part of the number would
/// spell it whole. (Runs of 3 are left out: a masked number's last 3 digits are meant to be
/// there, and 3 digits also match counts, codes and durations by chance.)
fn digits_of(number: &str, line: &str) -> (usize, usize) {
    let number: String = number.chars().filter(char::is_ascii_digit).collect();
    let mut pieces = std::collections::BTreeSet::new();
    for run in line.split(|c: char| !c.is_ascii_digit()).filter(|run| run.len() >= 3) {
        // The longest piece of this run that is also a piece of the number.
        let best = (0..run.len())
            .flat_map(|i| (i + 1..=run.len()).map(move |j| &run[i..j]))
            .filter(|piece| number.contains(piece))
            .max_by_key(|piece| piece.len())
            .unwrap_or("");
        // The same piece again (in the span and in the message) tells nothing more.
        if best.len() >= 4 {
            pieces.insert(best);
        }
    }
    (pieces.iter().map(|p| p.len()).max().unwrap_or(0), pieces.iter().map(|p| p.len()).sum())
}

#[tokio::test]
async fn when_a_number_is_refused_or_served_should_log_at_most_6_of_its_digits_in_any_line() {
    // GIVEN the functions' subscriber at TRACE, and a block breaker that trips after 2 sends
    let captured = captured();
    let settings = [("SMS_BLOCK_MIN_SENDS", "2"), ("SMS_BLOCK_MIN_CALLERS", "1")];
    let c = helpers::harness(&settings).await;
    let b = helpers::preregistration::harness(&settings, None).await;
    // A block no other test uses (theirs start +90532 and +90533), of digits 1 to 9 (zeros
    // match the figures of log lines by chance).
    let pid = std::process::id() as usize;
    let digit = |k: usize| 1 + (pid / 9usize.pow(k as u32)) % 9;
    let block = format!("+90534{}{}{}{}", digit(0), digit(1), digit(2), digit(3));
    let numbers: Vec<String> = (1..=6).map(|i| format!("{block}{}{}{}", 9 - i, i % 4 + 5, 10 - i)).collect();
    // WHEN codes are sent, verified wrongly, and refused by the block breaker in families C and B
    let (otp, code) = c.otp(&numbers[0], json!({})).await;
    assert_eq!(c.verify(&otp, if code == "000000" { "111111" } else { "000000" }).await.0, 400);
    assert_eq!(c.create(&helpers::create_body(&numbers[1], json!({}))).await.0, 200);
    assert_eq!(c.create(&helpers::create_body(&numbers[2], json!({}))).await.0, 429);
    let generate = |number: &str| {
        let national = number.trim_start_matches("+90").to_string();
        json!({"applicationId": "demo", "internationalPrefix": "90", "mobileNumber": national})
    };
    assert_eq!(b.generate(&generate(&numbers[3])).await.0, 200);
    assert_eq!(b.generate(&generate(&numbers[4])).await.0, 200);
    assert_eq!(b.generate(&generate(&numbers[5])).await.0, 429);

    // THEN no line holds more than 6 digits of any of the numbers, alone or together
    let out = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let mut seen = 0;
    for line in out.lines() {
        for number in &numbers {
            let (longest, total) = digits_of(number, line);
            assert!(longest <= 6 && total <= 6, "{number}: {longest} digits in a row, {total} in all: {line}");
            seen += usize::from(line.contains(&shared::domain::mask::phone(number)));
        }
    }
    assert!(seen >= 3, "the refusals were logged (masked): {seen} lines");
}

#[test]
fn when_digits_are_counted_should_find_runs_and_their_sum() {
    assert_eq!(digits_of("+905321234567", "sent to +905321234xxx"), (9, 9));
    assert_eq!(digits_of("+905321234567", "phone=+90*******567"), (0, 0));
    assert_eq!(digits_of("+905321234567", "block 9053 and 1234567"), (7, 11));
    assert_eq!(digits_of("+905321234567", "took 12 ms, 4000 calls"), (0, 0));
    assert_eq!(digits_of("+905321234567", "1234 and 1234 again"), (4, 4));
}
