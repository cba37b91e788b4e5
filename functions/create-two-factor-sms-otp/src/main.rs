//! `POST /api/TwoFactor/CreateTwoFactorSmsOtp`: wiring only; the handler lives in `shared`.

use std::sync::Arc;

use lambda_http::{Error, Request, run, service_fn};
use shared::twofactor::{TwoFactor, handler};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::ops::logging::init();
    let app = Arc::new(TwoFactor::from_env().await?);
    run(service_fn(move |request: Request| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Error>(handler::create(&app, request).await) }
    }))
    .await
}
