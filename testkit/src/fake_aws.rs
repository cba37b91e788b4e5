//! An in-process stand-in for DynamoDB, SNS and SES v2, for benchmarks: the SDK serialises
//! each request and parses each answer as usual, but no byte reaches a network.
//!
//! Just enough for every handler's success path: items written by `PutItem`, by the `Put`s
//! and `Update`s of `TransactWriteItems` and by `UpdateItem` are kept and answered by
//! `GetItem`. Condition expressions are ignored (every write succeeds), but one: a
//! transaction's keyed-hash comparison (`h = :h0`, one term per key version, as a one-call
//! verification sends it) refuses a stored `h` that equals none of the `:h…` values, so wrong
//! codes take their real path (a cancellation with the item as it was); update expressions
//! are applied for their plain forms (`a = :v`, `a = if_not_exists(a, :v)`, `a = a + :v`,
//! `REMOVE a`). Items are keyed by the table's `pk` and `sk`, whatever the table name.
//! After `freeze`, writes are answered but no longer applied, so a benchmark repeats the
//! same request against the same state (a verified code stays unverified).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use serde_json::{Map, Value, json};

use crate::aws_calls::{form_value, operation};

type Item = Map<String, Value>;

/// The last SMS or e-mail handed to the fake, so a benchmark can read the code in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub to: String,
    pub text: String,
    /// An SMS's message attributes: (name, data type, value).
    pub attributes: Vec<(String, String, String)>,
}

/// Clones share one state.
#[derive(Clone, Debug, Default)]
pub struct FakeAws(Arc<Mutex<State>>);

#[derive(Debug, Default)]
struct State {
    items: HashMap<String, Item>,
    frozen: bool,
    /// Whether condition expressions are evaluated (`check_conditions`).
    conditions: bool,
    last_message: Option<Message>,
    sent: u64,
}

impl FakeAws {
    /// From now on, writes are acknowledged but not applied.
    pub fn freeze(&self) {
        self.state().frozen = true;
    }

    /// From now on, condition expressions are evaluated (`conditions`) and a write whose
    /// condition is false is refused as DynamoDB refuses it, with the item as it was when
    /// asked for: what a wrong code costs is then measured, not a success.
    pub fn check_conditions(&self, on: bool) {
        self.state().conditions = on;
    }

    pub fn last_message(&self) -> Option<Message> {
        self.state().last_message.clone()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().expect("fake AWS state")
    }

    /// The answer to one call, as the connector gives it (the load stand-in's commit).
    pub(crate) fn answer_request(&self, request: &HttpRequest) -> HttpResponse {
        self.answer(request)
    }

    fn answer(&self, request: &HttpRequest) -> HttpResponse {
        let operation = operation(request);
        let body = request.body().bytes().unwrap_or_default();
        let mut state = self.state();
        let (status, content_type, text) = match operation.split_once(':') {
            Some(("dynamodb", op)) => {
                let input: Value = serde_json::from_slice(body).unwrap_or_default();
                match state.refusal(op, &input) {
                    Some(error) => (400, "application/x-amz-json-1.0", error.to_string()),
                    None => match state.dynamodb(op, &input) {
                        Some(output) => (200, "application/x-amz-json-1.0", output.to_string()),
                        None => unknown(&operation),
                    },
                }
            }
            Some(("sns", "Publish")) => {
                let form = String::from_utf8_lossy(body);
                let to = form_value(&form, "PhoneNumber").unwrap_or_default();
                let id = state.record(to, form_value(&form, "Message").unwrap_or_default());
                if let Some(message) = state.last_message.as_mut() {
                    message.attributes = (1..=10)
                        .map_while(|n| {
                            let field = |f: &str| form_value(&form, &format!("MessageAttributes.entry.{n}.{f}"));
                            Some((field("Name")?, field("Value.DataType")?, field("Value.StringValue")?))
                        })
                        .collect();
                }
                let xml = format!(
                    "<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><PublishResult>\
                     <MessageId>{id}</MessageId></PublishResult><ResponseMetadata><RequestId>{id}</RequestId>\
                     </ResponseMetadata></PublishResponse>"
                );
                (200, "text/xml", xml)
            }
            Some(("sesv2", "SendEmail")) => {
                let input: Value = serde_json::from_slice(body).unwrap_or_default();
                let to = input["Destination"]["ToAddresses"][0].as_str().unwrap_or_default().to_string();
                let text = input["Content"]["Simple"]["Body"]["Text"]["Data"].as_str().unwrap_or_default();
                let id = state.record(to, text.to_string());
                (200, "application/json", json!({ "MessageId": id }).to_string())
            }
            _ => unknown(&operation),
        };
        let status = status.try_into().expect("a valid status");
        let mut response = HttpResponse::new(status, SdkBody::from(text));
        response.headers_mut().insert("content-type", content_type);
        response
    }
}

/// A failure the SDK reports as an unhandled error naming the call, so a benchmark that
/// strays off what the fake knows fails loudly instead of measuring an error path.
fn unknown(operation: &str) -> (u16, &'static str, String) {
    let message = format!("the fake AWS does not answer {operation}");
    (501, "application/json", json!({ "__type": "NotImplemented", "message": message }).to_string())
}

fn item_key(item: &Value) -> String {
    format!("{}|{}", item["pk"], item["sk"])
}

/// A refused condition as DynamoDB words it for one transaction item.
fn reason(refused: Option<Option<&Item>>) -> Value {
    match refused {
        None => json!({ "Code": "None" }),
        Some(item) => {
            let mut reason = json!({ "Code": "ConditionalCheckFailed", "Message": "The conditional request failed" });
            if let Some(item) = item {
                reason["Item"] = Value::Object(item.clone());
            }
            reason
        }
    }
}

impl State {
    /// Whether one write's condition refuses it: `Some(item as stored, when asked for)`.
    fn refused(&self, write: &Value) -> Option<Option<&Item>> {
        let expression = write["ConditionExpression"].as_str()?;
        let key = if write["Item"].is_object() { item_key(&write["Item"]) } else { item_key(&write["Key"]) };
        let stored = self.items.get(&key);
        if crate::conditions::holds(
            expression,
            stored,
            &write["ExpressionAttributeNames"],
            &write["ExpressionAttributeValues"],
        ) {
            return None;
        }
        let all_old = write["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD";
        Some(stored.filter(|_| all_old))
    }

    /// DynamoDB's error for a call whose condition refuses it (only with `conditions` on).
    fn refusal(&self, op: &str, input: &Value) -> Option<Value> {
        if !self.conditions {
            return None;
        }
        match op {
            "UpdateItem" | "PutItem" => self.refused(input).map(|item| {
                let mut error = json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
                    "message": "The conditional request failed",
                });
                if let Some(item) = item.filter(|_| input["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD") {
                    error["Item"] = Value::Object(item.clone());
                }
                error
            }),
            "TransactWriteItems" => {
                let writes = input["TransactItems"].as_array()?;
                let refusals: Vec<Option<Option<&Item>>> = writes
                    .iter()
                    .map(|w| w.as_object().and_then(|w| w.values().next()).and_then(|w| self.refused(w)))
                    .collect();
                refusals.iter().any(Option::is_some).then(|| {
                    json!({
                        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                        "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
                        "CancellationReasons": refusals.into_iter().map(reason).collect::<Vec<_>>(),
                    })
                })
            }
            _ => None,
        }
    }

    fn record(&mut self, to: String, text: String) -> String {
        self.sent += 1;
        self.last_message = Some(Message { to, text, attributes: Vec::new() });
        format!("00000000-0000-4000-8000-{:012x}", self.sent)
    }

    fn put(&mut self, item: &Value) {
        if let (false, Some(item)) = (self.frozen, item.as_object()) {
            self.items.insert(item_key(&Value::Object(item.clone())), item.clone());
        }
    }

    /// Applies an update and returns the item after it and the names it set.
    fn update(&mut self, input: &Value) -> (Item, Vec<String>) {
        let key = item_key(&input["Key"]);
        let mut item =
            self.items.get(&key).cloned().unwrap_or_else(|| input["Key"].as_object().cloned().unwrap_or_default());
        let set = apply(&mut item, input);
        if !self.frozen {
            self.items.insert(key, item.clone());
        }
        (item, set)
    }

    fn dynamodb(&mut self, op: &str, input: &Value) -> Option<Value> {
        Some(match op {
            "GetItem" => match self.items.get(&item_key(&input["Key"])) {
                Some(item) => json!({ "Item": item }),
                None => json!({}),
            },
            "PutItem" => {
                self.put(&input["Item"]);
                json!({})
            }
            "UpdateItem" => {
                let (item, set) = self.update(input);
                match input["ReturnValues"].as_str() {
                    Some("ALL_NEW") => json!({ "Attributes": item }),
                    Some("UPDATED_NEW") => {
                        let updated: Item = item.into_iter().filter(|(name, _)| set.contains(name)).collect();
                        json!({ "Attributes": updated })
                    }
                    _ => json!({}),
                }
            }
            "TransactWriteItems" => {
                for write in input["TransactItems"].as_array().into_iter().flatten() {
                    if let Some(put) = write.get("Put") {
                        self.put(&put["Item"]);
                    } else if let Some(update) = write.get("Update") {
                        self.update(update);
                    }
                }
                json!({})
            }
            _ => return None,
        })
    }
}

/// Applies the plain forms of an `UpdateExpression`; returns the names it set.
fn apply(item: &mut Item, input: &Value) -> Vec<String> {
    let expression = input["UpdateExpression"].as_str().unwrap_or_default();
    let name = |n: &str| input["ExpressionAttributeNames"][n].as_str().unwrap_or(n).to_string();
    let value = |item: &Item, operand: &str| match operand.strip_prefix(':') {
        Some(_) => input["ExpressionAttributeValues"][operand].clone(),
        None => item.get(&name(operand)).cloned().unwrap_or(Value::Null),
    };
    let mut set = Vec::new();
    for (clause, body) in clauses(expression) {
        match clause {
            "SET" => {
                for assignment in split_top_level(&body) {
                    let Some((target, source)) = assignment.split_once('=') else { continue };
                    let (target, source) = (name(target.trim()), source.trim());
                    let new =
                        if let Some(args) = source.strip_prefix("if_not_exists(").and_then(|a| a.strip_suffix(')')) {
                            match (item.get(&target), args.split_once(',')) {
                                (Some(old), _) => old.clone(),
                                (None, Some((_, default))) => value(item, default.trim()),
                                (None, None) => continue,
                            }
                        } else if let Some((a, b)) = source.split_once('+') {
                            let number = |v: Value| v["N"].as_str().and_then(|n| n.parse::<i64>().ok()).unwrap_or(0);
                            json!({ "N": (number(value(item, a.trim())) + number(value(item, b.trim()))).to_string() })
                        } else {
                            value(item, source)
                        };
                    item.insert(target.clone(), new);
                    set.push(target);
                }
            }
            "REMOVE" => body.split(',').for_each(|n| drop(item.remove(&name(n.trim())))),
            // `ADD a :n, b :m` on numbers: a counter that starts at 0.
            "ADD" => {
                let number = |v: &Value| v["N"].as_str().and_then(|n| n.parse::<i64>().ok()).unwrap_or(0);
                for part in split_top_level(&body) {
                    let Some((target, operand)) = part.trim().split_once(' ') else { continue };
                    let target = name(target.trim());
                    let sum = item.get(&target).map_or(0, number) + number(&value(item, operand.trim()));
                    item.insert(target.clone(), json!({ "N": sum.to_string() }));
                    set.push(target);
                }
            }
            _ => {}
        }
    }
    set
}

/// `"SET a = :a REMOVE b"` -> `[("SET", "a = :a"), ("REMOVE", "b")]`.
fn clauses(expression: &str) -> Vec<(&str, String)> {
    let mut out: Vec<(&str, String)> = Vec::new();
    for word in expression.split_whitespace() {
        match (word, out.last_mut()) {
            ("SET" | "REMOVE" | "ADD" | "DELETE", _) | (_, None) => out.push((word, String::new())),
            (_, Some((_, body))) => {
                body.push(' ');
                body.push_str(word);
            }
        }
    }
    out
}

/// Splits at the commas that are outside parentheses.
fn split_top_level(body: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in body.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&body[start..]);
    parts
}

impl HttpClient for FakeAws {
    fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// Thread CPU time spent answering, by every fake of the process (nanoseconds).
static ANSWERING_NS: AtomicU64 = AtomicU64::new(0);

/// The CPU time fakes have spent answering so far. A benchmark subtracts it from its
/// measurement, so its figures are the code under test and the SDK, not the fake's own JSON
/// handling (which stands in for the network and AWS, and was ~10% of a request's time).
pub fn cpu_time_answering() -> Duration {
    Duration::from_nanos(ANSWERING_NS.load(Ordering::Relaxed))
}

impl HttpConnector for FakeAws {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let start = cpu_time::ThreadTime::now();
        let response = self.answer(&request);
        let spent = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        ANSWERING_NS.fetch_add(spent, Ordering::Relaxed);
        HttpConnectorFuture::ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn when_update_expression_is_applied_should_set_default_add_and_remove() {
        let mut item = json!({"pk": {"S": "U"}, "cat": {"N": "5"}, "catt": {"N": "1"}, "h": {"B": "x"}});
        let input = json!({
            "UpdateExpression": "SET st = :st, cat = if_not_exists(cat, :now), ev = if_not_exists(ev, :f), catt = catt + :one, #t = :t REMOVE h",
            "ExpressionAttributeNames": {"#t": "ttl"},
            "ExpressionAttributeValues": {":st": {"S": "NEW"}, ":now": {"N": "9"}, ":f": {"S": "false"}, ":one": {"N": "1"}, ":t": {"N": "7"}},
        });
        let set = super::apply(item.as_object_mut().expect("an object"), &input);
        assert_eq!(set, ["st", "cat", "ev", "catt", "ttl"]);
        let mut counter = json!({"pk": {"S": "C"}, "cnt": {"N": "4"}});
        let add = json!({"UpdateExpression": "SET #t = :t ADD cnt :one, #c :one", "ExpressionAttributeNames": {"#t": "ttl", "#c": "cTR"},
            "ExpressionAttributeValues": {":t": {"N": "7"}, ":one": {"N": "1"}}});
        super::apply(counter.as_object_mut().expect("an object"), &add);
        assert_eq!(counter, json!({"pk": {"S": "C"}, "cnt": {"N": "5"}, "cTR": {"N": "1"}, "ttl": {"N": "7"}}));
        assert_eq!(
            item,
            json!({"pk": {"S": "U"}, "st": {"S": "NEW"}, "cat": {"N": "5"}, "ev": {"S": "false"}, "catt": {"N": "2"}, "ttl": {"N": "7"}})
        );
    }
}
