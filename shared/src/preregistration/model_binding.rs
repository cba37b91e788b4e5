//! Model binding and DataAnnotations as the legacy ASP.NET Web API applied them: members read
//! as Json.NET binds them, attributes checked (patterns matching the whole value, string
//! lengths, required), and every failure of every field collected in `ModelState`, in .NET's
//! own words.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex_lite::Regex;
use serde_json::Value;

use crate::edge::dotnet_body::{Members, WholeFloats};

/// `ModelState`: `request.<field>` -> messages.
pub type ModelState = BTreeMap<String, Vec<String>>;

/// A `ModelState` of one failure.
pub fn model_error(key: impl Into<String>, message: impl Into<String>) -> ModelState {
    ModelState::from([(key.into(), vec![message.into()])])
}

/// .NET's RegularExpressionAttribute: the match must cover the whole value.
pub fn whole_match(pattern: &'static str, value: &str) -> bool {
    static CACHE: OnceLock<std::sync::Mutex<BTreeMap<&'static str, Regex>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    let regex = cache
        .entry(pattern)
        .or_insert_with(|| Regex::new(&format!("^(?:{pattern})$")).expect("the patterns of the requests are valid"));
    regex.is_match(value)
}

/// Binds the members of one object (the request, or a nested one) and records what fails,
/// under `<prefix>.<member>`.
pub struct ModelBinder<'m, 'e> {
    members: Members<'m>,
    prefix: String,
    errors: &'e mut ModelState,
}

impl<'m, 'e> ModelBinder<'m, 'e> {
    pub fn new(members: Members<'m>, prefix: impl Into<String>, errors: &'e mut ModelState) -> Self {
        Self { members, prefix: prefix.into(), errors }
    }

    /// The binder of the object held by member `name`, recording into the same `ModelState`.
    pub fn nested<'n>(&mut self, name: &str, members: Members<'n>) -> ModelBinder<'n, '_> {
        ModelBinder { members, prefix: self.key(name), errors: self.errors }
    }

    fn key(&self, name: &str) -> String {
        format!("{}.{name}", self.prefix)
    }

    pub fn fail(&mut self, name: &str, message: String) {
        let key = self.key(name);
        self.errors.entry(key).or_default().push(message);
    }

    pub fn get(&self, name: &str) -> Option<&'m Value> {
        self.members.get(name)
    }

    pub fn string(&mut self, name: &str) -> Option<String> {
        self.members.string_or_boolean(name).unwrap_or_else(|_| {
            self.fail(name, format!("Unexpected character encountered while parsing value. Path '{name}'."));
            None
        })
    }

    pub fn integer(&mut self, name: &str) -> Option<i64> {
        self.members.int32(name, WholeFloats::Refused).unwrap_or_else(|unconvertible| {
            let value = unconvertible.0;
            let shown = value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
            self.fail(name, format!("Could not convert string to integer: {shown}. Path '{name}'."));
            None
        })
    }

    /// StringLength / MaxLength and RegularExpression, in the order .NET reports them.
    pub fn check(&mut self, name: &str, value: &Option<String>, min: usize, max: usize, pattern: Option<&'static str>) {
        let Some(value) = value else { return };
        let length = value.chars().count();
        if length > max || length < min {
            let message = if min > 0 {
                format!(
                    "The field {name} must be a string with a minimum length of {min} and a maximum length of {max}."
                )
            } else {
                format!("The field {name} must be a string with a maximum length of {max}.")
            };
            self.fail(name, message);
        }
        if let Some(pattern) = pattern {
            // Like .NET, an empty value is not matched against the pattern.
            if !value.is_empty() && !whole_match(pattern, value) {
                self.fail(name, format!("The field {name} must match the regular expression '{pattern}'."));
            }
        }
    }

    pub fn required(&mut self, name: &str, value: &Option<String>) {
        if value.as_deref().is_none_or(|v| v.trim().is_empty()) {
            self.fail(name, format!("The {name} field is required."));
        }
    }
}
