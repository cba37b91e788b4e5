//! What the DynamoDB Stream event source mapping does in AWS: read the table's stream, keep
//! the records its filter passes, hand them to the sender in batches, retry failed records.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::dynamodb::{Event, EventRecord, StreamRecord};
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use shared::store::schema::{PK, SEALED_CODE, WATCH_PREFIX};
use shared::twofactor::{TwoFactor, sender};

const POLL: Duration = Duration::from_millis(200);
/// As `MaximumRetryAttempts` in template.yaml.
const MAX_RETRIES: u32 = 3;

/// The filters of template.yaml: INSERTs whose new image carries a sealed code, and TTL's
/// removals of watch items (which moto never makes: it does not expire items).
fn passes_filter(record: &aws_sdk_dynamodbstreams::types::Record) -> bool {
    let name = record.event_name().map(|n| n.as_str().to_string()).unwrap_or_default();
    let sealed = record.dynamodb().and_then(|d| d.new_image()).is_some_and(|image| image.contains_key(SEALED_CODE));
    let by_ttl = record
        .user_identity()
        .is_some_and(|u| u.r#type() == Some("Service") && u.principal_id() == Some("dynamodb.amazonaws.com"));
    let watch = record
        .dynamodb()
        .and_then(|d| d.keys())
        .and_then(|keys| keys.get(PK))
        .and_then(|pk| pk.as_s().ok())
        .is_some_and(|pk| pk.starts_with(WATCH_PREFIX));
    (name == "INSERT" && sealed) || (name == "REMOVE" && by_ttl && watch)
}

fn to_lambda_record(record: aws_sdk_dynamodbstreams::types::Record) -> EventRecord {
    let mut out = EventRecord::default();
    out.event_id = record.event_id().unwrap_or_default().to_string();
    out.event_name = record.event_name().map(|n| n.as_str().to_string()).unwrap_or_default();
    out.aws_region = record.aws_region().unwrap_or("us-east-1").to_string();
    let mut change = StreamRecord::default();
    if let Some(data) = record.dynamodb {
        change.sequence_number = data.sequence_number.clone();
        change.keys = data.keys.unwrap_or_default().into();
        change.new_image = data.new_image.unwrap_or_default().into();
    }
    out.change = change;
    out
}

pub async fn deliver_forever(
    dynamodb: aws_sdk_dynamodb::Client,
    streams: aws_sdk_dynamodbstreams::Client,
    table: String,
    app: Arc<TwoFactor>,
) {
    let stream_arn = loop {
        match dynamodb.describe_table().table_name(&table).send().await {
            Ok(out) => {
                if let Some(arn) = out.table().and_then(|t| t.latest_stream_arn()) {
                    break arn.to_string();
                }
                eprintln!("local-server: table {table} has no stream; asynchronous SMS will not be delivered");
                return;
            }
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    };
    let mut iterators: HashMap<String, String> = HashMap::new();
    let mut pending: Vec<(EventRecord, u32)> = Vec::new();
    loop {
        if let Ok(described) = streams.describe_stream().stream_arn(&stream_arn).send().await {
            for shard in described.stream_description().map(|d| d.shards()).unwrap_or_default() {
                let Some(shard_id) = shard.shard_id() else { continue };
                if iterators.contains_key(shard_id) {
                    continue;
                }
                if let Ok(it) = streams
                    .get_shard_iterator()
                    .stream_arn(&stream_arn)
                    .shard_id(shard_id)
                    .shard_iterator_type(ShardIteratorType::TrimHorizon)
                    .send()
                    .await
                {
                    if let Some(iterator) = it.shard_iterator() {
                        iterators.insert(shard_id.to_string(), iterator.to_string());
                    }
                }
            }
        }
        for iterator in iterators.values_mut() {
            let Ok(out) = streams.get_records().shard_iterator(iterator.as_str()).send().await else { continue };
            if let Some(next) = out.next_shard_iterator() {
                *iterator = next.to_string();
            }
            pending.extend(
                out.records.unwrap_or_default().into_iter().filter(passes_filter).map(|r| (to_lambda_record(r), 0)),
            );
        }
        if !pending.is_empty() {
            pending = deliver_batch(&app, std::mem::take(&mut pending)).await;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Returns the records to try again.
async fn deliver_batch(app: &TwoFactor, batch: Vec<(EventRecord, u32)>) -> Vec<(EventRecord, u32)> {
    let mut event = Event::default();
    event.records = batch.iter().map(|(r, _)| r.clone()).collect();
    let response = sender::handle(app, event).await;
    let Some(first_failed) = response.batch_item_failures.first().and_then(|f| f.item_identifier.clone()) else {
        return Vec::new();
    };
    let position = batch.iter().position(|(r, _)| r.change.sequence_number.as_deref() == Some(first_failed.as_str()));
    let retry: Vec<_> = batch.into_iter().skip(position.unwrap_or(0)).collect();
    retry
        .into_iter()
        .enumerate()
        .filter_map(|(i, (record, tries))| {
            let tries = if i == 0 { tries + 1 } else { tries };
            if tries > MAX_RETRIES {
                eprintln!(
                    "local-server: giving up on stream record {} (on-failure destination in AWS)",
                    record.event_id
                );
                None
            } else {
                Some((record, tries))
            }
        })
        .collect()
}
