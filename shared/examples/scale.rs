//! `make scale` (issue 24, item 4; not part of `make test`): family C's create and verify
//! handlers at fixed offered rates through `testkit::load::LoadDynamo` (DynamoDB's conflict and
//! throughput rules) on a paused clock, so simulated minutes at thousands of requests a second
//! take real minutes of one core, not hours. Each send goes to a random number (no per-number
//! window or block binds): what it measures is what every send shares, the family's day ceiling.
//!
//! Three tables, in Markdown:
//! - **before**: the ceiling in one item (`SMS_CEILING_SHARDS=1`, the design before issue 24)
//!   at 25 to 400 sends a second: the collapse;
//! - **after**: the ceiling in 512 shards at the target, 5,000 sends and 20,000 verifications a
//!   second (each code verified 4 times: 3 wrong codes within 10 s, then the right one within
//!   the next 10 s), and at 25 sends a second for the latency with no contention;
//! - **exactness**: a day of 100,000 SMS, 40,000 of them to Turkey, with 150,000 offered
//!   (67,500 to Turkey): exactly 100,000 and 40,000 sent.
//!
//! `SCALE_SECONDS` (default 60) sets the before and after runs' length; `SCALE_ONLY`
//! (`before`, `after` or `exact`) runs one table.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lambda_http::{Body, Request};
use shared::aws::sns::{SendFuture, SmsSender};
use shared::domain::clock::Clock;
use shared::ops::metrics::{Metrics, Operation, Record, Sink};
use shared::ops::startup::Seams;
use shared::twofactor::{TwoFactor, TwoFactorConfig};
use testkit::load::{LoadDynamo, LoadRules};
use tokio::time::Instant;

const USER: &str = "3698b76f-a5c0-4b04-b579-bc084019fb95";

/// SNS stand-in: takes every SMS at once, and keeps its code for the verifications.
#[derive(Default)]
struct Carrier(Mutex<HashMap<String, String>>);

impl SmsSender for Carrier {
    fn send<'a>(&'a self, to: &'a str, text: &'a str, _: &'a str) -> SendFuture<'a> {
        let code = text.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() == 6).unwrap_or_default();
        self.0.lock().expect("codes").insert(to.to_string(), code.to_string());
        Box::pin(async { Ok(()) })
    }
}

/// The service's clock on tokio's (paused) clock: simulated milliseconds since a real start.
struct Simulated {
    epoch_ms: u64,
    start: Instant,
}

impl Clock for Simulated {
    fn now_ms(&self) -> u64 {
        self.epoch_ms + self.start.elapsed().as_millis() as u64
    }
}

/// The pauses after lost races, from each request's metric line: sends' and verifications'.
#[derive(Default)]
struct Retries {
    sends: AtomicU64,
    verifications: AtomicU64,
}

impl Sink for Retries {
    fn emit(&self, record: &Record, _: &str) {
        let count = if record.operation == Operation::Create { &self.sends } else { &self.verifications };
        count.fetch_add(u64::from(record.contention_retries), Ordering::Relaxed);
    }
}

fn post(body: serde_json::Value) -> Request {
    let mut request = Request::new(Body::Text(body.to_string()));
    *request.method_mut() = lambda_http::http::Method::POST;
    request
}

fn create_request(phone: &str) -> Request {
    post(serde_json::json!({"UserId": USER, "GsmNumber": phone, "TwoFactorConfigurationId": 1, "IsSync": true}))
}

/// A load to offer: sends a second, verifications per code, the share of sends to Turkey (the
/// rest to Spain), for how long, under which settings.
struct Load {
    sends_per_second: u64,
    verifications_per_code: u32,
    turkey: f64,
    seconds: u64,
    /// The table's partitions (1,000 write units a second each): DynamoDB splits a table as
    /// its load grows; at the target's ~200,000 units a second it has at least 200.
    partitions: u32,
    settings: Vec<(&'static str, String)>,
}

/// What one load's requests answered, in simulated time.
#[derive(Default)]
struct Answers {
    sends: Vec<(u16, Duration, bool)>,
    verifications: Vec<(u16, Duration)>,
}

fn percentile(latencies: &mut [Duration], q: f64) -> u128 {
    latencies.sort();
    latencies.get(((latencies.len().max(1) - 1) as f64 * q) as usize).map_or(0, Duration::as_millis)
}

/// One load's run: the answers, the pauses, the stand-in.
async fn run(load: &Load) -> (Answers, Arc<Retries>, LoadDynamo) {
    let stand_in = LoadDynamo::new(LoadRules { partitions: load.partitions, ..LoadRules::default() });
    let sdk = testkit::load::sdk_config(&stand_in).await;
    let mut env: Vec<(&str, &str)> = vec![("SMS_BLOCK_MIN_SENDS", "1000000")];
    env.extend(load.settings.iter().map(|(k, v)| (*k, v.as_str())));
    let config = TwoFactorConfig::from_lookup(&testkit::env(&env)).expect("configuration");
    let retries = Arc::new(Retries::default());
    let carrier = Arc::new(Carrier::default());
    let epoch_ms = shared::domain::clock::SystemClock.now_ms();
    let seams = Seams {
        sms: Some(carrier.clone()),
        clock: Some(Arc::new(Simulated { epoch_ms, start: Instant::now() })),
        metrics: Some(Metrics::new("Scale", retries.clone())),
        ..Seams::default()
    };
    let app = Arc::new(TwoFactor::new(config, &sdk, seams));
    let answers: Arc<Mutex<Answers>> = Arc::default();
    let mut tasks = Vec::new();
    let start = Instant::now();
    let mut at = Duration::ZERO;
    while at < Duration::from_secs(load.seconds) {
        // Poisson arrivals: exponential gaps of mean 1/rate.
        let uniform: f64 = rand::random_range(f64::EPSILON..1.0);
        at += Duration::from_secs_f64(-uniform.ln() / load.sends_per_second as f64);
        tokio::time::sleep_until(start + at).await;
        // A random number: sequential ones would share number blocks (1,000 numbers each),
        // a second item every send writes.
        let to_turkey = rand::random_bool(load.turkey);
        let phone = if to_turkey {
            format!("+90532{:07}", rand::random_range(0..10_000_000u32))
        } else {
            format!("+346{:08}", rand::random_range(0..100_000_000u32))
        };
        let (app, answers, carrier, checks) =
            (app.clone(), answers.clone(), carrier.clone(), load.verifications_per_code);
        tasks.push(tokio::spawn(async move {
            let began = Instant::now();
            let response = shared::twofactor::handler::create(&app, create_request(&phone)).await;
            let status = response.status().as_u16();
            answers.lock().expect("answers").sends.push((status, began.elapsed(), to_turkey));
            let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap_or_default();
            let (Some(otp), Some(code)) =
                (body["OtpIdReference"].as_str(), carrier.0.lock().expect("codes").remove(&phone))
            else {
                return;
            };
            let sent = Instant::now();
            for attempt in 0..checks {
                // The wrong codes within 10 s of the send, the right one in the next 10 s.
                let right = attempt + 1 == checks;
                let window = if right { 10_000..20_000 } else { 0..10_000 };
                tokio::time::sleep_until(sent + Duration::from_millis(rand::random_range(window))).await;
                let guess = if right {
                    code.clone()
                } else {
                    format!("{:06}", (code.parse::<u32>().unwrap_or(0) + 1) % 1_000_000)
                };
                let began = Instant::now();
                let body = serde_json::json!({"UserId": USER, "OtpIdReference": otp, "OtpCode": guess});
                let response = shared::twofactor::handler::verify(&app, post(body)).await;
                answers.lock().expect("answers").verifications.push((response.status().as_u16(), began.elapsed()));
            }
        }));
    }
    for task in tasks {
        task.await.expect("a request");
    }
    let answers = Arc::try_unwrap(answers).ok().expect("every task ended").into_inner().expect("answers");
    (answers, retries, stand_in)
}

fn share(part: usize, whole: usize) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

async fn before(seconds: u64) {
    println!("### Before: the day's ceiling in one item (SMS_CEILING_SHARDS=1), {seconds} simulated s a rate");
    println!();
    println!(
        "| offered sends/s | sends | 200 | 503 | transactions/send | retries/send | p50 ms | p99 ms | conflicts | throttled | hottest item, units/s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for rate in [25, 50, 100, 200, 400] {
        let load = Load {
            sends_per_second: rate,
            verifications_per_code: 0,
            turkey: 1.0,
            seconds,
            partitions: 64,
            settings: vec![("SMS_DAILY_LIMIT", "10000000".into()), ("SMS_CEILING_SHARDS", "1".into())],
        };
        let (answers, retries, stand_in) = run(&load).await;
        let sends = &answers.sends;
        let (ok, busy) = (sends.iter().filter(|s| s.0 == 200).count(), sends.iter().filter(|s| s.0 == 503).count());
        let mut latencies: Vec<Duration> = sends.iter().map(|s| s.1).collect();
        let stats = stand_in.stats();
        println!(
            "| {rate} | {} | {ok} | {busy} ({:.1} %) | {:.2} | {:.2} | {} | {} | {} | {} | {} |",
            sends.len(),
            share(busy, sends.len()),
            stats.transactions as f64 / sends.len() as f64,
            retries.sends.load(Ordering::Relaxed) as f64 / sends.len() as f64,
            percentile(&mut latencies, 0.5),
            percentile(&mut latencies, 0.99),
            stats.conflicts,
            stats.throttled,
            stats.peak_item_units,
        );
    }
    println!();
}

async fn after(seconds: u64) {
    println!("### After: the day's ceiling in 512 shards, {seconds} simulated s a load");
    println!();
    println!(
        "| offered sends/s + verifications/s | sends | 503 sends | attempts/send | send p50 / p99 ms | verifications | 200 / 400 / 503 | verification p50 / p99 ms | conflicts | throttled | hottest item, units/s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (rate, checks) in [(25, 4), (5_000, 4)] {
        let load = Load {
            sends_per_second: rate,
            verifications_per_code: checks,
            turkey: 0.5,
            seconds,
            partitions: 400,
            settings: vec![("SMS_DAILY_LIMIT", "10000000".into()), ("SMS_CEILING_SHARDS", "512".into())],
        };
        let (answers, retries, stand_in) = run(&load).await;
        let (sends, checks) = (&answers.sends, &answers.verifications);
        let status = |list: &[u16], s: u16| list.iter().filter(|x| **x == s).count();
        let send_statuses: Vec<u16> = sends.iter().map(|s| s.0).collect();
        let check_statuses: Vec<u16> = checks.iter().map(|s| s.0).collect();
        let busy = status(&send_statuses, 503);
        let mut send_latencies: Vec<Duration> = sends.iter().map(|s| s.1).collect();
        let mut check_latencies: Vec<Duration> = checks.iter().map(|s| s.1).collect();
        let stats = stand_in.stats();
        println!(
            "| {rate} + {} | {} | {busy} ({:.2} %) | {:.3} | {} / {} | {} | {} / {} / {} | {} / {} | {} | {} | {} (`{}`) |",
            rate * u64::from(load.verifications_per_code),
            sends.len(),
            share(busy, sends.len()),
            1.0 + retries.sends.load(Ordering::Relaxed) as f64 / sends.len() as f64,
            percentile(&mut send_latencies, 0.5),
            percentile(&mut send_latencies, 0.99),
            checks.len(),
            status(&check_statuses, 200),
            status(&check_statuses, 400),
            status(&check_statuses, 503),
            percentile(&mut check_latencies, 0.5),
            percentile(&mut check_latencies, 0.99),
            stats.conflicts,
            stats.throttled,
            stats.peak_item_units,
            stand_in
                .hottest_item()
                .split('|')
                .next()
                .unwrap_or_default()
                .replace(['{', '}', '"'], "")
                .replace("S:", ""),
        );
    }
    println!();
}

async fn exact() {
    println!("### Exactness: a day of 100,000 SMS (TR: 40,000) in 512 shards, 150,000 offered at 5,000/s (45 % to TR)");
    println!();
    println!("| offered | TR offered | sent | TR sent | refused (429) | 503 | attempts/send |");
    println!("|---|---|---|---|---|---|---|");
    let load = Load {
        sends_per_second: 5_000,
        verifications_per_code: 0,
        turkey: 0.45,
        seconds: 30,
        partitions: 400,
        settings: vec![
            ("SMS_DAILY_LIMIT", "100000".into()),
            ("SMS_COUNTRY_DAILY_LIMITS", "TR:40000".into()),
            ("SMS_CEILING_SHARDS", "512".into()),
        ],
    };
    let (answers, _, stand_in) = run(&load).await;
    let sends = &answers.sends;
    let count = |f: &dyn Fn(&(u16, Duration, bool)) -> bool| sends.iter().filter(|s| f(s)).count();
    println!(
        "| {} | {} | {} | {} | {} | {} | {:.3} |",
        sends.len(),
        count(&|s| s.2),
        count(&|s| s.0 == 200),
        count(&|s| s.0 == 200 && s.2),
        count(&|s| s.0 == 429),
        count(&|s| s.0 == 503),
        stand_in.stats().transactions as f64 / sends.len() as f64,
    );
    println!();
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let seconds: u64 = std::env::var("SCALE_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let only = std::env::var("SCALE_ONLY").unwrap_or_default();
    println!("family C through LoadDynamo: a transaction holds its items lognormal, median 10 ms, p99 25 ms;");
    println!("1,000 write units a second per item and per partition, transactional writes 2 each; partitions:");
    println!("64 before, 400 after (a table taking ~200,000 units a second has at least 200)");
    println!();
    if only.is_empty() || only == "before" {
        before(seconds).await;
    }
    if only.is_empty() || only == "after" {
        after(seconds).await;
    }
    if only.is_empty() || only == "exact" {
        exact().await;
    }
}
