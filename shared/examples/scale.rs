//! `make scale` (issue 24, item 4; not part of `make test`): family C's create handler at fixed
//! offered rates through `testkit::load::LoadDynamo` (DynamoDB's conflict and throughput rules)
//! on a paused clock, so 60 simulated seconds at hundreds of sends a second take a few real
//! seconds. Each send goes to a random number (no per-number window or block binds): what it
//! measures is what every send shares, today the family's day ceiling (`2FA#CEIL#<day>`).
//!
//! Prints a Markdown table: per offered rate, the sends answered 200 and 503, DynamoDB
//! transactions per send, the pauses after lost races per send (`ContentionRetries`), p50/p99
//! latency in simulated time, and the stand-in's conflicts and throttles.
//!
//! `SCALE_RATES` (sends a second, comma-separated; default `25,50,100,200,400`) and
//! `SCALE_SECONDS` (default 60) set the run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lambda_http::{Body, Request};
use shared::aws::sns::{SendFuture, SmsSender};
use shared::domain::clock::Clock;
use shared::ops::metrics::{Metrics, Record, Sink};
use shared::ops::startup::Seams;
use shared::twofactor::{TwoFactor, TwoFactorConfig};
use testkit::load::{LoadDynamo, LoadRules};
use tokio::time::Instant;

/// SNS stand-in: takes every SMS at once.
struct Carrier;

impl SmsSender for Carrier {
    fn send<'a>(&'a self, _: &'a str, _: &'a str, _: &'a str) -> SendFuture<'a> {
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

/// The pauses each request took after lost races, from its metric line.
#[derive(Default)]
struct Retries(AtomicU64);

impl Sink for Retries {
    fn emit(&self, record: &Record, _: &str) {
        self.0.fetch_add(u64::from(record.contention_retries), Ordering::Relaxed);
    }
}

fn request(phone: &str) -> Request {
    let body = serde_json::json!({"UserId": "3698b76f-a5c0-4b04-b579-bc084019fb95", "GsmNumber": phone,
        "TwoFactorConfigurationId": 1, "IsSync": true});
    let mut request = Request::new(Body::Text(body.to_string()));
    *request.method_mut() = lambda_http::http::Method::POST;
    request
}

/// One rate's run: (row of the table).
async fn run(rate: u64, seconds: u64) -> String {
    let stand_in = LoadDynamo::new(LoadRules::default());
    let sdk = testkit::load::sdk_config(&stand_in).await;
    // The ceilings far above the offered load: what binds is contention, not a limit.
    let env = testkit::env(&[("SMS_DAILY_LIMIT", "10000000"), ("SMS_BLOCK_MIN_SENDS", "1000000")]);
    let config = TwoFactorConfig::from_lookup(&env).expect("configuration");
    let retries = Arc::new(Retries::default());
    let epoch_ms = shared::domain::clock::SystemClock.now_ms();
    let seams = Seams {
        sms: Some(Arc::new(Carrier)),
        clock: Some(Arc::new(Simulated { epoch_ms, start: Instant::now() })),
        metrics: Some(Metrics::new("Scale", retries.clone())),
        ..Seams::default()
    };
    let app = Arc::new(TwoFactor::new(config, &sdk, seams));
    let results: Arc<Mutex<Vec<(u16, Duration)>>> = Arc::default();
    let mut tasks = Vec::new();
    let start = Instant::now();
    let mut at = Duration::ZERO;
    while at < Duration::from_secs(seconds) {
        // Poisson arrivals: exponential gaps of mean 1/rate.
        let uniform: f64 = rand::random_range(f64::EPSILON..1.0);
        at += Duration::from_secs_f64(-uniform.ln() / rate as f64);
        tokio::time::sleep_until(start + at).await;
        // A random number: sequential ones would share number blocks (1,000 numbers each),
        // a second item every send writes.
        let phone = format!("+90532{:07}", rand::random_range(0..10_000_000u32));
        let (app, results) = (app.clone(), results.clone());
        tasks.push(tokio::spawn(async move {
            let began = Instant::now();
            let response = shared::twofactor::handler::create(&app, request(&phone)).await;
            results.lock().expect("results").push((response.status().as_u16(), began.elapsed()));
        }));
    }
    for task in tasks {
        task.await.expect("a request");
    }
    let results = results.lock().expect("results");
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    let busy = results.iter().filter(|(s, _)| *s == 503).count();
    let mut latencies: Vec<Duration> = results.iter().map(|(_, l)| *l).collect();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize].as_millis();
    let stats = stand_in.stats();
    let n = results.len() as f64;
    format!(
        "| {rate} | {} | {ok} | {busy} ({:.1} %) | {:.2} | {:.2} | {} | {} | {} | {} |",
        results.len(),
        100.0 * busy as f64 / n,
        stats.transactions as f64 / n,
        retries.0.load(Ordering::Relaxed) as f64 / n,
        at(0.5),
        at(0.99),
        stats.conflicts,
        stats.throttled,
    )
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let rates: Vec<u64> = std::env::var("SCALE_RATES")
        .unwrap_or_else(|_| "25,50,100,200,400".into())
        .split(',')
        .filter_map(|r| r.trim().parse().ok())
        .collect();
    let seconds: u64 = std::env::var("SCALE_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    println!("family C creates, {seconds} simulated s a rate, LoadDynamo (hold lognormal median 10 ms, p99 25 ms)");
    println!();
    println!(
        "| offered/s | sends | 200 | 503 | transactions/send | retries/send | p50 ms | p99 ms | conflicts | throttled |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for rate in rates {
        println!("{}", run(rate, seconds).await);
    }
}
