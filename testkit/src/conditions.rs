//! DynamoDB condition expressions, evaluated on an item in DynamoDB's JSON, for the fake AWS:
//! enough of the grammar for this service's conditions (comparisons of attributes and values,
//! `attribute_exists` / `attribute_not_exists`, `size`, `AND`, `OR`, `NOT`, parentheses). Anything
//! else panics, so a benchmark never measures a path the fake got wrong.

use std::cmp::Ordering;

use serde_json::{Map, Value};

type Item = Map<String, Value>;

/// Whether `expression` holds for `item` (`None`: no item), with the request's
/// `ExpressionAttributeNames` and `ExpressionAttributeValues`.
pub fn holds(expression: &str, item: Option<&Item>, names: &Value, values: &Value) -> bool {
    let tokens = tokenize(expression);
    let mut parser = Parser { tokens: &tokens, at: 0, item, names, values };
    let result = parser.or();
    assert_eq!(parser.at, tokens.len(), "the fake cannot read the condition {expression:?}");
    result
}

fn tokenize(expression: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut chars = expression.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' => {}
            '(' | ')' | ',' => tokens.push(c.to_string()),
            '<' | '>' | '=' => {
                let mut op = c.to_string();
                if let Some(next @ ('=' | '>')) = chars.peek().copied() {
                    op.push(next);
                    chars.next();
                }
                tokens.push(op);
            }
            _ => {
                let mut word = c.to_string();
                while let Some(next) = chars.peek().copied().filter(|n| !" (),<>=".contains(*n)) {
                    word.push(next);
                    chars.next();
                }
                tokens.push(word);
            }
        }
    }
    tokens
}

struct Parser<'a> {
    tokens: &'a [String],
    at: usize,
    item: Option<&'a Item>,
    names: &'a Value,
    values: &'a Value,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn next(&mut self) -> &str {
        self.at += 1;
        self.tokens.get(self.at - 1).map(String::as_str).unwrap_or_default()
    }

    fn expect(&mut self, token: &str) {
        let got = self.next().to_string();
        assert_eq!(got, token, "the fake expected {token:?} in a condition");
    }

    fn or(&mut self) -> bool {
        let mut result = self.and();
        while self.peek() == Some("OR") {
            self.next();
            result |= self.and();
        }
        result
    }

    fn and(&mut self) -> bool {
        let mut result = self.not();
        while self.peek() == Some("AND") {
            self.next();
            result &= self.not();
        }
        result
    }

    fn not(&mut self) -> bool {
        if self.peek() == Some("NOT") {
            self.next();
            return !self.not();
        }
        self.primary()
    }

    fn primary(&mut self) -> bool {
        match self.peek() {
            Some("(") => {
                self.next();
                let result = self.or();
                self.expect(")");
                result
            }
            Some(function @ ("attribute_exists" | "attribute_not_exists")) => {
                let exists = function == "attribute_exists";
                self.next();
                self.expect("(");
                let name = self.name();
                self.expect(")");
                self.item.is_some_and(|item| item.contains_key(&name)) == exists
            }
            _ => {
                let left = self.operand();
                let op = self.next().to_string();
                let right = self.operand();
                let (Some(left), Some(right)) = (left, right) else { return false };
                let order = compare(&left, &right);
                match op.as_str() {
                    "=" => order == Some(Ordering::Equal),
                    "<>" => order != Some(Ordering::Equal),
                    "<" => order == Some(Ordering::Less),
                    "<=" => matches!(order, Some(Ordering::Less | Ordering::Equal)),
                    ">" => order == Some(Ordering::Greater),
                    ">=" => matches!(order, Some(Ordering::Greater | Ordering::Equal)),
                    other => panic!("the fake cannot compare with {other:?}"),
                }
            }
        }
    }

    /// An attribute name, through `#name` placeholders.
    fn name(&mut self) -> String {
        let token = self.next().to_string();
        match token.strip_prefix('#') {
            Some(_) => self.names[&token].as_str().expect("a named placeholder").to_string(),
            None => token,
        }
    }

    /// A value (`:v`), an attribute's value or its `size(...)`; `None` for an attribute the
    /// item lacks.
    fn operand(&mut self) -> Option<Value> {
        if self.peek() == Some("size") {
            self.next();
            self.expect("(");
            let name = self.name();
            self.expect(")");
            let value = self.item.and_then(|item| item.get(&name))?.as_object()?.iter().next()?.1.clone();
            let size = match value {
                Value::Array(members) => members.len(),
                Value::String(text) => text.chars().count(),
                Value::Object(map) => map.len(),
                _ => return None,
            };
            return Some(serde_json::json!({ "N": size.to_string() }));
        }
        if self.peek().is_some_and(|t| t.starts_with(':')) {
            let token = self.next().to_string();
            return Some(self.values[&token].clone()).filter(|v| !v.is_null());
        }
        let name = self.name();
        self.item.and_then(|item| item.get(&name)).cloned()
    }
}

/// Numbers by value, strings and binaries (base64 text) as text; other types never compare.
fn compare(left: &Value, right: &Value) -> Option<Ordering> {
    match (left.as_object()?.iter().next()?, right.as_object()?.iter().next()?) {
        ((lt, lv), (rt, rv)) if lt == "N" && rt == "N" => {
            let number = |v: &Value| v.as_str().and_then(|n| n.parse::<f64>().ok());
            number(lv)?.partial_cmp(&number(rv)?)
        }
        ((lt, lv), (rt, rv)) if lt == rt && (lt == "S" || lt == "B") => Some(lv.as_str()?.cmp(rv.as_str()?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::holds;

    #[test]
    fn when_a_condition_is_evaluated_should_follow_dynamodbs_rules() {
        let item = json!({"pk": {"S": "OTP#1"}, "att": {"N": "2"}, "matt": {"N": "5"}, "h": {"B": "YWI="}, "dlv": {"S": "sync"}});
        let item = item.as_object();
        let names = json!({"#t": "ttl"});
        let values =
            json!({":h": {"B": "YWI="}, ":other": {"B": "eHk="}, ":failed": {"S": "failed"}, ":ten": {"N": "10"}});
        let check = |expression: &str| holds(expression, item, &names, &values);
        assert!(check("attribute_exists(pk) AND att < matt AND h = :h AND dlv <> :failed"));
        assert!(!check("h = :other"));
        assert!(check("(h = :other) OR (att < :ten AND attribute_not_exists(vat))"));
        assert!(!check("attribute_exists(#t)"));
        assert!(check("NOT attribute_exists(#t) AND matt <= :ten"));
        assert!(!check("vat = :h"), "a missing attribute compares false");
        assert!(!holds("attribute_exists(pk)", None, &names, &values));
        assert!(holds("attribute_not_exists(pk) OR cnt < :ten", None, &names, &values));
        let set = json!({"cs": {"NS": ["1", "7"]}}).as_object().cloned().unwrap();
        let three = json!({":three": {"N": "3"}, ":two": {"N": "2"}});
        assert!(holds("size(cs) < :three", Some(&set), &names, &three));
        assert!(!holds("size(cs) < :two", Some(&set), &names, &three));
    }
}
