//! Reading an EMF document as CloudWatch Logs does: what the tests check the metric lines
//! against, and what the local server totals (`make run`'s `/_local/metrics`). Not in any
//! Lambda: a deployed function only writes these lines (`shared::ops::metrics`).

use serde_json::Value;

/// One value CloudWatch takes from an EMF document: a metric under one dimension set.
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    pub namespace: String,
    pub name: String,
    pub unit: Option<String>,
    /// (dimension, value), in the dimension set's order.
    pub dimensions: Vec<(String, String)>,
    pub values: Vec<f64>,
}

/// `Name{Dim=Value,...}=value`: one datum as a line of a test or a console can state it.
impl std::fmt::Display for Datum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dims: Vec<String> = self.dimensions.iter().map(|(k, v)| format!("{k}={v}")).collect();
        write!(f, "{}{{{}}}={}", self.name, dims.join(","), self.values.first().copied().unwrap_or_default())
    }
}

const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Reads an EMF document as CloudWatch Logs does (the embedded metric format specification):
/// a JSON object with `_aws.Timestamp` (epoch milliseconds) and `_aws.CloudWatchMetrics`, an
/// array of directives, each a `Namespace`, `Dimensions` (sets of at most 30 keys, each key a
/// top-level string member) and `Metrics` (at most 100, each `Name` a top-level number or
/// array of at most 100 numbers, `Unit` one of CloudWatch's). Every value it would extract,
/// or why it would reject the document. Used by the tests and by the local server's tally.
pub fn extract(line: &str) -> Result<Vec<Datum>, String> {
    let root: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let root = root.as_object().ok_or("not a JSON object")?;
    let aws = root.get("_aws").and_then(Value::as_object).ok_or("no _aws object")?;
    aws.get("Timestamp").and_then(Value::as_u64).ok_or("_aws.Timestamp is not a number of milliseconds")?;
    let directives = aws.get("CloudWatchMetrics").and_then(Value::as_array).ok_or("no _aws.CloudWatchMetrics array")?;
    if directives.is_empty() {
        return Err("_aws.CloudWatchMetrics is empty".into());
    }
    let mut data = Vec::new();
    for directive in directives {
        let namespace = directive.get("Namespace").and_then(Value::as_str).ok_or("a directive without Namespace")?;
        if namespace.is_empty() || namespace.len() > 255 {
            return Err(format!("namespace '{namespace}' is not 1-255 characters"));
        }
        let sets = directive.get("Dimensions").and_then(Value::as_array).ok_or("a directive without Dimensions")?;
        let metrics = directive.get("Metrics").and_then(Value::as_array).ok_or("a directive without Metrics")?;
        if metrics.len() > 100 {
            return Err(format!("{} metrics in one directive (at most 100)", metrics.len()));
        }
        let mut resolved_sets = Vec::new();
        for set in sets {
            let keys = set.as_array().ok_or("a dimension set that is not an array")?;
            if keys.len() > 30 {
                return Err(format!("{} dimensions in one set (at most 30)", keys.len()));
            }
            let mut dimensions = Vec::new();
            for key in keys {
                let key = key.as_str().ok_or("a dimension key that is not a string")?;
                let value =
                    root.get(key).and_then(Value::as_str).ok_or(format!("dimension {key} has no string value"))?;
                if value.is_empty() || value.len() > 1024 {
                    return Err(format!("dimension {key} is not 1-1024 characters"));
                }
                dimensions.push((key.to_string(), value.to_string()));
            }
            resolved_sets.push(dimensions);
        }
        for metric in metrics {
            let name = metric.get("Name").and_then(Value::as_str).ok_or("a metric without Name")?;
            if name.is_empty() || name.len() > 255 {
                return Err(format!("metric name '{name}' is not 1-255 characters"));
            }
            let unit = match metric.get("Unit") {
                None => None,
                Some(unit) => {
                    let unit =
                        unit.as_str().filter(|u| UNITS.contains(u)).ok_or(format!("{name}: unknown unit {unit}"))?;
                    Some(unit.to_string())
                }
            };
            let values = match root.get(name) {
                Some(Value::Number(n)) => vec![n.as_f64().ok_or(format!("{name} is not a number"))?],
                Some(Value::Array(items)) if items.len() <= 100 => {
                    items.iter().map(Value::as_f64).collect::<Option<Vec<_>>>().ok_or(format!("{name}: not numbers"))?
                }
                _ => return Err(format!("metric {name} has no numeric value")),
            };
            for dimensions in &resolved_sets {
                data.push(Datum {
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                    unit: unit.clone(),
                    dimensions: dimensions.clone(),
                    values: values.clone(),
                });
            }
        }
    }
    Ok(data)
}
