//! Sends the SMS of `IsSync: false` OTPs, fed by the table's DynamoDB Stream through an event
//! source mapping (filter, retries and on-failure destination are in template.yaml).

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::twofactor::{TwoFactor, sender};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::ops::logging::init();
    let app = Arc::new(TwoFactor::from_env().await?);
    run(service_fn(move |event: LambdaEvent<Event>| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Error>(sender::handle(&app, event.payload).await) }
    }))
    .await
}
