//! The table's schema: every key shape, attribute name and stored value, spelled once here.
//! `docs/table.md` says, for each item type, what it holds, who writes it and who reads it.
//!
//! Names are short because every byte of a name is stored, read and paid for on every item.
//! Expressions are written with these constants through `expression!`, which formats each
//! one once per process: a request pays what a string literal costs.

/// The partition key of every item: the item's kind and subject (`OTP#<uuid>`).
pub const PK: &str = "pk";
/// The sort key of every item: its kind again (`OTP`, `WINDOW`).
pub const SK: &str = "sk";
/// When DynamoDB's TTL may remove the item (epoch seconds). Clean-up only: expiry that
/// matters is checked in code, with `exp` / `cexp` or a window's start.
pub const TTL: &str = "ttl";

// Codes of every family (the shape `attempts` works on; family A's differs, see below).
pub const HASH: &str = "h";
/// Family B: the keyed hash of the e-mail's own code when a code went by SMS and by e-mail
/// (`h` is then the SMS code's; `preregistration::channels`).
pub const EMAIL_HASH: &str = "he";
pub const KEY_VERSION: &str = "kv";
/// Epoch ms.
pub const CREATED_AT: &str = "cat";
/// Epoch ms; what the service enforces.
pub const EXPIRES_AT: &str = "exp";
pub const ATTEMPTS: &str = "att";
pub const MAX_ATTEMPTS: &str = "matt";
/// Epoch ms; present once the code (or family A's user) is verified.
pub const VERIFIED_AT: &str = "vat";
/// A [`DeliveryState`].
pub const DELIVERY: &str = "dlv";
pub const LANGUAGE: &str = "lang";

// Family C's OTP.
pub const USER_ID: &str = "uid";
pub const DESTINATION: &str = "dest";
pub const REFERENCE: &str = "ref";
pub const NUMERIC_ID: &str = "nid";
pub const PROFILE: &str = "prof";
pub const SOURCE: &str = "src";
/// The code sealed for the asynchronous sender; erased once sent or given up.
pub const SEALED_CODE: &str = "sct";
/// Sends the asynchronous sender tried and SNS refused.
pub const FAILED_SENDS: &str = "dla";
/// Why delivery failed.
pub const DELIVERY_FAILURE: &str = "dwy";
/// The plaintext inside the opaque id of an OTP (`ids::OtpIdPlain`) or of a family B code
/// (`ids::CnfIdPlain`), which the verifying write checks (absent under a legacy v4 id).
pub const ID_PLAIN: &str = "lk";

// Family B's code and the pointer to a destination's latest code.
pub const APPLICATION: &str = "app";
pub const MOBILE: &str = "mob";
pub const EMAIL_ADDRESS: &str = "eml";
/// The request's audit fields, as JSON.
pub const AUDIT: &str = "audit";
/// A code's id: the latest code of a destination (family B), a user's outstanding code (A).
pub const CODE_ID: &str = "cid";
/// The code the latest one replaced ("" when none), for when the latest is never delivered
/// (family B's pointer; family A's user, with the `PREVIOUS_*` copies below).
pub const PREVIOUS_CODE_ID: &str = "pcid";

// Family A's user (`USER_ID`, `CREATED_AT`, `VERIFIED_AT`, and its outstanding code's
// `CODE_ID`, `HASH`, `KEY_VERSION` too).
pub const EMAIL: &str = "email";
/// A [`UserStatus`]; on an idempotency record, [`IDEMPOTENCY_FAILED`].
pub const STATUS: &str = "st";
/// `email_verified`, stored as [`flag`] spells it.
pub const EMAIL_VERIFIED: &str = "ev";
/// Epoch ms.
pub const CODE_EXPIRES_AT: &str = "cexp";
pub const CODE_ATTEMPTS: &str = "catt";
pub const CODE_MAX_ATTEMPTS: &str = "cmatt";
/// What the code's hash binds besides purpose and code: [`HASH_BINDS_ADDRESS`] for the
/// normalised address (a confirmation then needs no read); absent or 0 for `CODE_ID`, as
/// codes sent before it were stored.
pub const HASH_BINDING: &str = "hbv";
/// The stored `HASH_BINDING` of a code bound to its address.
pub const HASH_BINDS_ADDRESS: u32 = 2;
// The code a send replaced, copied by the send itself (`PREVIOUS_CODE_ID` too, "" when there
// was none), so an e-mail that never left can put it back without a read.
pub const PREVIOUS_HASH: &str = "ph";
pub const PREVIOUS_KEY_VERSION: &str = "pkv";
pub const PREVIOUS_HASH_BINDING: &str = "phbv";
pub const PREVIOUS_CODE_EXPIRES_AT: &str = "pcexp";
pub const PREVIOUS_CODE_ATTEMPTS: &str = "pcatt";
pub const PREVIOUS_CODE_MAX_ATTEMPTS: &str = "pcmatt";

// Windows (`dynamo::Window`) and guard buckets (`guards::Guard`).
/// Epoch ms.
pub const WINDOW_START: &str = "ws";
pub const COUNT: &str = "cnt";
/// A guard's events times its conversion percentage (see `guards::Conversion`).
pub const SCALED_EVENTS: &str = "sp";
/// A guard's conversions times 100.
pub const SCALED_CONVERSIONS: &str = "vh";
/// Followed by a country (`cTR`): that country's count in the day's SMS bucket.
pub const COUNTRY_COUNT_PREFIX: &str = "c";

// Idempotency records (and `STATUS`).
/// SHA-256 of the request body.
pub const FINGERPRINT: &str = "fp";
/// Epoch ms.
pub const RECORDED_AT: &str = "at";
/// The answer to replay, as JSON.
pub const ANSWER: &str = "ans";
/// The stored `STATUS` of a record whose send delivered nothing.
pub const IDEMPOTENCY_FAILED: &str = "failed";

// Keys. A window's pk is its family's prefix, a [`WindowKind`] and its subject.
pub const OTP_PREFIX: &str = "OTP#";
pub const OTP_SK: &str = "OTP";
/// Keeps an OTP's numeric id unique (sk `OTP_SK`).
pub const OTP_ID_PREFIX: &str = "OTPID#";
pub const WATCH_PREFIX: &str = "OTPW#";
pub const WATCH_SK: &str = "WATCH";
pub const TWO_FACTOR_WINDOW_PREFIX: &str = "2FA#";
pub const CODE_PREFIX: &str = "CNF#";
pub const CODE_SK: &str = "CNF";
pub const LATEST_CODE_PREFIX: &str = "CNFLATEST#";
pub const CODE_WINDOW_PREFIX: &str = "CNF#";
pub const USER_PREFIX: &str = "USER#";
pub const USER_SK: &str = "USER";
pub const SIGNUP_WINDOW_PREFIX: &str = "SIGNUP#";
/// The sk of every window and guard bucket.
pub const WINDOW_SK: &str = "WINDOW";
pub const CALLER_SENDS_PREFIX: &str = "CALLER#SEND#";
pub const CALLER_FAILURES_PREFIX: &str = "CALLER#FAIL#";
/// Each SMS-sending family's own budgets (issue 23: a count an anonymous caller can move never
/// refuses family C): the number-block breaker, and the day's SMS of all countries in one item
/// (each country's count inside it).
pub const TWO_FACTOR_BLOCK_PREFIX: &str = "2FA#BLOCK#";
pub const TWO_FACTOR_CEILING_PK: &str = "2FA#CEIL";
pub const CODE_BLOCK_PREFIX: &str = "CNF#BLOCK#";
pub const CODE_CEILING_PK: &str = "CNF#CEIL";
/// The distinct callers (a byte of a hash of each) that sent into a family B block's bucket.
pub const BLOCK_CALLERS: &str = "cs";
/// A test destination's uses per UTC day, by family (`config::test_destinations`): counted
/// for the alarm, never a refusal. Each under its family's prefix, which its role may write.
pub const TWO_FACTOR_TEST_PREFIX: &str = "2FA#TEST#";
pub const CODE_TEST_PREFIX: &str = "CNF#TEST#";
pub const SIGNUP_TEST_PREFIX: &str = "SIGNUP#TEST#";
pub const IDEMPOTENCY_PREFIX: &str = "IDEM#";
pub const IDEMPOTENCY_SK: &str = "IDEM";

/// What a window counts, in its pk after the family's prefix (`CNF#GAP#<destination>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// Sends to a destination.
    Rate,
    /// The pause between two sends to a destination (a window of one).
    Gap,
    /// Family C's daily SMS to a number.
    Day,
    /// Failed verifications for a destination (its lock).
    Fail,
}

impl WindowKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Rate => "RATE",
            Self::Gap => "GAP",
            Self::Day => "DAY",
            Self::Fail => "FAIL",
        }
    }
}

/// Marks a failure lock's subject that is a keyed tag of an e-mail address, not a
/// destination (`CNF#FAIL#~<tag>`): the tag travels in family B's ids, the address does not.
pub const EMAIL_TAG_MARK: &str = "~";

/// The subject of an e-mail address's failure lock: `~` and its 40-bit tag in hex
/// (`crypto::KeyRing::email_tag`).
pub fn email_tag_subject(tag: u64) -> String {
    format!("{EMAIL_TAG_MARK}{tag:010x}")
}

/// A window's pk: `<family prefix><kind>#<subject>`.
pub fn window_pk(family_prefix: &str, kind: WindowKind, subject: &str) -> String {
    format!("{family_prefix}{}#{subject}", kind.as_str())
}

/// A fixed time bucket of a counter: `<pk>#<bucket number>` (guards and failure locks), or,
/// for a window whose length comes from the request, `<pk>#<length s>#<bucket number>`, so
/// buckets of different lengths never share an item.
pub fn bucket_pk(pk: &str, interval_ms: u64, at_ms: u64, with_length: bool) -> String {
    let bucket = at_ms / interval_ms;
    if with_length { format!("{pk}#{}#{bucket}", interval_ms / 1000) } else { format!("{pk}#{bucket}") }
}

/// How a code's delivery stands (`dlv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Family C's `IsSync: true`: the create function sends it before answering.
    Sync,
    /// Waiting for the asynchronous sender.
    Pending,
    Sent,
    /// Never reached its owner: the code can never be used.
    Failed,
}

impl DeliveryState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sync => "sync",
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        [Self::Sync, Self::Pending, Self::Sent, Self::Failed].into_iter().find(|state| state.as_str() == stored)
    }
}

/// A family A user's status (`st`), as Cognito names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    /// Has asked for a code and not confirmed it yet; TTL removes it in time.
    Unconfirmed,
    /// Confirmed an address: never expires.
    Confirmed,
}

impl UserStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unconfirmed => "UNCONFIRMED",
            Self::Confirmed => "CONFIRMED",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        [Self::Unconfirmed, Self::Confirmed].into_iter().find(|status| status.as_str() == stored)
    }
}

/// A boolean as the table stores it (`ev`): the string Cognito would answer.
pub const fn flag(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

/// An expression (update, condition) that names attributes by these constants, formatted
/// once per process: `expression!("SET {VERIFIED_AT} = :now")`. Only constants can be named
/// (the text lives in a static), so an expression cannot differ from one request to another.
macro_rules! expression {
    ($($format:tt)+) => {{
        static EXPRESSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| format!($($format)+));
        EXPRESSION.as_str()
    }};
}
pub(crate) use expression;

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// The `Pattern`s of the sender's `FilterCriteria` in template.yaml, as JSON.
    fn stream_filters() -> Vec<Value> {
        let template = include_str!("../../../template.yaml");
        let criteria = template.split_once("FilterCriteria:").expect("the sender's FilterCriteria").1;
        criteria
            .lines()
            .map(str::trim)
            .take_while(|line| {
                line.is_empty()
                    || line.starts_with('#')
                    || line.starts_with("Filters:")
                    || line.starts_with("- Pattern:")
            })
            .filter_map(|line| line.strip_prefix("- Pattern: '")?.strip_suffix('\''))
            .map(|pattern| serde_json::from_str(pattern).expect("a JSON pattern"))
            .collect()
    }

    #[test]
    fn when_the_template_filters_the_stream_should_name_the_schemas_attributes() {
        assert_eq!(
            stream_filters(),
            [
                json!({"eventName": ["INSERT"], "dynamodb": {"NewImage": {SEALED_CODE: {"B": [{"exists": true}]}}}}),
                json!({
                    "eventName": ["REMOVE"],
                    "userIdentity": {"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]},
                    "dynamodb": {"Keys": {PK: {"S": [{"prefix": WATCH_PREFIX}]}}},
                }),
            ]
        );
    }

    #[test]
    fn when_a_stored_state_is_read_back_should_be_the_one_written() {
        for state in [DeliveryState::Sync, DeliveryState::Pending, DeliveryState::Sent, DeliveryState::Failed] {
            assert_eq!(DeliveryState::parse(state.as_str()), Some(state));
        }
        for status in [UserStatus::Unconfirmed, UserStatus::Confirmed] {
            assert_eq!(UserStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!((DeliveryState::parse("FAILED"), UserStatus::parse("confirmed")), (None, None));
    }

    #[test]
    fn when_an_expression_names_constants_should_spell_the_attributes() {
        assert_eq!(expression!("SET {VERIFIED_AT} = :now"), "SET vat = :now");
        assert_eq!(window_pk(CODE_WINDOW_PREFIX, WindowKind::Gap, "a@b.c"), "CNF#GAP#a@b.c");
        assert_eq!(window_pk(CODE_WINDOW_PREFIX, WindowKind::Fail, &email_tag_subject(0xab)), "CNF#FAIL#~00000000ab");
    }
}
