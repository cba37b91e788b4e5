//! CPU time of one warm request through each handler, with every AWS call answered in
//! process by `testkit::fake_aws`: the figure is our code plus the SDK's serialisation,
//! signing and parsing, with no network and no moto. Target: at most 100 µs a request.
//!
//! Measured in CPU time of the benchmarking thread, not wall time: the runtime is
//! current-thread, so a request's whole work runs there, and time the machine gives to other
//! processes (a build, a test suite) does not inflate the figures. The fake's own time
//! (parsing the request, applying it, writing the answer: what the network and AWS do in
//! production) is taken out; `BENCH_WITH_FAKE=1` leaves it in.
//!
//! `cargo bench -p shared --bench handlers`; criterion prints each estimate and keeps the
//! median in `target/criterion/handlers/<name>/new/estimates.json`.

#![allow(clippy::unwrap_used)] // a benchmark that cannot unwrap has nothing to measure

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, criterion_group, criterion_main};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::domain::clock::{Clock, ManualClock, SystemClock};
use shared::ops::startup::Seams;
use shared::preregistration::Preregistration;
use shared::preregistration::PreregistrationConfig;
use shared::signup::Signup;
use shared::signup::SignupConfig;
use shared::twofactor::TwoFactor;
use shared::twofactor::TwoFactorConfig;
use testkit::fake_aws::FakeAws;

const USER: &str = "3698b76f-a5c0-4b04-b579-bc084019fb95";
const PHONE: &str = "+905321234567";
const ADDRESS: &str = "bench@example.com";

/// CPU time of the calling thread, less what the fake spent answering (it stands in for the
/// network and AWS), shown like wall time (nanoseconds). `BENCH_WITH_FAKE=1` keeps the
/// fake's share in, to see how much it is.
struct ThreadCpuTime {
    with_fake: bool,
}

impl ThreadCpuTime {
    fn from_env() -> Self {
        Self { with_fake: std::env::var_os("BENCH_WITH_FAKE").is_some_and(|v| v == "1") }
    }
}

impl Measurement for ThreadCpuTime {
    type Intermediate = (cpu_time::ThreadTime, Duration);
    type Value = Duration;

    fn start(&self) -> Self::Intermediate {
        (cpu_time::ThreadTime::now(), testkit::fake_aws::cpu_time_answering())
    }
    fn end(&self, (start, fake_before): Self::Intermediate) -> Duration {
        let elapsed = start.elapsed();
        if self.with_fake {
            return elapsed;
        }
        elapsed.saturating_sub(testkit::fake_aws::cpu_time_answering().saturating_sub(fake_before))
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        static WALL_TIME: WallTime = WallTime;
        WALL_TIME.formatter()
    }
}

fn post(body: &str) -> Request {
    let mut request = Request::new(Body::Text(body.to_string()));
    *request.method_mut() = lambda_http::http::Method::POST;
    request
}

/// `post` as API Gateway delivers it: with the caller's source address.
fn post_from(body: &str) -> Request {
    use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
    let mut request = post(body);
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http.source_ip = Some("203.0.113.7".to_string());
    request.extensions_mut().insert(lambda_http::request::RequestContext::ApiGatewayV2(context));
    request
}

fn json_of(response: &Response<Body>) -> Value {
    serde_json::from_slice(response.body().as_ref()).unwrap()
}

/// A stopped clock: what a benchmark creates never expires while it runs.
fn clock(at_ms: u64) -> Arc<dyn Clock> {
    Arc::new(ManualClock::at(at_ms))
}

/// What a function pays for its metric line: rendered and written with one `write` (to
/// /dev/null here; stdout, a pipe, in Lambda).
fn metrics() -> shared::ops::metrics::Metrics {
    struct DevNull(std::fs::File);
    impl shared::ops::metrics::Sink for DevNull {
        fn emit(&self, _record: &shared::ops::metrics::Record, line: &str) {
            use std::io::Write;
            let _ = (&self.0).write_all(format!("{line}\n").as_bytes());
        }
    }
    let sink = DevNull(std::fs::OpenOptions::new().write(true).open("/dev/null").unwrap());
    shared::ops::metrics::Metrics::new("VerificationCodes", Arc::new(sink))
}

/// The functions' own construction path, with the bench's clock and metric sink.
fn seams(now_ms: u64) -> Seams {
    Seams { clock: Some(clock(now_ms)), metrics: Some(metrics()), ..Seams::default() }
}

fn two_factor(sdk: &SdkConfig, now_ms: u64) -> TwoFactor {
    let config = TwoFactorConfig::from_lookup(&testkit::env(&[])).unwrap();
    TwoFactor::new(config, sdk, seams(now_ms))
}

fn preregistration(sdk: &SdkConfig, now_ms: u64) -> Preregistration {
    let config = PreregistrationConfig::from_lookup(&testkit::env(&[("CNF_APPLICATIONS", "demo")])).unwrap();
    Preregistration::new(config, sdk, seams(now_ms))
}

fn signup(sdk: &SdkConfig, now_ms: u64) -> Signup {
    let config = SignupConfig::from_lookup(&testkit::env(&[])).unwrap();
    Signup::new(config, sdk, seams(now_ms))
}

fn code_sent(fake: &FakeAws) -> String {
    testkit::digits(&fake.last_message().unwrap().text, 6).unwrap()
}

fn handlers(c: &mut Criterion<ThreadCpuTime>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let fake = FakeAws::default();
    // The functions' own SDK set-up (shared::aws), over the fake instead of HTTPS.
    let lambda_environment = testkit::env(&[
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_ENDPOINT_URL", "http://aws.invalid"),
    ]);
    let sdk = shared::aws::from_lambda_environment_with(lambda_environment, || {
        aws_sdk_dynamodb::config::SharedHttpClient::new(fake.clone())
    })
    .unwrap();
    let now = SystemClock.now_ms();
    let (c_app, b_app, a_app) = (two_factor(&sdk, now), preregistration(&sdk, now), signup(&sdk, now));

    // Setup, while the fake still applies writes: one code of each family to verify.
    let create = json!({"UserId": USER, "GsmNumber": PHONE, "TwoFactorConfigurationId": 1, "IsSync": true}).to_string();
    let created = json_of(&rt.block_on(shared::twofactor::handler::create(&c_app, post(&create))));
    let c_code = code_sent(&fake);
    let verify = |code: &str| json!({"UserId": USER, "OtpIdReference": created["OtpIdReference"], "OtpCode": code});
    let (verify_ok, verify_wrong) = (verify(&c_code).to_string(), verify(other(&c_code)).to_string());

    let generate_sms = json!({"applicationId": "demo", "internationalPrefix": "90", "mobileNumber": &PHONE[3..]});
    let generate_email = json!({"applicationId": "demo", "emailAddress": ADDRESS});
    let generated =
        json_of(&rt.block_on(shared::preregistration::handler::generate(&b_app, post(&generate_email.to_string()))));
    let b_code = code_sent(&fake);
    let validate_with = |code: &str| {
        json!({"applicationId": "demo", "confirmationId": generated["response"]["confirmationId"],
               "confirmationCode": code})
        .to_string()
    };
    let (validate, validate_wrong) = (validate_with(&b_code), validate_with(other(&b_code)));

    let send = json!({"EmailAddress": ADDRESS}).to_string();
    rt.block_on(shared::signup::handler::handle(&a_app, post(&send)));
    let a_code = code_sent(&fake);
    let confirm = json!({"EmailAddress": ADDRESS, "ConfirmationCode": a_code}).to_string();
    let confirm_wrong = json!({"EmailAddress": ADDRESS, "ConfirmationCode": other(&a_code)}).to_string();

    // The asynchronous sender's stream record, its item stored as the create function would.
    let insert =
        std::fs::read_to_string(testkit::workspace_root().join("events/two-factor-sms-sender-insert.json")).unwrap();
    let insert: aws_lambda_events::event::dynamodb::Event = serde_json::from_str(&insert).unwrap();
    let image: shared::store::dynamo::Item = insert.records[0].change.new_image.clone().into();
    let sender_app = two_factor(&sdk, shared::store::dynamo::get_n::<u64>(&image, "cat").unwrap() + 1_000);
    rt.block_on(sender_app.store.client().put_item().table_name(testkit::TABLE).set_item(Some(image)).send()).unwrap();

    // From here on every request sees this state: a verified code stays verifiable.
    fake.freeze();

    let mut group = c.benchmark_group("handlers");
    group.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    let expect = |name: &'static str, status: u16| {
        move |response: Response<Body>| assert_eq!(response.status().as_u16(), status, "{name}: {:?}", response.body())
    };

    // Floors: one bare SDK call answered by the fake (serialise, sign, parse), no handler.
    let (dynamo, sns) = (c_app.store.client(), shared::aws::sns(&sdk));
    group.bench_function("SDK GetItem alone", |b| {
        let key = shared::store::dynamo::key(&format!("OTP#{}", created["OtpIdReference"].as_str().unwrap()), "OTP");
        b.to_async(&rt).iter(|| async {
            dynamo.get_item().table_name(testkit::TABLE).set_key(Some(key.clone())).send().await.unwrap()
        })
    });
    group.bench_function("SDK Publish alone", |b| {
        b.to_async(&rt).iter(|| async { sns.publish().phone_number(PHONE).message("Your code").send().await.unwrap() })
    });

    // What the metrics add to a request, alone: timing it, the destination's country, the
    // EMF line rendered and written (to /dev/null, as `metrics()`).
    let metrics = metrics();
    group.bench_function("metric line alone", |b| {
        b.iter(|| {
            use shared::ops::metrics::{Country, Family, Operation, Outcome, Record};
            let started = std::time::Instant::now();
            let record = Record::new(Family::TwoFactor, Operation::Create, Outcome::Sent)
                .country(Country::of_phone(std::hint::black_box(PHONE)))
                .delivered(1, 0);
            metrics.emit(&record.took(started.elapsed()));
        })
    });

    let ok = expect("C create", 200);
    group.bench_function("C create", |b| {
        b.to_async(&rt).iter(|| async { ok(shared::twofactor::handler::create(&c_app, post(&create)).await) })
    });
    let ok = expect("C verify", 200);
    group.bench_function("C verify", |b| {
        b.to_async(&rt).iter(|| async { ok(shared::twofactor::handler::verify(&c_app, post(&verify_ok)).await) })
    });
    let wrong = expect("C verify, wrong code", 400);
    // The fake ignores conditions elsewhere (every write succeeds); a wrong code is refused by
    // the verifying transaction's condition, so here it evaluates them.
    fake.check_conditions(true);
    group.bench_function("C verify, wrong code", |b| {
        b.to_async(&rt).iter(|| async { wrong(shared::twofactor::handler::verify(&c_app, post(&verify_wrong)).await) })
    });
    fake.check_conditions(false);
    group.bench_function("C stream sender", |b| {
        b.to_async(&rt).iter(|| async {
            let response = shared::twofactor::sender::handle(&sender_app, insert.clone()).await;
            assert!(response.batch_item_failures.is_empty());
        })
    });
    for (name, body) in [("B generate, SMS", generate_sms), ("B generate, e-mail", generate_email.clone())] {
        let ok = expect(name, 200);
        let body = body.to_string();
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async { ok(shared::preregistration::handler::generate(&b_app, post(&body)).await) })
        });
    }
    // Through API Gateway a request always carries its source address: one more guard (the
    // caller's sends) in the send's transaction.
    let ok = expect("B generate, e-mail, with source address", 200);
    let body = generate_email.to_string();
    group.bench_function("B generate, e-mail, with source address", |b| {
        b.to_async(&rt)
            .iter(|| async { ok(shared::preregistration::handler::generate(&b_app, post_from(&body)).await) })
    });
    let ok = expect("B validate", 200);
    group.bench_function("B validate", |b| {
        b.to_async(&rt).iter(|| async { ok(shared::preregistration::handler::validate(&b_app, post(&validate)).await) })
    });
    let wrong = expect("B validate, wrong code", 400);
    fake.check_conditions(true);
    group.bench_function("B validate, wrong code", |b| {
        b.to_async(&rt)
            .iter(|| async { wrong(shared::preregistration::handler::validate(&b_app, post(&validate_wrong)).await) })
    });
    fake.check_conditions(false);
    let ok = expect("A send", 200);
    group.bench_function("A send", |b| {
        b.to_async(&rt).iter(|| async { ok(shared::signup::handler::handle(&a_app, post(&send)).await) })
    });
    let ok = expect("A confirm", 200);
    group.bench_function("A confirm", |b| {
        b.to_async(&rt).iter(|| async { ok(shared::signup::handler::handle(&a_app, post(&confirm)).await) })
    });
    let wrong = expect("A confirm, wrong code", 400);
    fake.check_conditions(true);
    group.bench_function("A confirm, wrong code", |b| {
        b.to_async(&rt).iter(|| async { wrong(shared::signup::handler::handle(&a_app, post(&confirm_wrong)).await) })
    });
    fake.check_conditions(false);
    group.finish();
}

fn other(code: &str) -> &'static str {
    if code == "000000" { "111111" } else { "000000" }
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime::from_env());
    targets = handlers
}
criterion_main!(benches);
