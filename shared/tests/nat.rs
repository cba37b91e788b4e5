//! Everyone behind one address (issue 23, item 4): a campus or carrier-grade NAT puts
//! thousands of people on one IPv4 address, and the per-caller guards count them as one.
//!
//! A binary of its own (its own moto): its ~4,000 requests would otherwise load the server
//! the timing assertions of the other integration tests share.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::domain::clock::{Clock, ManualClock};
use shared::preregistration::Preregistration;

/// Keeps every e-mail's code by address, so a test of thousands of users reads its codes
/// without listing moto's whole inbox each time.
#[derive(Default)]
struct Codes(Mutex<HashMap<String, String>>);

impl shared::aws::ses::EmailSender for Codes {
    fn send<'a>(&'a self, email: &'a shared::aws::ses::Email) -> shared::aws::ses::SendFuture<'a> {
        let code = testkit::digits(&email.text, 6).expect("a code in the e-mail");
        self.0.lock().unwrap().insert(email.to.clone(), code);
        Box::pin(async { Ok(()) })
    }
}

const IP: &str = "203.0.113.200";
const HOUR_MS: u64 = 3_600_000;

/// A family B request as API Gateway delivers it from the NAT's address.
fn request(body: &Value) -> Request {
    let mut request = Request::new(Body::Text(body.to_string()));
    *request.method_mut() = lambda_http::http::Method::POST;
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http.source_ip = Some(IP.to_string());
    request.extensions_mut().insert(RequestContext::ApiGatewayV2(context));
    request
}

fn read(response: Response<Body>) -> (u16, Value) {
    (response.status().as_u16(), serde_json::from_slice(response.body().as_ref()).unwrap())
}

async fn generate(app: &Arc<Preregistration>, body: Value) -> (u16, Value) {
    read(shared::preregistration::handler::generate(app, request(&body)).await)
}

async fn validate(app: &Arc<Preregistration>, body: Value) -> (u16, Value) {
    read(shared::preregistration::handler::validate(app, request(&body)).await)
}

/// Runs every call at once; the answers in order.
async fn at_once<F, Fut>(n: usize, call: F) -> Vec<(u16, Value)>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = (u16, Value)> + Send + 'static,
{
    let tasks: Vec<_> = (0..n).map(|i| tokio::spawn(call(i))).collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_2000_people_share_one_address_should_serve_them_all_and_still_bound_an_attacker_among_them() {
    // GIVEN a campus NAT: 2,000 people behind one address sign up within an hour (family B,
    // e-mail), 20 at a time, each validating their code; one in 20 mistypes it once first.
    // The address's ceiling is set 100 above them, to show it binds an attacker there.
    let people = 2000;
    let ceiling = people + 100;
    let codes = Arc::new(Codes::default());
    let ceiling_text = ceiling.to_string();
    let lookup = testkit::env(&[("CALLER_SEND_CEILING", ceiling_text.as_str()), ("CNF_APPLICATIONS", "demo")]);
    let config = shared::preregistration::PreregistrationConfig::from_lookup(&lookup).unwrap();
    let clock = ManualClock::at(Clock::now_ms(&shared::domain::clock::SystemClock));
    clock.set_ms((clock.now_ms() / HOUR_MS + 1) * HOUR_MS);
    let seams = shared::ops::startup::Seams {
        email: Some(codes.clone()),
        clock: Some(Arc::new(clock.clone())),
        metrics: Some(shared::ops::metrics::Metrics::off()),
        ..Default::default()
    };
    let app = Arc::new(Preregistration::new(config, &testkit::sdk_config().await, seams));
    let run = std::process::id();
    let address = move |i: usize| format!("nat{run}-{i}@campus.example");
    let code_of = |i: usize| codes.0.lock().unwrap().get(&address(i)).cloned().unwrap();

    let mut refused = Vec::new();
    for wave in 0..people / 20 {
        let first = wave * 20;
        let sent = at_once(20, |k| {
            let app = app.clone();
            async move { generate(&app, json!({"applicationId": "demo", "emailAddress": address(first + k)})).await }
        })
        .await;
        refused.extend(sent.iter().filter(|a| a.0 != 200).cloned());
        let ids: Vec<Value> = sent.iter().map(|a| a.1["response"]["confirmationId"].clone()).collect();
        let body =
            |k: usize, code: &str| json!({"applicationId": "demo", "confirmationId": ids[k], "confirmationCode": code});
        let wrong = if code_of(first) == "000000" { "111111" } else { "000000" };
        assert_eq!(validate(&app, body(0, wrong)).await.0, 400, "a mistyped code");
        let checked = at_once(20, |k| {
            let (app, body) = (app.clone(), body(k, &code_of(first + k)));
            async move { validate(&app, body).await }
        })
        .await;
        refused.extend(checked.iter().filter(|a| a.0 != 200).cloned());
        clock.advance_ms(HOUR_MS / (people as u64 / 20) - 1);
    }
    // THEN everyone was served: every send and every validation, mistyped ones included
    assert!(refused.is_empty(), "{} refused, the first: {:?}", refused.len(), refused.first());

    // AND an attacker among them, sending codes nobody verifies, is bounded by the address's
    // ceiling: its unverified sends ride on the others' conversion, up to it and no further
    let mut attacker = Vec::new();
    for i in 0..150 {
        attacker.push(
            generate(&app, json!({"applicationId": "demo", "emailAddress": format!("x{run}-{i}@pump.example")})).await,
        );
    }
    let accepted = attacker.iter().filter(|a| a.0 == 200).count();
    assert_eq!(accepted, ceiling - people, "{:?}", attacker.iter().find(|a| a.0 != 200 && a.0 != 429));
    assert!(attacker[accepted..].iter().all(|a| a.0 == 429), "the rest refused: {:?}", attacker.last());
}
