//! Why a guard refused, for the operators (`Display`) and for public callers
//! (`public_reason`).

use super::Rule;

/// Why a guard refused, with its figures. Its `Display` is the operators' text (logs, and the
/// authenticated backends of family C): the rule and its figures, never the subject of a block
/// (with a masked number beside it in a log line, the two would spell the whole number).
/// Public callers get `public_reason`: the rule and when to retry, no traffic figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub rule: Rule,
    pub subject: String,
    pub count: u64,
    pub verified: u64,
    /// The limit of a counting rule, the minimum conversion percentage of a conversion rule.
    pub limit: u64,
    /// Refused because too few of the counted codes were verified: at least this % must be.
    pub min_conversion: Option<u64>,
    pub window_seconds: u64,
    /// Until the window closes: the `Retry-After` header.
    pub retry_after_seconds: u64,
}

#[cfg(test)]
impl Refusal {
    /// A refusal by `rule`, for the tests of how each family answers one.
    pub fn sample(rule: Rule) -> Self {
        Self {
            rule,
            subject: String::new(),
            count: 1,
            verified: 0,
            limit: 1,
            min_conversion: None,
            window_seconds: 3600,
            retry_after_seconds: 1,
        }
    }
}

impl Refusal {
    /// What a public caller (families A and B) is told: which rule and when to retry, no
    /// figures (the deployment's volume, a block's traffic are the operators', in logs and
    /// metrics). A country is named: the caller chose it.
    pub fn public_reason(&self) -> String {
        let reason = match self.rule {
            Rule::CallerSends => "too many codes requested from your network".to_string(),
            Rule::CallerFailures => "too many failed verifications from your network".to_string(),
            Rule::NumberBlock => "too many unverified codes sent to numbers like this one".to_string(),
            Rule::CountryCeiling => format!("the day's SMS capacity for {} is used up", self.subject),
            Rule::DailyCeiling => "the day's SMS capacity is used up".to_string(),
        };
        format!("{reason}; try again in {} s", self.retry_after_seconds)
    }
}

/// "1 hour", "24 hours", "90 minutes".
pub(super) fn period(seconds: u64) -> String {
    match (seconds / 3600, seconds % 3600) {
        (1, 0) => "hour".to_string(),
        (hours, 0) => format!("{hours} hours"),
        _ => format!("{} minutes", seconds / 60),
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (count, limit, period) = (self.count, self.limit, period(self.window_seconds));
        match self.rule {
            Rule::CallerSends => match self.min_conversion {
                Some(percent) => write!(
                    f,
                    "{count} codes requested from your network in the last {period}, {} verified (at least \
                     {percent}% must be)",
                    self.verified
                ),
                None => write!(f, "{count} codes requested from your network in the last {period} (limit {limit})"),
            },
            Rule::CallerFailures => {
                write!(f, "{count} failed verifications from your network in the last {period} (limit {limit})")
            }
            Rule::NumberBlock => write!(
                f,
                "{count} codes sent to this number's block of 1,000 in the last {period}, {} verified (at least \
                 {limit}% must be)",
                self.verified
            ),
            Rule::CountryCeiling => {
                write!(
                    f,
                    "daily SMS ceiling for {} reached: {count} sent in the last 24 hours (limit {limit})",
                    self.subject
                )
            }
            Rule::DailyCeiling => {
                write!(f, "daily SMS ceiling reached: {count} sent in the last 24 hours (limit {limit})")
            }
        }?;
        write!(f, "; try again in {} s", self.retry_after_seconds)
    }
}
