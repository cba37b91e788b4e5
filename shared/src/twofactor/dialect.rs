//! How family C's legacy API words each failure: its `Code` and its `ExceptionMessage`.

use super::Code;
use crate::edge::Failure;

/// The legacy `Code` of a failure.
pub fn code(failure: &Failure) -> Code {
    match failure.answered() {
        Failure::Invalid(_)
        | Failure::PayloadTooLarge
        | Failure::MethodNotAllowed
        | Failure::UnknownPath
        | Failure::UnknownApplication
        | Failure::KeyInFlight
        | Failure::KeyReused => Code::InvalidRequest,
        Failure::UnknownConfiguration(_) => Code::TwoFactorConfigurationNotFound,
        Failure::DestinationLimit | Failure::Refused(_) => Code::MaxOtpRequestExceeded,
        Failure::NotFound => Code::OtpNotFound,
        Failure::Expired => Code::OtpExpired,
        Failure::Mismatch { .. } => Code::OtpMismatch,
        Failure::TooManyAttempts => Code::MaxVerifyAttemptsExceeded,
        Failure::AlreadyUsed => Code::OtpAlreadyVerified,
        Failure::DeliveryFailed => Code::SmsSendFailed,
        Failure::Busy | Failure::Internal | Failure::Store(_) => Code::InternalError,
    }
}

/// The `ExceptionMessage` of a failure.
pub fn message(failure: &Failure) -> String {
    let failure = failure.answered();
    match failure {
        Failure::DestinationLimit => "too many OTP requests for this number; try again later",
        Failure::NotFound => "OTP not found",
        Failure::Expired => "OTP has expired; request a new one",
        Failure::Mismatch { .. } => "OTP code does not match",
        Failure::TooManyAttempts => "too many failed attempts; request a new OTP later",
        Failure::AlreadyUsed => "OTP has already been verified",
        Failure::DeliveryFailed => "the SMS could not be sent",
        _ => return failure.to_string(),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::dynamo::StoreError;
    use crate::store::guards::{Refusal, Rule};

    #[test]
    fn when_a_failure_is_answered_should_carry_the_legacy_code() {
        use Failure::*;
        let cases = [
            (Failure::invalid("x"), Code::InvalidRequest),
            (PayloadTooLarge, Code::InvalidRequest),
            (MethodNotAllowed, Code::InvalidRequest),
            (UnknownPath, Code::InvalidRequest),
            (KeyInFlight, Code::InvalidRequest),
            (KeyReused, Code::InvalidRequest),
            (UnknownConfiguration(9), Code::TwoFactorConfigurationNotFound),
            (DestinationLimit, Code::MaxOtpRequestExceeded),
            (Refused(Refusal::sample(Rule::DailyCeiling)), Code::MaxOtpRequestExceeded),
            (NotFound, Code::OtpNotFound),
            (Expired, Code::OtpExpired),
            (Mismatch { remaining: Some(1) }, Code::OtpMismatch),
            (TooManyAttempts, Code::MaxVerifyAttemptsExceeded),
            (AlreadyUsed, Code::OtpAlreadyVerified),
            (DeliveryFailed, Code::SmsSendFailed),
            (Busy, Code::InternalError),
            (Store(StoreError::Aws("no such table".into())), Code::InternalError),
        ];
        for (failure, expected) in cases {
            assert_eq!(code(&failure), expected, "{failure:?}");
            // Bad input is exactly what the legacy API answered as invalid or unconfigured.
            let bad_input =
                failure.outcome() == crate::ops::metrics::Outcome::Refused(crate::ops::metrics::Rule::BadInput);
            assert_eq!(
                bad_input,
                matches!(expected, Code::InvalidRequest | Code::TwoFactorConfigurationNotFound)
                    && !matches!(failure, KeyInFlight | KeyReused),
                "{failure:?}"
            );
        }
        assert_eq!(message(&Store(StoreError::Contention)), "the service is busy; try again");
        // The legacy API's words.
        let worded = [
            (DestinationLimit, "too many OTP requests for this number; try again later"),
            (NotFound, "OTP not found"),
            (Expired, "OTP has expired; request a new one"),
            (Mismatch { remaining: Some(1) }, "OTP code does not match"),
            (TooManyAttempts, "too many failed attempts; request a new OTP later"),
            (AlreadyUsed, "OTP has already been verified"),
            (DeliveryFailed, "the SMS could not be sent"),
            (UnknownConfiguration(9), "TwoFactorConfigurationId 9 is not configured"),
        ];
        for (failure, text) in worded {
            assert_eq!(message(&failure), text, "{failure:?}");
        }
    }
}
