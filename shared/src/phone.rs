//! Phone numbers: E.164 normalisation through libphonenumber's metadata, and the SMS country
//! allowlist (the defence against SMS pumping / toll fraud).

use std::collections::BTreeSet;

use phonenumber::metadata::DATABASE;
use phonenumber::{Mode, Type};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    /// `+905321234567`
    pub e164: String,
    /// ISO 3166-1 alpha-2 region, e.g. `TR`.
    pub region: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PhoneError {
    #[error("is not a phone number in international format (e.g. +905321234567)")]
    Unparseable,
    #[error("is not a valid phone number")]
    Invalid,
    #[error("cannot receive SMS (not a mobile number)")]
    NotMobile,
    #[error("is in a country SMS are not sent to ({0})")]
    CountryNotAllowed(String),
}

/// Accepts `+CC...`, `00CC...` and, as legacy clients send it, `CC...` without a prefix;
/// spaces, dots, dashes and parentheses are ignored. National numbers without a country
/// code are refused: guessing the country would send codes to the wrong person.
pub fn parse(input: &str) -> Result<Phone, PhoneError> {
    let trimmed = input.trim();
    let digits_only: String =
        trimmed.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '\u{a0}')).collect();
    let international = if let Some(rest) = digits_only.strip_prefix('+') {
        rest.to_string()
    } else if let Some(rest) = digits_only.strip_prefix("00") {
        rest.to_string()
    } else {
        digits_only
    };
    if international.is_empty()
        || international.len() > 15
        || !international.bytes().all(|b| b.is_ascii_digit())
        || international.starts_with('0')
    {
        return Err(PhoneError::Unparseable);
    }
    let number = phonenumber::parse(None, format!("+{international}")).map_err(|_| PhoneError::Unparseable)?;
    if !phonenumber::is_valid(&number) {
        return Err(PhoneError::Invalid);
    }
    match number.number_type(&DATABASE) {
        Type::Mobile | Type::FixedLineOrMobile => {}
        _ => return Err(PhoneError::NotMobile),
    }
    let region = number.country().id().map(|id| id.as_ref().to_string()).ok_or(PhoneError::Invalid)?;
    Ok(Phone { e164: number.format().mode(Mode::E164).to_string(), region })
}

/// Parses and also checks the allowlist.
pub fn parse_for_sms(input: &str, allowed: &BTreeSet<String>) -> Result<Phone, PhoneError> {
    let phone = parse(input)?;
    if !allowed.contains(&phone.region) {
        return Err(PhoneError::CountryNotAllowed(phone.region));
    }
    Ok(phone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn when_number_is_written_in_any_international_form_should_normalise_to_e164() {
        for input in ["+905321234567", "00905321234567", "905321234567", "+90 (532) 123-45.67"] {
            let phone = parse(input).unwrap();
            assert_eq!(phone.e164, "+905321234567", "{input}");
            assert_eq!(phone.region, "TR");
        }
        assert_eq!(parse("+5491123456789").unwrap().region, "AR");
        assert_eq!(parse("+12025550143").unwrap().region, "US");
    }

    #[test]
    fn when_number_cannot_be_valid_should_refuse() {
        assert_eq!(parse("sample string 2").unwrap_err(), PhoneError::Unparseable);
        assert_eq!(parse("").unwrap_err(), PhoneError::Unparseable);
        assert_eq!(parse("05321234567").unwrap_err(), PhoneError::Unparseable);
        assert_eq!(parse("+90532").unwrap_err(), PhoneError::Invalid);
        assert_eq!(parse("+1234567890123456").unwrap_err(), PhoneError::Unparseable);
        assert_eq!(parse("+999123456789").unwrap_err(), PhoneError::Unparseable);
    }

    #[test]
    fn when_number_is_a_fixed_line_or_premium_should_refuse() {
        // Istanbul fixed line, Turkish premium rate.
        assert_eq!(parse("+902122345678").unwrap_err(), PhoneError::NotMobile);
        assert_eq!(parse("+909001234567").unwrap_err(), PhoneError::NotMobile);
    }

    #[test]
    fn when_country_is_not_allowed_should_refuse_with_its_region() {
        let allowed = allow(&["TR", "US"]);
        assert!(parse_for_sms("+905321234567", &allowed).is_ok());
        assert_eq!(parse_for_sms("+4915123456789", &allowed).unwrap_err(), PhoneError::CountryNotAllowed("DE".into()));
    }
}
