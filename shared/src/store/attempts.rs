//! Counting a failed attempt on a stored one-time code of families B and C, which store codes
//! of one shape (`docs/table.md`): hash and key version, expiry, failed attempts and their
//! maximum, verified at, delivery state. Family A keeps its code inside the user item, under
//! other names, and writes its own update (`signup::confirm`).
//!
//! Accepting a code is each family's verifying transaction (`twofactor::verify`,
//! `preregistration::validate`): the keyed hash is compared inside DynamoDB, so nothing is
//! read first; a wrong code is counted with this update, with the destinations' failure locks
//! (`guards::Guard::lock`), in a second transaction.

use std::sync::OnceLock;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure, Update};

use crate::domain::crypto::{KeyRing, MAX_KEY_VERSIONS};
use crate::store::dynamo::{Item, StoreError, n, s};
use crate::store::schema::{
    ATTEMPTS, DeliveryState, EMAIL_HASH, HASH, KEY_VERSION, MAX_ATTEMPTS, PK, VERIFIED_AT, expression,
};

/// A submitted code's keyed hash under one key version.
pub type SubmittedHash = (u32, [u8; 32]);

/// The submitted code's keyed hash under every active key version, current first: the stored
/// code's version is not known before the accepting write, and each costs one HMAC whether or
/// not a code exists.
pub fn submitted_hashes(keys: &KeyRing, purpose: &str, binding: &str, code: &str) -> Vec<SubmittedHash> {
    keys.versions().filter_map(|v| Some((v, keys.hash(v, purpose, binding, code)?))).collect()
}

/// The placeholders of `AcceptCondition`'s terms, one pair per version.
const HASH_VALUES: [(&str, &str); MAX_KEY_VERSIONS] = [(":k0", ":h0"), (":k1", ":h1"), (":k2", ":h2"), (":k3", ":h3")];

/// An accepting write's condition: a family's own terms, then "the stored keyed hash is one of
/// the submitted code's", `(kv = :k0 AND h = :h0) OR ...`, one term per active key version.
/// Formatted once per process and count of versions, so a request pays what a literal costs.
pub struct AcceptCondition([OnceLock<String>; MAX_KEY_VERSIONS], HashTerm);

/// Which stored hash a submitted code is compared with.
#[derive(Clone, Copy)]
enum HashTerm {
    /// `h`: the code's (or the SMS code's, of a code sent by both channels).
    Code,
    /// Family B's e-mail code of a code sent by both channels: `he`, or `h` where there is no
    /// `he` (a code sent by e-mail alone, or stored before codes had one per channel).
    EmailCode,
}

impl AcceptCondition {
    pub const fn new() -> Self {
        Self([const { OnceLock::new() }; MAX_KEY_VERSIONS], HashTerm::Code)
    }

    /// Compares the submitted code with an e-mail code (`HashTerm::EmailCode`).
    pub const fn email_code() -> Self {
        Self([const { OnceLock::new() }; MAX_KEY_VERSIONS], HashTerm::EmailCode)
    }

    /// `usable` (a family's terms, `AND`-ed) with the hash terms of `versions` versions.
    pub fn get(&'static self, usable: &str, versions: usize) -> &'static str {
        let count = versions.clamp(1, MAX_KEY_VERSIONS);
        self.0[count - 1].get_or_init(|| {
            let term = |(k, h): &(&str, &str)| match self.1 {
                HashTerm::Code => format!("{KEY_VERSION} = {k} AND {HASH} = {h}"),
                HashTerm::EmailCode => format!(
                    "{KEY_VERSION} = {k} AND ({EMAIL_HASH} = {h} OR (attribute_not_exists({EMAIL_HASH}) AND {HASH} = {h}))"
                ),
            };
            let terms: Vec<String> = HASH_VALUES[..count].iter().map(term).collect();
            // DynamoDB refuses redundant parentheses: a single version's term stands bare.
            match terms.as_slice() {
                [one] => format!("{usable} AND {one}"),
                _ => format!("{usable} AND (({}))", terms.join(") OR (")),
            }
        })
    }
}

impl Default for AcceptCondition {
    fn default() -> Self {
        Self::new()
    }
}

/// Binds `hashes` to the placeholders of `AcceptCondition`'s terms.
pub fn bind_hashes(mut update: UpdateBuilder, hashes: &[SubmittedHash]) -> UpdateBuilder {
    for ((k, h), (version, hash)) in HASH_VALUES.iter().zip(hashes) {
        update = update
            .expression_attribute_values(*k, n(version))
            .expression_attribute_values(*h, AttributeValue::B(Blob::new(hash.to_vec())));
    }
    update
}

/// The update that counts one failed attempt on a code of the shared shape: refused once the
/// code is verified or used up (the attempt limit is exact under races: it is the condition).
/// The accepting write of a stored code of families B and C: marks it verified if `condition`
/// (`AcceptCondition`) holds, with the values every such condition uses bound (`:now`,
/// `:failed`, the id's plaintext `:lk` when it has one, the hash terms); the family binds its
/// own (`:uid`, `:app`). Refused, DynamoDB returns the code as it was.
pub fn accepting(
    table: &str,
    item_key: Item,
    condition: &str,
    plain: Option<[u8; 16]>,
    hashes: &[SubmittedHash],
    now_ms: u64,
) -> UpdateBuilder {
    let mut update = Update::builder()
        .table_name(table)
        .set_key(Some(item_key))
        .update_expression(expression!("SET {VERIFIED_AT} = :now"))
        .condition_expression(condition)
        .expression_attribute_values(":now", n(now_ms))
        .expression_attribute_values(":failed", s(DeliveryState::Failed.as_str()))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    if let Some(plain) = plain {
        update = update.expression_attribute_values(":lk", AttributeValue::B(Blob::new(plain.to_vec())));
    }
    bind_hashes(update, hashes)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_the_accepting_condition_is_built_should_name_every_version_once() {
        static ACCEPT: AcceptCondition = AcceptCondition::new();
        assert_eq!(ACCEPT.get("uid = :uid", 1), "uid = :uid AND kv = :k0 AND h = :h0");
        assert_eq!(ACCEPT.get("uid = :uid", 2), "uid = :uid AND ((kv = :k0 AND h = :h0) OR (kv = :k1 AND h = :h1))");
        static EMAIL: AcceptCondition = AcceptCondition::email_code();
        assert_eq!(
            EMAIL.get("uid = :uid", 1),
            "uid = :uid AND kv = :k0 AND (he = :h0 OR (attribute_not_exists(he) AND h = :h0))"
        );
        let four = ACCEPT.get("uid = :uid", 4);
        assert!(four.ends_with("OR (kv = :k3 AND h = :h3))"), "{four}");
        let keys = KeyRing::parse("2:fedcba9876543210fedcba9876543210,1:0123456789abcdef0123456789abcdef").unwrap();
        let hashes = submitted_hashes(&keys, "2fa", "id", "123456");
        assert_eq!(hashes.iter().map(|(v, _)| *v).collect::<Vec<_>>(), [2, 1], "current first");
        let update = bind_hashes(
            Update::builder().table_name("t").set_key(Some(Item::new())).update_expression("SET x = :k0"),
            &hashes,
        )
        .build()
        .unwrap();
        let values = update.expression_attribute_values().unwrap();
        assert_eq!((values[":k0"].clone(), values[":k1"].clone()), (n(2), n(1)));
        assert!(!values.contains_key(":k2"));
    }
}
