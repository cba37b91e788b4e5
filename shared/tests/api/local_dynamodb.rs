//! The local DynamoDB-protocol server (moto under `local/moto_launcher.py`) keeps DynamoDB's
//! promise that a cancelled transaction writes nothing, with its item-level backup in
//! place of moto's whole-table copy, and refuses the update expressions DynamoDB refuses
//! with its checks made once from the expression's root and its parses reused.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem, Update};
use shared::store::dynamo::{get_n, key, n, s};

#[tokio::test]
async fn when_a_transaction_is_cancelled_should_leave_no_write_behind() {
    let client = Client::new(&testkit::sdk_config().await);
    let table = testkit::TABLE;
    let run = uuid::Uuid::new_v4().to_string();
    let (counter, added, absent) = (format!("tx-counter#{run}"), format!("tx-added#{run}"), format!("tx-absent#{run}"));
    client.put_item().table_name(table).set_item(Some(key(&counter, "x"))).item("c", n(1)).send().await.unwrap();

    // An update and a put that succeed on their own, then a condition that fails.
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(key(&counter, "x")))
        .update_expression("ADD c :one")
        .expression_attribute_values(":one", n(1))
        .build()
        .unwrap();
    let mut item = key(&added, "x");
    item.insert("v".into(), s("written"));
    let put = Put::builder().table_name(table).set_item(Some(item)).build().unwrap();
    let check = ConditionCheck::builder()
        .table_name(table)
        .set_key(Some(key(&absent, "x")))
        .condition_expression("attribute_exists(pk)")
        .build()
        .unwrap();
    let result = client
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().update(update).build())
        .transact_items(TransactWriteItem::builder().put(put).build())
        .transact_items(TransactWriteItem::builder().condition_check(check).build())
        .send()
        .await;
    assert!(result.is_err(), "the condition on a missing item must cancel the transaction");

    let counter_item = stored(&client, &counter).await.unwrap();
    assert_eq!(get_n::<u32>(&counter_item, "c"), Some(1), "the update was rolled back");
    assert!(stored(&client, &added).await.is_none(), "the put was rolled back");
}

#[tokio::test]
async fn when_an_update_expression_is_malformed_should_refuse_it_as_dynamodb_does() {
    let client = Client::new(&testkit::sdk_config().await);
    let run = uuid::Uuid::new_v4().to_string();
    let pk = format!("expr#{run}");
    let update = |expression: &'static str| {
        client
            .update_item()
            .table_name(testkit::TABLE)
            .set_key(Some(key(&pk, "x")))
            .update_expression(expression)
            .expression_attribute_values(":a", n(1))
            .expression_attribute_values(":b", n(2))
            .send()
    };
    // Each refusal is checked twice: the second time the expression's parse is reused.
    for _ in 0..2 {
        for (expression, why) in [
            ("SET a = :a, a = :b", "one path set twice"),
            ("SET a = :a, b = :a, c = :a, d = :a, a.x = :b", "overlapping paths, the second far down the list"),
            ("SET a = :a SET b = :b", "two SET clauses"),
            ("SET a = :a ADD c :a ADD d :b", "two ADD clauses"),
        ] {
            let refused = update(expression).await.expect_err(why);
            let message = format!("{:?}", refused.into_service_error());
            assert!(message.contains("ValidationException"), "{why}: {message}");
        }
    }
    // A long valid expression (as family A's user update) is applied in full, twice.
    for round in 1..=2_u32 {
        update("SET a = :a, b = :b, c = :a, d = :b, e = :a, f = :b, g = :a, h = :b ADD cnt :a").await.unwrap();
        let item = stored(&client, &pk).await.unwrap();
        assert_eq!(get_n::<u32>(&item, "h"), Some(2));
        assert_eq!(get_n::<u32>(&item, "cnt"), Some(round));
    }
}

/// The item (pk, "x") as it is now (a strongly consistent read).
async fn stored(client: &Client, pk: &str) -> Option<HashMap<String, AttributeValue>> {
    let read = client.get_item().table_name(testkit::TABLE).set_key(Some(key(pk, "x"))).consistent_read(true);
    read.send().await.unwrap().item
}
