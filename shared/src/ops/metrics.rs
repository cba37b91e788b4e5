//! What an operator sees: one CloudWatch embedded metric format (EMF) line per request.
//!
//! A handler derives its request's `Record` (family, operation, outcome, destination country,
//! deliveries, latency) where it maps the result to its answer, and hands it to `Metrics`.
//! Deployed, the line goes to stdout, which Lambda ships to CloudWatch Logs, which extracts
//! the metrics: no PutMetricData, no call on the request's path. Locally, the server points
//! the same records at its own collector (see `local/`).
//!
//! Every dimension value comes from a closed set (the enums below, and ISO country codes of
//! the SMS allowlist): never a number, an address, a caller or an id, so the number of
//! CloudWatch metrics stays bounded whatever the traffic.
//!
//! One line holds up to three metric directives, so each metric is published under the
//! dimension sets that answer a question and no others (every extra set is one more billed
//! metric per value):
//! - `Requests` by `[Family, Operation]`, `[Family, Operation, Outcome]` and `[]` (all);
//! - `Latency`, `ServerErrors`, `ContentionRetries` (pauses after lost races on an item,
//!   `store::backoff`) and the operation's own counts (`CodesSent`, `SmsDelivered`,
//!   `EmailsDelivered`, `DeliveryFailures` for sends; `Verified` for verifications, and for
//!   family B's also `VerifiedBySms` / `VerifiedByEmail`: which channel's code was used) by
//!   `[Family, Operation]`, `[]` and, when the request had an SMS destination, `[Country]`;
//!   (`EmailsDelivered` never by country: it has none);
//! - on a refusal, `Refusals` by `[Rule]` and `[Family, Rule]`;
//! - on a test destination's use, `TestDestinationUses` and `TestDestinationOverLimit` (a
//!   destination past its `dailyUses` today: alarmed on) by `[Family]` and `[]`.
//!
//! No metric name appears in two directives, and each line's directives name only the
//! dimensions that line carries.

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `METRICS_NAMESPACE` when unset (the template sets one per stack).
pub const DEFAULT_NAMESPACE: &str = "VerificationCodes";

/// A family, named in code after its module; its metric value stays the letter dashboards and
/// alarms use (`name`: A, B, C).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// A: `signup`.
    Signup,
    /// B: `preregistration`.
    Preregistration,
    /// C: `twofactor`.
    TwoFactor,
}

/// What the request asked for. `Deliver` is the stream-fed sender's SMS of an `IsSync: false`
/// OTP (one record per stream record it acted on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    Create,
    Verify,
    Deliver,
    Generate,
    Validate,
    Send,
    Confirm,
}

/// How a request ended: one per request, derived by the family's handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A code was issued and handed to its channels (family C `IsSync: false`: stored for the
    /// sender); the sender: its SMS handed to SNS.
    Sent,
    Verified,
    /// A wrong code.
    Mismatch,
    Expired,
    NotFound,
    /// Verified or confirmed already.
    AlreadyUsed,
    Refused(Rule),
    /// SNS or SES refused (the code is dropped; the sender retries), or the sender gave up on
    /// an OTP it can no longer deliver.
    DeliveryFailed,
    /// Busy or internal: 500 / 503.
    Error,
    /// A test destination's code issued (nothing sent) or verified: never `CodesSent` or
    /// `Verified`, so conversion ratios hold only real people.
    Test,
}

/// Every rule that refuses a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// The per-number or per-address send limits (window, resend gap, daily per number).
    DestinationLimit,
    CallerSends,
    CallerFailures,
    NumberBlock,
    CountryCeiling,
    DailyCeiling,
    /// Too many failed verifications: of the code, or of its number or address.
    Lockout,
    /// Malformed or invalid request, unknown path, method, configuration or application.
    BadInput,
    /// An `Idempotency-Key` whose first request may still run (409) or that came with
    /// another body (422).
    IdempotencyKey,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Self::Signup => "A",
            Self::Preregistration => "B",
            Self::TwoFactor => "C",
        }
    }
}

impl Operation {
    pub fn name(self) -> &'static str {
        match self {
            Self::Create => "Create",
            Self::Verify => "Verify",
            Self::Deliver => "Deliver",
            Self::Generate => "Generate",
            Self::Validate => "Validate",
            Self::Send => "Send",
            Self::Confirm => "Confirm",
        }
    }

    /// The counts a line of this operation always carries (zeros included, so that sums and
    /// ratios over them have a value in every period the operation ran).
    fn counts(self) -> &'static [Count] {
        match self {
            Self::Create | Self::Generate | Self::Send => {
                &[Count::CodesSent, Count::SmsDelivered, Count::EmailsDelivered, Count::DeliveryFailures]
            }
            Self::Deliver => &[Count::SmsDelivered, Count::DeliveryFailures],
            // Family B's code may go by both channels: which one's code verified.
            Self::Validate => &[Count::Verified, Count::VerifiedBySms, Count::VerifiedByEmail],
            Self::Verify | Self::Confirm => &[Count::Verified],
        }
    }
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sent => "Sent",
            Self::Verified => "Verified",
            Self::Mismatch => "Mismatch",
            Self::Expired => "Expired",
            Self::NotFound => "NotFound",
            Self::AlreadyUsed => "AlreadyUsed",
            Self::Refused(_) => "Refused",
            Self::DeliveryFailed => "DeliveryFailed",
            Self::Error => "Error",
            Self::Test => "Test",
        }
    }

    /// Whether the answer is a 5xx (each family's handler test holds its statuses to this).
    pub fn is_server_error(self) -> bool {
        matches!(self, Self::DeliveryFailed | Self::Error)
    }
}

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Self::DestinationLimit => "DestinationLimit",
            Self::CallerSends => "CallerSends",
            Self::CallerFailures => "CallerFailures",
            Self::NumberBlock => "NumberBlock",
            Self::CountryCeiling => "CountryCeiling",
            Self::DailyCeiling => "DailyCeiling",
            Self::Lockout => "Lockout",
            Self::BadInput => "BadInput",
            Self::IdempotencyKey => "IdempotencyKey",
        }
    }
}

/// An ISO 3166-1 alpha-2 code: the only form a destination takes in a metric.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country([u8; 2]);

impl Country {
    pub fn new(code: &str) -> Option<Self> {
        match code.as_bytes() {
            [a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => Some(Self([*a, *b])),
            _ => None,
        }
    }

    /// The country of an E.164 number (as libphonenumber assigns it).
    pub fn of_phone(e164: &str) -> Option<Self> {
        crate::domain::phone::region_of(e164).and_then(Self::new)
    }

    pub fn as_str(&self) -> &str {
        // Two ASCII capitals by construction.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The counts a line may carry besides `Requests`, `Latency` and `ServerErrors`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Count {
    CodesSent,
    SmsDelivered,
    EmailsDelivered,
    DeliveryFailures,
    Verified,
    VerifiedBySms,
    VerifiedByEmail,
}

/// The channel whose code verified (family B).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Sms,
    Email,
}

impl Count {
    fn name(self) -> &'static str {
        match self {
            Self::CodesSent => "CodesSent",
            Self::SmsDelivered => "SmsDelivered",
            Self::EmailsDelivered => "EmailsDelivered",
            Self::DeliveryFailures => "DeliveryFailures",
            Self::Verified => "Verified",
            Self::VerifiedBySms => "VerifiedBySms",
            Self::VerifiedByEmail => "VerifiedByEmail",
        }
    }
}

/// One request as the metrics see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub family: Family,
    pub operation: Operation,
    pub outcome: Outcome,
    /// The SMS destination's country, when the request had one and got that far.
    pub country: Option<Country>,
    pub sms_delivered: u32,
    pub emails_delivered: u32,
    /// Family B: the channel whose code verified.
    pub channel: Option<Channel>,
    /// A test destination used more than its `dailyUses` today (alarmed on).
    pub test_over_limit: bool,
    /// Pauses after lost races on an item (`store::backoff`): contention, per request.
    pub contention_retries: u32,
    pub latency: Duration,
}

impl Record {
    pub fn new(family: Family, operation: Operation, outcome: Outcome) -> Self {
        Self {
            family,
            operation,
            outcome,
            country: None,
            sms_delivered: 0,
            emails_delivered: 0,
            channel: None,
            test_over_limit: false,
            contention_retries: 0,
            latency: Duration::ZERO,
        }
    }

    pub fn country(self, country: Option<Country>) -> Self {
        Self { country, ..self }
    }

    /// SMS and e-mails handed to SNS and SES by this request.
    pub fn delivered(self, sms: u32, emails: u32) -> Self {
        Self { sms_delivered: sms, emails_delivered: emails, ..self }
    }

    /// The channel whose code verified.
    pub fn verified_by(self, channel: Channel) -> Self {
        Self { channel: Some(channel), ..self }
    }

    /// A test destination's use, past its daily uses or not.
    pub fn test_use(self, over_limit: bool) -> Self {
        Self { outcome: Outcome::Test, test_over_limit: over_limit, ..self }
    }

    /// The pauses the request took after losing races on its items.
    pub fn retried(self, contention_retries: u32) -> Self {
        Self { contention_retries, ..self }
    }

    pub fn took(self, latency: Duration) -> Self {
        Self { latency, ..self }
    }

    fn count(&self, count: Count) -> u32 {
        match count {
            Count::CodesSent => u32::from(self.outcome == Outcome::Sent),
            Count::SmsDelivered => self.sms_delivered,
            Count::EmailsDelivered => self.emails_delivered,
            Count::DeliveryFailures => u32::from(self.outcome == Outcome::DeliveryFailed),
            Count::Verified => u32::from(self.outcome == Outcome::Verified),
            Count::VerifiedBySms => u32::from(self.outcome == Outcome::Verified && self.channel == Some(Channel::Sms)),
            Count::VerifiedByEmail => {
                u32::from(self.outcome == Outcome::Verified && self.channel == Some(Channel::Email))
            }
        }
    }

    /// The EMF document of this record: one line of JSON, no newline.
    pub fn emf(&self, namespace: &str, timestamp_ms: u64) -> String {
        let mut line = String::with_capacity(768);
        // Writing to a String cannot fail.
        let _ = self.write_emf(&mut line, namespace, timestamp_ms);
        line
    }

    fn write_emf(&self, out: &mut String, namespace: &str, timestamp_ms: u64) -> fmt::Result {
        let namespace = Quoted(namespace);
        write!(out, r#"{{"_aws":{{"Timestamp":{timestamp_ms},"CloudWatchMetrics":["#)?;
        write!(
            out,
            r#"{{"Namespace":{namespace},"Dimensions":[["Family","Operation"],["Family","Operation","Outcome"],[]],"Metrics":[{{"Name":"Requests","Unit":"Count"}}]}}"#
        )?;
        write!(out, r#",{{"Namespace":{namespace},"Dimensions":[["Family","Operation"],[]"#)?;
        if self.country.is_some() {
            out.push_str(r#",["Country"]"#);
        }
        out.push_str(
            r#"],"Metrics":[{"Name":"Latency","Unit":"Milliseconds"},{"Name":"ServerErrors","Unit":"Count"},{"Name":"ContentionRetries","Unit":"Count"}"#,
        );
        // E-mails have no country: by the SMS destination's they would only be billed noise.
        let by_country = |count: &&Count| self.country.is_none() || **count != Count::EmailsDelivered;
        for count in self.operation.counts().iter().filter(by_country) {
            write!(out, r#",{{"Name":"{}","Unit":"Count"}}"#, count.name())?;
        }
        out.push_str("]}");
        if self.country.is_some() && self.operation.counts().contains(&Count::EmailsDelivered) {
            write!(
                out,
                r#",{{"Namespace":{namespace},"Dimensions":[["Family","Operation"],[]],"Metrics":[{{"Name":"EmailsDelivered","Unit":"Count"}}]}}"#
            )?;
        }
        if let Outcome::Refused(_) = self.outcome {
            write!(
                out,
                r#",{{"Namespace":{namespace},"Dimensions":[["Rule"],["Family","Rule"]],"Metrics":[{{"Name":"Refusals","Unit":"Count"}}]}}"#
            )?;
        }
        if self.outcome == Outcome::Test {
            write!(
                out,
                r#",{{"Namespace":{namespace},"Dimensions":[["Family"],[]],"Metrics":[{{"Name":"TestDestinationUses","Unit":"Count"}},{{"Name":"TestDestinationOverLimit","Unit":"Count"}}]}}"#
            )?;
        }
        write!(
            out,
            r#"]}},"Family":"{}","Operation":"{}","Outcome":"{}""#,
            self.family.name(),
            self.operation.name(),
            self.outcome.name()
        )?;
        if let Outcome::Refused(rule) = self.outcome {
            write!(out, r#","Rule":"{}","Refusals":1"#, rule.name())?;
        }
        if let Some(country) = self.country {
            write!(out, r#","Country":"{}""#, country.as_str())?;
        }
        if self.outcome == Outcome::Test {
            write!(out, r#","TestDestinationUses":1,"TestDestinationOverLimit":{}"#, u8::from(self.test_over_limit))?;
        }
        let micros = self.latency.as_micros();
        write!(
            out,
            r#","Requests":1,"Latency":{}.{:03},"ServerErrors":{},"ContentionRetries":{}"#,
            micros / 1000,
            micros % 1000,
            u8::from(self.outcome.is_server_error()),
            self.contention_retries
        )?;
        for count in self.operation.counts() {
            write!(out, r#","{}":{}"#, count.name(), self.count(*count))?;
        }
        out.push('}');
        Ok(())
    }
}

/// `B generate sent country=AR 12 ms`: the record in a console line.
impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lower = |s: &str| s.to_ascii_lowercase();
        write!(f, "{} {} {}", self.family.name(), lower(self.operation.name()), lower(self.outcome.name()))?;
        if let Outcome::Refused(rule) = self.outcome {
            write!(f, " rule={}", rule.name())?;
        }
        if let Some(country) = self.country {
            write!(f, " country={}", country.as_str())?;
        }
        if self.sms_delivered > 0 {
            write!(f, " sms={}", self.sms_delivered)?;
        }
        if self.emails_delivered > 0 {
            write!(f, " emails={}", self.emails_delivered)?;
        }
        write!(f, " {} ms", self.latency.as_millis())
    }
}

/// A JSON string; the namespace is checked at cold start (`namespace`), so only `"` and `\`
/// could need escaping, and they cannot be there: escaped anyway, never trusted.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' | '\\' => write!(f, "\\{c}")?,
                c if c.is_control() => write!(f, "\\u{:04x}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

/// Where records go.
pub trait Sink: Send + Sync {
    /// `line` is the record's EMF document (one line, no newline).
    fn emit(&self, record: &Record, line: &str);
}

/// Lambda: stdout, which Lambda ships to CloudWatch Logs line by line.
pub struct Stdout;

impl Sink for Stdout {
    fn emit(&self, _record: &Record, line: &str) {
        let mut out = std::io::stdout().lock();
        // One write of the whole line: the log stream never holds half a document. A full
        // pipe or a closed stdout loses the metric, never the request.
        let _ = out.write_all(format!("{line}\n").as_bytes()).and_then(|()| out.flush());
    }
}

/// The handlers' metrics: a namespace and a sink, or nothing (tests that do not look).
#[derive(Clone, Default)]
pub struct Metrics {
    namespace: Arc<str>,
    sink: Option<Arc<dyn Sink>>,
}

impl Metrics {
    pub fn new(namespace: &str, sink: Arc<dyn Sink>) -> Self {
        Self { namespace: namespace.into(), sink: Some(sink) }
    }

    /// What a Lambda function uses: stdout.
    pub fn stdout(namespace: &str) -> Self {
        Self::new(namespace, Arc::new(Stdout))
    }

    pub fn off() -> Self {
        Self::default()
    }

    pub fn emit(&self, record: &Record) {
        if let Some(sink) = &self.sink {
            sink.emit(record, &record.emf(&self.namespace, now_ms()));
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use testkit::emf::{Datum, extract};

    use super::*;

    #[test]
    fn when_a_country_is_named_should_be_two_letters_of_the_number() {
        assert_eq!(Country::new("tr"), None);
        assert_eq!(Country::new("TUR"), None);
        assert_eq!(Country::of_phone("+905321234567"), Country::new("TR"));
        assert_eq!(Country::of_phone("+5491123456789"), Country::new("AR"));
    }

    fn tr() -> Option<Country> {
        Country::new("TR")
    }

    fn flat(data: &[Datum]) -> Vec<String> {
        data.iter().map(Datum::to_string).collect()
    }

    #[test]
    fn when_a_send_is_recorded_should_publish_its_counts_by_operation_all_and_country() {
        let record = Record::new(Family::TwoFactor, Operation::Create, Outcome::Sent)
            .country(tr())
            .delivered(1, 0)
            .took(Duration::from_micros(12_345));
        let data = extract(&record.emf("NS", 1_764_000_000_000)).unwrap();
        assert!(data.iter().all(|d| d.namespace == "NS"));
        let flat = flat(&data);
        for expected in [
            "Requests{Family=C,Operation=Create}=1",
            "Requests{Family=C,Operation=Create,Outcome=Sent}=1",
            "Requests{}=1",
            "Latency{Family=C,Operation=Create}=12.345",
            "Latency{}=12.345",
            "CodesSent{Country=TR}=1",
            "SmsDelivered{Country=TR}=1",
            "EmailsDelivered{Family=C,Operation=Create}=0",
            "DeliveryFailures{}=0",
            "ServerErrors{Family=C,Operation=Create}=0",
        ] {
            assert!(flat.contains(&expected.to_string()), "{expected} not in {flat:#?}");
        }
        assert!(!flat.iter().any(|d| d.starts_with("Refusals") || d.starts_with("Verified")), "{flat:#?}");
        assert!(!flat.iter().any(|d| d.starts_with("Requests{Country")), "requests are not by country");
        assert!(!flat.iter().any(|d| d.starts_with("EmailsDelivered{Country")), "e-mails have no country");
        assert!(flat.contains(&"EmailsDelivered{}=0".to_string()), "{flat:#?}");
        let units: Vec<_> = data.iter().map(|d| (d.name.as_str(), d.unit.as_deref())).collect();
        assert!(units.contains(&("Latency", Some("Milliseconds"))));
        assert!(units.contains(&("Requests", Some("Count"))));
    }

    #[test]
    fn when_a_rule_refuses_should_count_the_refusal_by_rule_and_family() {
        let record = Record::new(Family::Preregistration, Operation::Generate, Outcome::Refused(Rule::NumberBlock));
        let flat = flat(&extract(&record.emf("NS", 1)).unwrap());
        for expected in [
            "Refusals{Rule=NumberBlock}=1",
            "Refusals{Family=B,Rule=NumberBlock}=1",
            "Requests{Family=B,Operation=Generate,Outcome=Refused}=1",
            "CodesSent{Family=B,Operation=Generate}=0",
        ] {
            assert!(flat.contains(&expected.to_string()), "{expected} not in {flat:#?}");
        }
        assert!(!flat.iter().any(|d| d.contains("Country")), "no destination resolved: {flat:#?}");
    }

    #[test]
    fn when_a_verification_or_a_failure_is_recorded_should_count_it_and_the_5xx() {
        let verified = Record::new(Family::TwoFactor, Operation::Verify, Outcome::Verified).country(tr());
        let flat_ok = flat(&extract(&verified.emf("NS", 1)).unwrap());
        assert!(flat_ok.contains(&"Verified{Country=TR}=1".to_string()), "{flat_ok:#?}");
        assert!(!flat_ok.iter().any(|d| d.starts_with("CodesSent")), "a verification sends nothing");
        let failed = Record::new(Family::Signup, Operation::Send, Outcome::DeliveryFailed);
        let flat_failed = flat(&extract(&failed.emf("NS", 1)).unwrap());
        assert!(flat_failed.contains(&"ServerErrors{}=1".to_string()), "{flat_failed:#?}");
        assert!(flat_failed.contains(&"DeliveryFailures{Family=A,Operation=Send}=1".to_string()));
        let mismatch = Record::new(Family::Signup, Operation::Confirm, Outcome::Mismatch);
        let flat_mismatch = flat(&extract(&mismatch.emf("NS", 1)).unwrap());
        assert!(flat_mismatch.contains(&"Verified{}=0".to_string()), "{flat_mismatch:#?}");
        assert!(flat_mismatch.contains(&"ServerErrors{}=0".to_string()));
    }

    #[test]
    fn when_a_test_destination_is_used_should_count_it_apart_and_its_overuse() {
        let within = Record::new(Family::TwoFactor, Operation::Create, Outcome::Sent).country(tr()).test_use(false);
        let flat_within = flat(&extract(&within.emf("NS", 1)).unwrap());
        for expected in ["TestDestinationUses{Family=C}=1", "TestDestinationUses{}=1", "TestDestinationOverLimit{}=0"] {
            assert!(flat_within.contains(&expected.to_string()), "{expected} not in {flat_within:#?}");
        }
        assert!(flat_within.contains(&"CodesSent{}=0".to_string()), "a test code is no code sent");
        assert!(flat_within.contains(&"Requests{Family=C,Operation=Create,Outcome=Test}=1".to_string()));
        let over = Record::new(Family::Signup, Operation::Send, Outcome::Sent).test_use(true);
        let flat_over = flat(&extract(&over.emf("NS", 1)).unwrap());
        assert!(flat_over.contains(&"TestDestinationOverLimit{}=1".to_string()), "{flat_over:#?}");
        assert!(flat_over.contains(&"TestDestinationOverLimit{Family=A}=1".to_string()));
        let verified = Record::new(Family::Preregistration, Operation::Validate, Outcome::Verified).test_use(false);
        let flat_verified = flat(&extract(&verified.emf("NS", 1)).unwrap());
        assert!(flat_verified.contains(&"Verified{}=0".to_string()), "never a conversion: {flat_verified:#?}");
        let real = Record::new(Family::TwoFactor, Operation::Create, Outcome::Sent);
        assert!(!real.emf("NS", 1).contains("TestDestination"));
    }

    #[test]
    fn when_every_record_is_rendered_should_stay_within_emf_limits_and_bounded_dimensions() {
        let operations = [
            (Family::TwoFactor, Operation::Create),
            (Family::TwoFactor, Operation::Verify),
            (Family::TwoFactor, Operation::Deliver),
            (Family::Preregistration, Operation::Generate),
            (Family::Preregistration, Operation::Validate),
            (Family::Signup, Operation::Send),
            (Family::Signup, Operation::Confirm),
        ];
        let rules = [
            Rule::DestinationLimit,
            Rule::CallerSends,
            Rule::CallerFailures,
            Rule::NumberBlock,
            Rule::CountryCeiling,
            Rule::DailyCeiling,
            Rule::Lockout,
            Rule::BadInput,
            Rule::IdempotencyKey,
        ];
        let mut outcomes = vec![
            Outcome::Sent,
            Outcome::Verified,
            Outcome::Mismatch,
            Outcome::Expired,
            Outcome::NotFound,
            Outcome::AlreadyUsed,
            Outcome::DeliveryFailed,
            Outcome::Error,
            Outcome::Test,
        ];
        outcomes.extend(rules.map(Outcome::Refused));
        for (family, operation) in operations {
            for outcome in &outcomes {
                for country in [None, tr()] {
                    let record = Record::new(family, operation, *outcome).country(country);
                    let line = record.emf("VerificationCodes/prod", now_ms());
                    assert!(!line.contains('\n'), "one line");
                    let data = extract(&line).unwrap_or_else(|e| panic!("{record:?}: {e}: {line}"));
                    for datum in &data {
                        for (key, _) in &datum.dimensions {
                            assert!(["Family", "Operation", "Outcome", "Rule", "Country"].contains(&key.as_str()));
                        }
                    }
                    let root: Value = serde_json::from_str(&line).unwrap();
                    let names: Vec<&str> = root["_aws"]["CloudWatchMetrics"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .flat_map(|d| d["Metrics"].as_array().unwrap().iter().map(|m| m["Name"].as_str().unwrap()))
                        .collect();
                    let mut unique = names.clone();
                    unique.sort_unstable();
                    unique.dedup();
                    assert_eq!(unique.len(), names.len(), "a metric in two directives: {line}");
                }
            }
        }
    }

    #[test]
    fn when_a_document_breaks_the_specification_should_be_refused_as_cloudwatch_would() {
        let good = Record::new(Family::TwoFactor, Operation::Create, Outcome::Sent).emf("NS", 1);
        assert!(extract(&good).is_ok());
        let root: Value = serde_json::from_str(&good).unwrap();
        let broken = |f: &dyn Fn(&mut Value)| {
            let mut doc = root.clone();
            f(&mut doc);
            extract(&doc.to_string())
        };
        assert!(broken(&|d| d["_aws"]["Timestamp"] = Value::from("now")).is_err(), "timestamp");
        assert!(broken(&|d| d["Family"] = Value::from(3)).is_err(), "a dimension value must be a string");
        assert!(broken(&|d| d.as_object_mut().unwrap().remove("Requests").map(|_| ()).unwrap_or(())).is_err());
        assert!(broken(&|d| d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = "Calls".into()).is_err());
        let keys: Vec<Value> = (0..31).map(|i| Value::from(format!("D{i}"))).collect();
        assert!(
            broken(&|d| {
                for i in 0..31 {
                    d[format!("D{i}")] = Value::from("x");
                }
                d["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0] = Value::Array(keys.clone());
            })
            .is_err(),
            "31 dimensions"
        );
        let many: Vec<Value> = (0..101).map(|_| serde_json::json!({"Name": "Requests"})).collect();
        assert!(broken(&|d| d["_aws"]["CloudWatchMetrics"][0]["Metrics"] = Value::Array(many.clone())).is_err());
    }

    #[test]
    fn when_printed_for_a_console_should_say_it_in_one_short_line() {
        let record = Record::new(Family::Preregistration, Operation::Generate, Outcome::Sent)
            .country(Country::new("AR"))
            .delivered(1, 1)
            .took(Duration::from_millis(12));
        assert_eq!(record.to_string(), "B generate sent country=AR sms=1 emails=1 12 ms");
        let refused = Record::new(Family::TwoFactor, Operation::Create, Outcome::Refused(Rule::NumberBlock));
        assert_eq!(refused.to_string(), "C create refused rule=NumberBlock 0 ms");
    }
}
