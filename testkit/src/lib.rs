//! Test support shared by the workspace's integration tests.
//!
//! `moto()` starts one moto server per test binary (through `local/moto_launcher.py`, which
//! serialises requests so DynamoDB conditions are atomic as in AWS, and creates the table
//! from template.yaml). The server exits with the test process. Set `MOTO_ENDPOINT` to use a
//! running one instead.
//!
//! `aws_calls` counts the AWS calls a handler makes (against moto); `faults` makes chosen calls
//! stall, throttle, fail, or fail after taking effect; `fake_aws` answers them in memory, for
//! benchmarks that must measure our code rather than a server. `lambda` runs a function binary
//! against a runtime-API stub and keeps what it prints.

pub mod aws_calls;
mod conditions;
pub mod emf;
pub mod fake_aws;
pub mod faults;
pub mod lambda;
pub mod load;
pub mod scripted;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::types::AttributeValue;

pub const TABLE: &str = "verification-codes-test";
pub const LOCAL_KEY: &str = "1:local-development-key-never-use-in-production";

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("testkit sits in the workspace").to_path_buf()
}

fn python() -> PathBuf {
    if let Ok(python) = std::env::var("MOTO_PYTHON") {
        return python.into();
    }
    let venv = workspace_root().join(".venv/bin/python");
    if venv.exists() { venv } else { "python3".into() }
}

/// The endpoint of this test binary's moto server, started on first use.
pub fn moto() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        if let Ok(endpoint) = std::env::var("MOTO_ENDPOINT") {
            return endpoint;
        }
        let root = workspace_root();
        // Never waited for on purpose: moto lives as long as this test process, and the
        // launcher exits by itself once its parent is gone (--exit-with-parent).
        #[allow(clippy::zombie_processes)]
        let mut child = Command::new(python())
            .arg(root.join("local/moto_launcher.py"))
            .args(["--port", "0", "--exit-with-parent", "--table-name", TABLE, "--template"])
            .arg(root.join("template.yaml"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start moto (make test installs it into .venv; MOTO_PYTHON overrides)");
        let stdout = child.stdout.take().expect("piped stdout");
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("read moto output");
            if let Some(port) = line.strip_prefix("MOTO_READY port=") {
                return format!("http://127.0.0.1:{port}");
            }
        }
        panic!("moto exited before it was ready: {:?}", child.wait());
    })
}

/// SDK configuration pointed at moto, with dummy credentials; no process environment used.
pub async fn sdk_config() -> SdkConfig {
    moto_loader().http_client(http_client()).load().await
}

/// moto speaks plain HTTP; the SDKs are built without a default client (see Cargo.toml).
fn http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

fn moto_loader() -> aws_config::ConfigLoader {
    loader(moto())
}

fn loader(endpoint: &str) -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "testkit"))
}

/// A service configuration lookup for tests: the local key and the test table, plus overrides.
pub fn env(overrides: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let mut map: std::collections::HashMap<String, String> = [
        ("TABLE_NAME", TABLE),
        ("OTP_KEYS", LOCAL_KEY),
        ("ALLOW_LOCAL_SECRETS", "true"),
        ("ALLOW_TEST_CODES", "true"),
        // The number-block breaker would trip on the many unverified codes the other tests
        // send to one block of numbers; its own tests set it.
        ("SMS_BLOCK_MIN_SENDS", "1000000"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in overrides {
        map.insert(k.to_string(), v.to_string());
    }
    move |name: &str| map.get(name).cloned()
}

/// The items of the test table whose key starts with `prefix`, every page. Through a client
/// of its own, with the SDK's default timeouts: the table is shared by all the tests of a
/// binary, and a scan of it under load can outlast the service's tight DynamoDB timeout.
pub async fn scan_prefix(prefix: &str) -> Vec<std::collections::HashMap<String, AttributeValue>> {
    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let scan = client
        .scan()
        .table_name(TABLE)
        .filter_expression("begins_with(pk, :p)")
        .expression_attribute_values(":p", AttributeValue::S(prefix.into()));
    scan.into_paginator().items().send().collect::<Result<_, _>>().await.expect("scan the test table")
}

/// Every SMS and e-mail moto has delivered, oldest first (see GET /_local/messages).
pub async fn messages() -> Vec<serde_json::Value> {
    let (status, body) = http(moto(), "GET", "/_local/messages", &[], "").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("messages are a JSON array")
}

/// The SMS sent to `phone`, oldest first.
pub async fn sms_to(phone: &str) -> Vec<String> {
    messages()
        .await
        .into_iter()
        .filter(|m| m["channel"] == "sms" && m["to"] == phone)
        .filter_map(|m| m["body"].as_str().map(str::to_string))
        .collect()
}

/// Waits (bounded) until `phone` has received `count` SMS, and returns them.
pub async fn wait_for_sms(phone: &str, count: usize, within: Duration) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let sms = sms_to(phone).await;
        if sms.len() >= count || tokio::time::Instant::now() >= deadline {
            return sms;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The first run of `length` digits in `text` (the code in an SMS).
pub fn digits(text: &str, length: usize) -> Option<String> {
    text.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() == length).map(str::to_string)
}

/// A minimal HTTP/1.1 client (one request per connection), enough for local servers.
pub async fn http(base: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    http_bytes(base, method, path, headers, body.as_bytes()).await
}

pub async fn http_bytes(base: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(authority).await.expect("connect");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(request.as_bytes()).await.expect("write head");
    stream.write_all(body).await.expect("write body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read answer");
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(rest) } else { rest.to_string() };
    (status, body)
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || tail.len() < size {
            break;
        }
        out.push_str(&tail[..size]);
        rest = tail[size..].trim_start_matches("\r\n");
    }
    out
}

/// A unique valid Turkish mobile number per call, so tests never share rate windows.
pub fn unique_phone() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let seed = std::process::id() % 1000;
    format!("+90532{:03}{:04}", seed, n % 10_000)
}

pub const TIMEOUT: Duration = Duration::from_secs(10);
