//! The one DynamoDB table: its names (`schema`, `docs/table.md`), the SDK calls and
//! transactions planned with named slots (`dynamo`), the attempt counting every family's code
//! shares (`attempts`), the guards' counters (`guards`) and the `Idempotency-Key` records
//! (`idempotency`). Each family's own items are its `store.rs`.

pub mod attempts;
pub mod backoff;
pub mod dynamo;
pub mod guards;
pub mod idempotency;
pub mod schema;

use aws_sdk_dynamodb::Client;

use dynamo::StoreError;
use guards::{Guard, Refusal};
use idempotency::Idempotency;

/// The table as each family's store holds it (the client and the table's name), and what
/// every store does the same way. A family's store derefs to it.
#[derive(Clone)]
pub struct Table {
    client: Client,
    name: String,
}

impl Table {
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Self { client, name: name.into() }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.name
    }

    /// The send under `key` delivered nothing: a retry with this key answers the failure again.
    pub async fn key_failed(&self, key: &Idempotency) -> Result<(), StoreError> {
        key.failed(&self.client).await
    }

    /// Counts one event alone on `guard` (a failure that touched no code): its refusal when it
    /// is already full.
    pub async fn count_alone(&self, guard: &Guard, now_ms: u64) -> Result<Option<Refusal>, StoreError> {
        guard.count_alone(&self.client, now_ms).await
    }
}
