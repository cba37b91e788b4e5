//! The metrics a deployed function would publish, seen locally: every request's record as one
//! short console line (`metrics: B generate sent country=AR 12 ms`), and the totals since
//! start at `GET /_local/metrics`, tallied from the very EMF lines a Lambda would print, read
//! as CloudWatch reads them (`testkit::emf::extract`), so a developer watching the
//! breaker or a limit trip sees what an operator's dashboard would.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{Value, json};
use shared::ops::metrics::{Record, Sink};

#[derive(Default)]
struct Summary {
    count: u64,
    sum: f64,
    max: f64,
}

/// Totals by metric, then by dimension set (`Family=B,Operation=Generate`; `` for all).
#[derive(Default)]
pub struct Collector {
    totals: Mutex<BTreeMap<String, BTreeMap<String, Summary>>>,
    /// Console lines off (tests).
    quiet: bool,
}

impl Collector {
    #[cfg(test)]
    fn quiet() -> Self {
        Self { quiet: true, ..Self::default() }
    }

    /// `{"Requests": {"": 3, "Family=C,Operation=Create": 2, ...}, "Latency": {"": {"count": 3,
    /// "avg": 4.2, "max": 9.1}, ...}, ...}`: counts as sums, milliseconds as summaries.
    pub fn snapshot(&self) -> Value {
        let totals = self.totals.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut out = serde_json::Map::new();
        for (name, by_dimensions) in totals.iter() {
            let values = by_dimensions
                .iter()
                .map(|(dimensions, s)| {
                    let value = if name == "Latency" {
                        json!({"count": s.count, "avg": round(s.sum / s.count.max(1) as f64), "max": round(s.max)})
                    } else {
                        json!(s.sum)
                    };
                    (dimensions.clone(), value)
                })
                .collect();
            out.insert(name.clone(), Value::Object(values));
        }
        Value::Object(out)
    }
}

fn round(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

impl Sink for Collector {
    fn emit(&self, record: &Record, line: &str) {
        if !self.quiet {
            println!("metrics: {record}");
        }
        let data = match testkit::emf::extract(line) {
            Ok(data) => data,
            Err(reason) => {
                // A line CloudWatch would refuse: say so loudly, it would be lost in AWS.
                eprintln!("metrics: CloudWatch would refuse this line ({reason}): {line}");
                return;
            }
        };
        let mut totals = self.totals.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for datum in data {
            let dimensions: Vec<String> = datum.dimensions.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let summary = totals.entry(datum.name).or_default().entry(dimensions.join(",")).or_default();
            for value in datum.values {
                summary.count += 1;
                summary.sum += value;
                summary.max = summary.max.max(value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use shared::ops::metrics::{Country, Family, Operation, Outcome, Record, Rule};

    use super::*;

    #[test]
    fn when_records_arrive_should_total_them_as_cloudwatch_would() {
        let collector = Collector::quiet();
        let sent = Record::new(Family::Preregistration, Operation::Generate, Outcome::Sent)
            .country(Country::new("AR"))
            .delivered(1, 0)
            .took(Duration::from_millis(4));
        let refused = Record::new(Family::Preregistration, Operation::Generate, Outcome::Refused(Rule::NumberBlock))
            .took(Duration::from_millis(8));
        for record in [sent, sent, refused] {
            collector.emit(&record, &record.emf("VerificationCodes", 1));
        }
        let totals = collector.snapshot();
        assert_eq!(totals["Requests"][""], json!(3.0));
        assert_eq!(totals["Requests"]["Family=B,Operation=Generate,Outcome=Sent"], json!(2.0));
        assert_eq!(totals["CodesSent"]["Country=AR"], json!(2.0));
        assert_eq!(totals["Refusals"]["Rule=NumberBlock"], json!(1.0));
        assert_eq!(totals["Latency"]["Family=B,Operation=Generate"], json!({"count": 3, "avg": 5.333, "max": 8.0}));
    }
}
