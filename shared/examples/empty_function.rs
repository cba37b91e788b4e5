//! The baseline of `bench/cold_start.py`: a `lambda_http` function that answers 200 with no
//! body, built with the functions' profile and allocator. Its init minus the C floor's is
//! what the runtime crates cost before any code of ours runs.

use lambda_http::{Body, Error, Request, Response, run, service_fn};
// Linked like the functions, so the global allocator (mimalloc) is theirs too.
use shared as _;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    run(service_fn(|_: Request| async { Ok::<_, Error>(Response::new(Body::Empty)) })).await
}
