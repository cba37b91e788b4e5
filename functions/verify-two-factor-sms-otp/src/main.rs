//! `POST /api/TwoFactor/VerifyTwoFactorSmsOtp` (and family C's unknown paths, answered 404):
//! wiring only; the handlers live in `shared`.

use std::sync::Arc;

use lambda_http::{Error, Request, run, service_fn};
use shared::twofactor::{TwoFactor, handler};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::ops::logging::init();
    let app = Arc::new(TwoFactor::from_env().await?);
    run(service_fn(move |request: Request| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Error>(handler::route(&app, request).await) }
    }))
    .await
}
