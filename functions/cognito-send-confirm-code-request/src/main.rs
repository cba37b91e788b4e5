//! `POST /CognitoSendConfirmCodeRequest` (and `.json`, `.xml`, `.csv`): wiring only; the
//! handler lives in `shared`.

use std::sync::Arc;

use lambda_http::{Error, Request, run, service_fn};
use shared::signup::{Signup, handler};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::ops::logging::init();
    let app = Arc::new(Signup::from_env().await?);
    run(service_fn(move |request: Request| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Error>(handler::handle(&app, request).await) }
    }))
    .await
}
