//! How family A's legacy API (ServiceStack's `BaseResponse`, Cognito's words) words each
//! failure: its `OpCode` and its `ErrorText`.

use crate::edge::Failure;
use crate::store::guards::Rule;

/// The `OpCode` of a failure.
pub fn op_code(failure: &Failure) -> i32 {
    match failure.answered() {
        Failure::Invalid(_)
        | Failure::PayloadTooLarge
        | Failure::MethodNotAllowed
        | Failure::UnknownPath
        | Failure::UnknownConfiguration(_)
        | Failure::UnknownApplication
        | Failure::KeyInFlight
        | Failure::KeyReused => 1001,
        Failure::Mismatch { .. } => 1002,
        Failure::Expired => 1003,
        Failure::TooManyAttempts => 1004,
        Failure::Refused(refusal) if refusal.rule == Rule::CallerFailures => 1004,
        Failure::DestinationLimit | Failure::Refused(_) => 1005,
        Failure::NotFound => 1006,
        Failure::AlreadyUsed => 1007,
        Failure::DeliveryFailed => 1500,
        Failure::Busy | Failure::Internal | Failure::Store(_) => 1999,
    }
}

/// The `ErrorText` of a failure: Cognito's message where Cognito has one.
pub fn error_text(failure: &Failure) -> String {
    let failure = failure.answered();
    match failure {
        Failure::Mismatch { .. } => "Invalid verification code provided, please try again.",
        Failure::Expired => "Invalid code provided, please request a code again.",
        Failure::TooManyAttempts => "Too many failed attempts; request a new code later.",
        Failure::DestinationLimit => "Attempt limit exceeded, please try after some time.",
        Failure::Refused(refusal) => return format!("Attempt limit exceeded: {}", refusal.public_reason()),
        Failure::NotFound => "User does not exist.",
        Failure::AlreadyUsed => "User is already confirmed.",
        Failure::DeliveryFailed => "The confirmation code could not be e-mailed.",
        Failure::KeyInFlight => "A request with this Idempotency-Key may still be in progress; retry later.",
        Failure::KeyReused => "This Idempotency-Key was used with another request body.",
        Failure::Busy => "The service is busy; try again.",
        Failure::Internal => "Internal error.",
        _ => return failure.to_string(),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::dynamo::StoreError;
    use crate::store::guards::Refusal;

    #[test]
    fn when_a_failure_is_answered_should_carry_cognitos_op_code() {
        use Failure::*;
        let cases = [
            (Failure::invalid("x"), 1001),
            (KeyReused, 1001),
            (Mismatch { remaining: None }, 1002),
            (Expired, 1003),
            (TooManyAttempts, 1004),
            (Refused(Refusal::sample(Rule::CallerFailures)), 1004),
            (Refused(Refusal::sample(Rule::CallerSends)), 1005),
            (DestinationLimit, 1005),
            (NotFound, 1006),
            (AlreadyUsed, 1007),
            (DeliveryFailed, 1500),
            (Store(StoreError::Contention), 1999),
        ];
        for (failure, expected) in cases {
            assert_eq!(op_code(&failure), expected, "{failure:?}");
        }
        // Cognito's words where Cognito has them: the legacy clients match on them.
        let worded = [
            (Mismatch { remaining: None }, "Invalid verification code provided, please try again."),
            (Expired, "Invalid code provided, please request a code again."),
            (TooManyAttempts, "Too many failed attempts; request a new code later."),
            (DestinationLimit, "Attempt limit exceeded, please try after some time."),
            (NotFound, "User does not exist."),
            (AlreadyUsed, "User is already confirmed."),
            (DeliveryFailed, "The confirmation code could not be e-mailed."),
            (KeyInFlight, "A request with this Idempotency-Key may still be in progress; retry later."),
            (KeyReused, "This Idempotency-Key was used with another request body."),
            (Busy, "The service is busy; try again."),
            (Internal, "Internal error."),
        ];
        for (failure, text) in worded {
            assert_eq!(error_text(&failure), text, "{failure:?}");
        }
        let refused = Refused(Refusal { retry_after_seconds: 42, ..Refusal::sample(Rule::CallerSends) });
        assert!(error_text(&refused).starts_with("Attempt limit exceeded: "), "{}", error_text(&refused));
        assert!(error_text(&refused).ends_with("42 s"), "{}", error_text(&refused));
        assert_eq!(error_text(&Store(StoreError::Contention)), "The service is busy; try again.");
        assert_eq!(error_text(&Store(StoreError::Malformed("ttl"))), "Internal error.");
        assert_eq!(error_text(&Failure::invalid("EmailAddress is required.")), "EmailAddress is required.");
    }
}
