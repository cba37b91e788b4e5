//! Counting a failed attempt on a stored one-time code of families B and C, which store codes
//! of one shape (`docs/table.md`): hash and key version, expiry, failed attempts and their
//! maximum, verified at, delivery state. Family A keeps its code inside the user item, under
//! other names, and writes its own update (`signup::confirm`).
//!
//! Accepting a code is each family's verifying transaction (`twofactor::verify`,
//! `preregistration::validate`): the keyed hash is compared inside DynamoDB, so nothing is
//! read first; a wrong code is counted with this update, with the destinations' failure locks
//! (`guards::Guard::lock`), in a second transaction.

use aws_sdk_dynamodb::types::Update;

use crate::dynamo::{Item, StoreError, n};
use crate::schema::{ATTEMPTS, MAX_ATTEMPTS, PK, VERIFIED_AT, expression};

/// The update that counts one failed attempt on a code of the shared shape: refused once the
/// code is verified or used up (the attempt limit is exact under races: it is the condition).
pub fn failed_attempt(table: &str, item_key: Item) -> Result<Update, StoreError> {
    Update::builder()
        .table_name(table)
        .set_key(Some(item_key))
        .update_expression(expression!("SET {ATTEMPTS} = {ATTEMPTS} + :one"))
        .condition_expression(expression!(
            "attribute_exists({PK}) AND attribute_not_exists({VERIFIED_AT}) AND {ATTEMPTS} < {MAX_ATTEMPTS}"
        ))
        .expression_attribute_values(":one", n(1))
        .build()
        .map_err(StoreError::from)
}
