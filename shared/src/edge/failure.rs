//! Every way a request of any family can fail, and what each failure means at the edge: its
//! HTTP status, its `Retry-After`, its metric outcome and how it is logged. One table for the
//! three families; each family's dialect (`twofactor::dialect`, `preregistration::dialect`,
//! `signup::dialect`) only words a failure in its legacy wire format.

use std::collections::BTreeMap;

use lambda_http::http::StatusCode;

use crate::ops::metrics::{Outcome, Rule};
use crate::store::dynamo::StoreError;
use crate::store::guards::Refusal;

/// What is wrong with a request, by member (`request.<member>` -> messages), as ASP.NET's
/// `ModelState` collects it. Families A and C answer one message: they read one problem.
pub type Problems = BTreeMap<String, Vec<String>>;

/// The problems of a request that has one, under `key`.
pub fn problem(key: impl Into<String>, message: impl Into<String>) -> Problems {
    Problems::from([(key.into(), vec![message.into()])])
}

/// The key of a problem with the request as a whole (its body, its syntax).
pub const WHOLE_REQUEST: &str = "request";

/// A failed or refused request. The `Display` is for logs (English, no figures of a guard);
/// what a caller reads is the family's dialect's.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{}", words(.0))]
    Invalid(Problems),
    #[error("the request body is larger than 64 KiB")]
    PayloadTooLarge,
    #[error("only POST is allowed on this path")]
    MethodNotAllowed,
    #[error("no endpoint at this path")]
    UnknownPath,
    /// Family C: a `TwoFactorConfigurationId` that is not configured.
    #[error("TwoFactorConfigurationId {0} is not configured")]
    UnknownConfiguration(i64),
    /// Family B: an application that is not configured.
    #[error("application not authorized")]
    UnknownApplication,
    /// The per-number or per-address send limits (window, resend gap, daily).
    #[error("too many codes requested for this destination; try again later")]
    DestinationLimit,
    /// A guard against SMS pumping or probing refused (a caller limit, a ceiling, a block).
    #[error("{0}")]
    Refused(Refusal),
    /// No such code, OTP or user.
    #[error("not found")]
    NotFound,
    #[error("the code has expired; request a new one")]
    Expired,
    /// A wrong code; `remaining` attempts are left (when the family tells).
    #[error("the code does not match")]
    Mismatch { remaining: Option<u32> },
    /// Too many failed verifications, of the code or of its destination.
    #[error("too many failed attempts; request a new code later")]
    TooManyAttempts,
    /// Verified, validated or confirmed already.
    #[error("already used")]
    AlreadyUsed,
    /// SNS or SES refused the message.
    #[error("the code could not be delivered")]
    DeliveryFailed,
    #[error("a request with this Idempotency-Key may still be in progress; retry later")]
    KeyInFlight,
    #[error("this Idempotency-Key was used with another request body")]
    KeyReused,
    #[error("the service is busy; try again")]
    Busy,
    #[error("internal error")]
    Internal,
    /// Answered as `Busy` when trying again may pass, else as `Internal`.
    #[error("{}", Failure::answered_as(.0))]
    Store(#[from] StoreError),
}

impl From<crate::store::idempotency::KeyRefusal> for Failure {
    fn from(refusal: crate::store::idempotency::KeyRefusal) -> Self {
        use crate::store::idempotency::KeyRefusal;
        match refusal {
            KeyRefusal::InFlight => Self::KeyInFlight,
            KeyRefusal::Reused => Self::KeyReused,
            KeyRefusal::Failed => Self::DeliveryFailed,
        }
    }
}

/// A request's problems in one line: the messages, in key order.
fn words(problems: &Problems) -> String {
    problems.values().flatten().map(String::as_str).collect::<Vec<_>>().join(" ")
}

impl Failure {
    /// A problem with the request as a whole.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(problem(WHOLE_REQUEST, message))
    }

    /// What a store failure is answered as.
    fn answered_as(err: &StoreError) -> &'static Self {
        static BUSY: Failure = Failure::Busy;
        static INTERNAL: Failure = Failure::Internal;
        if err.is_transient() { &BUSY } else { &INTERNAL }
    }

    /// The failure as the caller is answered it: a store failure is `Busy` when trying again
    /// may pass, else `Internal`. Dialects word this one.
    pub fn answered(&self) -> &Self {
        match self {
            Self::Store(err) => Self::answered_as(err),
            other => other,
        }
    }

    /// The one table: status, `Retry-After` (seconds until the refusal no longer holds) and
    /// the metric outcome of every failure, whichever family answers it.
    pub fn meaning(&self) -> (StatusCode, Option<u64>, Outcome) {
        use crate::edge::http::BUSY_RETRY_AFTER_SECONDS;
        use crate::store::idempotency::IN_FLIGHT_MS;
        let bad_input = Outcome::Refused(Rule::BadInput);
        match self {
            Self::Invalid(_) | Self::UnknownConfiguration(_) => (StatusCode::BAD_REQUEST, None, bad_input),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, None, bad_input),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, None, bad_input),
            Self::UnknownPath => (StatusCode::NOT_FOUND, None, bad_input),
            Self::UnknownApplication => (StatusCode::UNAUTHORIZED, None, bad_input),
            Self::DestinationLimit => (StatusCode::TOO_MANY_REQUESTS, None, Outcome::Refused(Rule::DestinationLimit)),
            Self::Refused(refusal) => (
                StatusCode::TOO_MANY_REQUESTS,
                Some(refusal.retry_after_seconds),
                Outcome::Refused(refusal.rule.into()),
            ),
            Self::NotFound => (StatusCode::NOT_FOUND, None, Outcome::NotFound),
            Self::Expired => (StatusCode::GONE, None, Outcome::Expired),
            Self::Mismatch { .. } => (StatusCode::BAD_REQUEST, None, Outcome::Mismatch),
            Self::TooManyAttempts => (StatusCode::TOO_MANY_REQUESTS, None, Outcome::Refused(Rule::Lockout)),
            Self::AlreadyUsed => (StatusCode::CONFLICT, None, Outcome::AlreadyUsed),
            Self::DeliveryFailed => (StatusCode::BAD_GATEWAY, None, Outcome::DeliveryFailed),
            Self::KeyInFlight => {
                (StatusCode::CONFLICT, Some(IN_FLIGHT_MS / 1000), Outcome::Refused(Rule::IdempotencyKey))
            }
            Self::KeyReused => (StatusCode::UNPROCESSABLE_ENTITY, None, Outcome::Refused(Rule::IdempotencyKey)),
            Self::Busy => (StatusCode::SERVICE_UNAVAILABLE, Some(BUSY_RETRY_AFTER_SECONDS), Outcome::Error),
            Self::Internal => (StatusCode::INTERNAL_SERVER_ERROR, None, Outcome::Error),
            Self::Store(err) => Self::answered_as(err).meaning(),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.meaning().0
    }

    /// Seconds until a refusal no longer holds: the `Retry-After` header.
    pub fn retry_after(&self) -> Option<u64> {
        self.meaning().1
    }

    /// How the request ended, for the metrics.
    pub fn outcome(&self) -> Outcome {
        self.meaning().2
    }

    /// Logs the failure where the request is answered (and nowhere else): the refusal at
    /// INFO, and a store failure among its causes as a warning when it may pass (contention
    /// alone is expected, and not logged) or an error when it is ours to fix.
    pub fn log(&self, endpoint: &str) {
        if let Self::Store(store) = self {
            match store {
                StoreError::Contention => {}
                StoreError::Unavailable(_) => tracing::warn!(error = %store, "store unavailable"),
                _ => tracing::error!(error = %store, "store failure"),
            }
        }
        tracing::info!(status = self.status().as_u16(), "{endpoint} refused: {self}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::guards::Rule as Guard;

    #[test]
    fn when_a_request_fails_should_answer_the_status_retry_after_and_outcome_of_the_table() {
        use Failure::*;
        let refused = |rule| Refused(Refusal { retry_after_seconds: 1234, ..Refusal::sample(rule) });
        let bad_input = Outcome::Refused(Rule::BadInput);
        let cases = [
            (Failure::invalid("x"), 400, None, bad_input),
            (PayloadTooLarge, 413, None, bad_input),
            (MethodNotAllowed, 405, None, bad_input),
            (UnknownPath, 404, None, bad_input),
            (UnknownConfiguration(9), 400, None, bad_input),
            (UnknownApplication, 401, None, bad_input),
            (DestinationLimit, 429, None, Outcome::Refused(Rule::DestinationLimit)),
            (refused(Guard::CallerSends), 429, Some(1234), Outcome::Refused(Rule::CallerSends)),
            (refused(Guard::CallerFailures), 429, Some(1234), Outcome::Refused(Rule::CallerFailures)),
            (refused(Guard::NumberBlock), 429, Some(1234), Outcome::Refused(Rule::NumberBlock)),
            (refused(Guard::CountryCeiling), 429, Some(1234), Outcome::Refused(Rule::CountryCeiling)),
            (refused(Guard::DailyCeiling), 429, Some(1234), Outcome::Refused(Rule::DailyCeiling)),
            (TooManyAttempts, 429, None, Outcome::Refused(Rule::Lockout)),
            (NotFound, 404, None, Outcome::NotFound),
            (Expired, 410, None, Outcome::Expired),
            (Mismatch { remaining: Some(2) }, 400, None, Outcome::Mismatch),
            (AlreadyUsed, 409, None, Outcome::AlreadyUsed),
            (DeliveryFailed, 502, None, Outcome::DeliveryFailed),
            (
                KeyInFlight,
                409,
                Some(crate::store::idempotency::IN_FLIGHT_MS / 1000),
                Outcome::Refused(Rule::IdempotencyKey),
            ),
            (KeyReused, 422, None, Outcome::Refused(Rule::IdempotencyKey)),
            (Busy, 503, Some(1), Outcome::Error),
            (Internal, 500, None, Outcome::Error),
            (Store(StoreError::Contention), 503, Some(1), Outcome::Error),
            (Store(StoreError::Unavailable("throttled".into())), 503, Some(1), Outcome::Error),
            (Store(StoreError::Aws("no such table".into())), 500, None, Outcome::Error),
            (Store(StoreError::Malformed("ttl")), 500, None, Outcome::Error),
        ];
        for (failure, status, retry_after, outcome) in cases {
            assert_eq!(failure.status().as_u16(), status, "{failure:?}");
            assert_eq!(failure.retry_after(), retry_after, "{failure:?}");
            assert_eq!(failure.outcome(), outcome, "{failure:?}");
            // What the metrics call a server error is what the status says, and every refusal
            // by a rule is a 4xx.
            assert_eq!(outcome.is_server_error(), failure.status().is_server_error(), "{failure:?}");
            if let Outcome::Refused(_) = outcome {
                assert!(failure.status().is_client_error(), "{failure:?}");
            }
            assert_eq!(failure.answered().status(), failure.status(), "{failure:?}");
        }
        // The Busy one-second Retry-After is the one http states.
        assert_eq!(crate::edge::http::BUSY_RETRY_AFTER_SECONDS, 1);
    }

    #[test]
    fn when_store_fails_should_tell_what_may_pass_from_what_will_not() {
        assert!(StoreError::Contention.is_transient());
        assert!(StoreError::Unavailable("throttled".into()).is_transient());
        assert!(!StoreError::Aws("no such table".into()).is_transient());
        assert!(!StoreError::Malformed("ttl").is_transient());
        assert!(matches!(Failure::Store(StoreError::Contention).answered(), Failure::Busy));
        assert!(matches!(Failure::Store(StoreError::Malformed("ttl")).answered(), Failure::Internal));
    }

    #[test]
    fn when_a_failure_is_logged_should_say_how_grave_its_store_cause_is() {
        let logged = |failure: Failure| crate::ops::logging::capture::logged(|| failure.log("verify"));
        // Contention is expected under load: the refusal's line only.
        let contention = logged(Failure::Store(StoreError::Contention));
        assert!(contention.contains("verify refused: the service is busy") && contention.contains("status=503"));
        assert!(!contention.contains("WARN") && !contention.contains("ERROR"), "{contention}");
        // An unavailable store may pass: a warning; anything else is ours to fix: an error.
        let unavailable = logged(Failure::Store(StoreError::Unavailable("throttled".into())));
        assert!(unavailable.contains("WARN") && unavailable.contains("store unavailable"), "{unavailable}");
        assert!(!unavailable.contains("ERROR"), "{unavailable}");
        let broken = logged(Failure::Store(StoreError::Aws("no such table".into())));
        assert!(broken.contains("ERROR") && broken.contains("store failure"), "{broken}");
        let expired = logged(Failure::Expired);
        assert!(expired.contains("INFO") && expired.contains("verify refused: the code has expired"), "{expired}");
        assert!(expired.contains("status=410") && !expired.contains("WARN") && !expired.contains("ERROR"), "{expired}");
    }

    #[test]
    fn when_problems_are_worded_should_join_them_in_key_order() {
        let mut problems = problem("request.b", "second.");
        problems.insert("request.a".into(), vec!["first.".into()]);
        assert_eq!(Failure::Invalid(problems).to_string(), "first. second.");
        assert_eq!(Failure::invalid("only one").to_string(), "only one");
    }
}
