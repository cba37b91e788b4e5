//! One-tap autofill (issue 25, item 1): every SMS the service sends, as moto received it,
//! parsed by a parser written from the WICG "Origin-bound one-time codes delivered via SMS"
//! grammar, and checked for Android's SMS Retriever (the app hash, one segment).

use crate::helpers;

use serde_json::json;

/// What an origin-bound one-time code message says, per the specification's parsing
/// algorithm (WICG sms-one-time-codes, `index.bs`): line breaks normalised, only the last line
/// read; it starts with `@`, then the top-level host (no ASCII whitespace), exactly one space,
/// `#`, the code (no ASCII whitespace), then optionally one space, `@` and the embedded host;
/// anything after that is ignored. Hosts are held to what Chrome's parser takes
/// (`[a-zA-Z0-9.-]+`: no scheme, port or path).
#[derive(Debug, PartialEq)]
struct OriginBound {
    top: String,
    code: String,
    embedded: Option<String>,
}

fn parse(message: &str) -> Result<OriginBound, String> {
    let normalised = message.replace("\r\n", "\n").replace('\r', "\n");
    let line = normalised.rsplit('\n').next().ok_or("no line")?;
    let token = |s: &str| -> (String, String) {
        let end = s.find(|c: char| c.is_ascii_whitespace()).unwrap_or(s.len());
        (s[..end].to_string(), s[end..].to_string())
    };
    let host = |h: String| {
        let chrome = !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if chrome { Ok(h) } else { Err(format!("not a host: {h:?}")) }
    };
    let rest = line.strip_prefix('@').ok_or_else(|| format!("the last line does not start with @: {line:?}"))?;
    let (top, rest) = token(rest);
    let rest = rest.strip_prefix(" #").ok_or("not one space and # after the host")?;
    let (code, rest) = token(rest);
    if code.is_empty() {
        return Err("no code".into());
    }
    let embedded = match rest.strip_prefix(" @") {
        Some(rest) => Some(host(token(rest).0)?),
        None => None,
    };
    Ok(OriginBound { top: host(top)?, code, embedded })
}

/// The message's SMS Retriever hashes: the line before the origin-bound one.
fn app_hashes(message: &str) -> Vec<String> {
    let lines: Vec<&str> = message.split('\n').collect();
    lines.get(lines.len().wrapping_sub(2)).map(|l| l.split(' ').map(str::to_string).collect()).unwrap_or_default()
}

fn one_segment(message: &str) -> bool {
    let (used, room) = shared::domain::sms_text::segment_use(message);
    used <= room
}

#[test]
fn when_the_parser_reads_the_specifications_examples_should_accept_and_refuse_them() {
    let example = "Your code is 123456.\n\n@example.com #123456";
    assert_eq!(parse(example), Ok(OriginBound { top: "example.com".into(), code: "123456".into(), embedded: None }));
    let embedded = parse("@top.example #747723 @embedded.example").unwrap();
    assert_eq!(embedded.embedded.as_deref(), Some("embedded.example"));
    // The specification's own example of text after the embedded host: ignored.
    let future = parse("@example.com #747723 @ecommerce.example $future").unwrap();
    assert_eq!(future.embedded.as_deref(), Some("ecommerce.example"));
    for bad in [
        "@example.com 123456",
        "example.com #123456",
        "@example.com #123456\ntrailing",
        "@example.com  #1",
        "@example.com\t#1",
        "@https://example.com #1",
        "@example.com:8080 #1",
    ] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
}

const HASHES: [&str; 2] = ["FA+9qCX9VSu", "Zm9vYmFyMDE"];

#[tokio::test]
async fn when_family_c_profiles_set_autofill_should_send_every_language_in_the_formats_each_platform_reads() {
    // GIVEN a profile with an origin, an embedded origin and two Android app hashes
    let mut profiles: serde_json::Value =
        serde_json::from_str(include_str!("../../../config/two-factor-profiles.json")).unwrap();
    profiles[0]["origin"] = json!("login.example.com");
    profiles[0]["embeddedOrigin"] = json!("bank.example");
    profiles[0]["androidAppHashes"] = json!(HASHES);
    let h = helpers::harness(&[("TWO_FACTOR_PROFILES", &profiles.to_string())]).await;
    for language in ["en", "es", "tr"] {
        // WHEN a code is sent in each of its languages
        let phone = testkit::unique_phone();
        let mut request = helpers::post(&helpers::create_body(&phone, json!({})));
        request.headers_mut().insert("accept-language", language.parse().unwrap());
        assert_eq!(shared::twofactor::handler::create(&h.app, request).await.status(), 200);
        let sms = testkit::wait_for_sms(&phone, 1, testkit::TIMEOUT).await.remove(0);
        // THEN its last line binds the code to the site, the line before names the apps
        let bound = parse(&sms).unwrap_or_else(|e| panic!("{language}: {e}: {sms}"));
        assert_eq!((bound.top.as_str(), bound.embedded.as_deref()), ("login.example.com", Some("bank.example")));
        assert_eq!(Some(bound.code.clone()), testkit::digits(&sms, 6), "{language}: the code of the text");
        assert_eq!(app_hashes(&sms), HASHES, "{language}: {sms}");
        assert!(one_segment(&sms), "{language}: one segment: {sms}");
    }
}

#[tokio::test]
async fn when_family_b_applications_set_autofill_should_send_every_language_in_the_formats_each_platform_reads() {
    let autofill = json!({"demo": {"origin": "signup.example.com", "androidAppHashes": [HASHES[0]]}}).to_string();
    let h = helpers::preregistration::harness(&[("CNF_APP_AUTOFILL", &autofill)], None).await;
    for language in ["es", "en", "pt"] {
        let mobile = testkit::unique_phone().replace("+90532", "9117");
        let body =
            json!({"applicationId": "demo", "internationalPrefix": "54", "mobileNumber": mobile, "language": language});
        assert_eq!(h.generate(&body).await.0, 200);
        let sms = testkit::wait_for_sms(&format!("+54{mobile}"), 1, testkit::TIMEOUT).await.remove(0);
        let bound = parse(&sms).unwrap_or_else(|e| panic!("{language}: {e}: {sms}"));
        assert_eq!((bound.top.as_str(), bound.embedded), ("signup.example.com", None));
        assert_eq!(Some(bound.code.clone()), testkit::digits(&sms, 6), "{language}");
        assert_eq!(app_hashes(&sms), [HASHES[0]], "{language}: {sms}");
        assert!(one_segment(&sms), "{language}: {sms}");
    }
    // Another application has none: its SMS is the text alone.
    let other = helpers::preregistration::harness(&[("CNF_APP_AUTOFILL", &autofill)], None).await;
    let mobile = testkit::unique_phone().replace("+90532", "9117");
    let body = json!({"applicationId": "other", "internationalPrefix": "54", "mobileNumber": mobile});
    assert_eq!(other.generate(&body).await.0, 200);
    let sms = testkit::wait_for_sms(&format!("+54{mobile}"), 1, testkit::TIMEOUT).await.remove(0);
    assert!(parse(&sms).is_err() && !sms.contains('@'), "{sms}");
}
