//! The service on one local port, for development: every endpoint at its real path through
//! the same handlers the Lambdas run, the AWS SDK pointed at moto (`AWS_ENDPOINT_URL`), the
//! DynamoDB Stream polled into the same SMS sender the stream-triggered Lambda runs, and the
//! local inbox. `GET /health`, `GET /_local/messages` and `GET /_local/metrics` exist only
//! here.

mod inbox;
mod metrics;
mod routes;
mod streams;

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use shared::ops::startup::Seams;
use shared::preregistration::Preregistration;
use shared::preregistration::PreregistrationConfig;
use shared::signup::Signup;
use shared::signup::SignupConfig;
use shared::twofactor::TwoFactor;
use shared::twofactor::TwoFactorConfig;

#[tokio::main]
async fn main() {
    shared::ops::logging::init();
    if let Err(message) = serve().await {
        eprintln!("local-server: {message}");
        std::process::exit(1);
    }
}

async fn serve() -> Result<(), String> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .map_err(|_| "AWS_ENDPOINT_URL must point at the local moto server".to_string())?;
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);
    // The handlers' metric lines go to this process's collector instead of stdout.
    let collector = Arc::new(metrics::Collector::default());
    let sdk = shared::aws::sdk_config().await;
    let two_factor_config = TwoFactorConfig::from_env().map_err(|e| e.to_string())?;
    let seams = Seams {
        metrics: Some(shared::ops::metrics::Metrics::new(
            &two_factor_config.common.metrics_namespace,
            collector.clone(),
        )),
        ..Seams::default()
    };
    let two_factor = Arc::new(TwoFactor::new(two_factor_config, &sdk, seams.clone()));
    let signup = Arc::new(Signup::new(SignupConfig::from_env().map_err(|e| e.to_string())?, &sdk, seams.clone()));
    let preregistration_config = PreregistrationConfig::from_env().map_err(|e| e.to_string())?;
    let preregistration = Arc::new(Preregistration::new(preregistration_config, &sdk, seams));

    tokio::spawn(streams::deliver_forever(
        shared::aws::dynamodb(&sdk),
        aws_sdk_dynamodbstreams::Client::new(&sdk),
        two_factor.config.common.table_name.clone(),
        Arc::clone(&two_factor),
    ));
    tokio::spawn(inbox::print_forever(endpoint.clone()));

    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let state = Arc::new(routes::State { two_factor, signup, preregistration, moto: endpoint, metrics: collector });
    println!("local-server: listening on http://127.0.0.1:{port}");
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        routes::route(Arc::clone(&state), peer.ip(), request)
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
            _ = shutdown() => {
                println!("local-server: stopping");
                return Ok(());
            }
        }
    }
}

async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}
