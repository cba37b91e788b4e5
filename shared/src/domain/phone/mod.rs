//! Phone numbers: E.164 normalisation through libphonenumber's metadata, and the SMS country
//! allowlist (the defence against SMS pumping / toll fraud).

use std::collections::BTreeSet;

mod metadata;

use metadata::{FIXED_LINE, MOBILE, NumberFormat, Region, regions_for};

/// A mobile number, in E.164: only `parse` makes one, so holding one means it was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    /// `+905321234567`
    e164: String,
    /// ISO 3166-1 alpha-2 region, e.g. `TR`.
    region: String,
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

impl Phone {
    /// Accepts `+CC...`, `00CC...` and, as legacy clients send it, `CC...` without a prefix;
    /// spaces, dots, dashes and parentheses are ignored. National numbers without a country
    /// code are refused: guessing the country would send codes to the wrong person.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let (code, national) = normalize(input)?;
        let region = region_for(code, &national).ok_or(PhoneError::Invalid)?;
        if region.id() == NON_GEOGRAPHIC {
            return Err(PhoneError::Invalid);
        }
        match number_type(region, &national) {
            NumberType::Unknown => Err(PhoneError::Invalid),
            NumberType::Mobile | NumberType::FixedLineOrMobile => {
                Ok(Self { e164: format!("+{code}{national}"), region: region.id().to_string() })
            }
            NumberType::Other => Err(PhoneError::NotMobile),
        }
    }

    /// `input` written as `parse` reads it, when its E.164 form is one `listed` names: a
    /// configured test destination, taken without validation or allowlist (libphonenumber
    /// calls some numbers reserved for fiction invalid, e.g. the UK's 07700 900xxx, and no
    /// SMS goes to one). The region is the calling code's main one.
    pub fn listed(input: &str, listed: impl Fn(&str) -> bool) -> Option<Self> {
        let (code, national) = normalize(input).ok()?;
        let e164 = format!("+{code}{national}");
        let region = regions_for(code).first()?.id().to_string();
        listed(&e164).then_some(Self { e164, region })
    }

    /// Parses and also checks the allowlist.
    pub fn parse_for_sms(input: &str, allowed: &BTreeSet<String>) -> Result<Self, PhoneError> {
        let phone = Self::parse(input)?;
        if !allowed.contains(&phone.region) {
            return Err(PhoneError::CountryNotAllowed(phone.region));
        }
        Ok(phone)
    }

    /// `+905321234567`: what the stores and SNS take.
    pub fn as_str(&self) -> &str {
        &self.e164
    }

    /// ISO 3166-1 alpha-2, e.g. `TR`.
    pub fn region(&self) -> &str {
        &self.region
    }
}

impl std::fmt::Display for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.e164)
    }
}

/// `+905321234567` -> `+90 532 123 45 67`, as libphonenumber's INTERNATIONAL format; a number
/// it cannot format comes back as it was.
pub fn format_international(e164: &str) -> String {
    let formatted = e164.strip_prefix('+').and_then(split_country_code).and_then(|(code, national)| {
        let main = regions_for(code).first()?;
        let intl = main.international_formats();
        let formats = if intl.is_empty() { main.formats() } else { intl };
        // No format for the number (some small countries have none): digits as they are.
        let Some(format) = choose_format(formats, national) else { return Some(format!("+{code} {national}")) };
        let re = format.pattern.regex()?;
        Some(format!("+{code} {}", re.replace(national, format.format())))
    });
    formatted.unwrap_or_else(|| e164.to_string())
}

/// The region (ISO 3166-1 alpha-2) of a number already in E.164 form, as `parse` assigns it,
/// without validating the number again: what a metric needs of a stored destination.
pub fn region_of(e164: &str) -> Option<&'static str> {
    let (code, national) = split_country_code(e164.strip_prefix('+')?)?;
    let region = region_for(code, national)?;
    (region.id() != NON_GEOGRAPHIC).then(|| region.id())
}

/// `+CC...`, `00CC...` or `CC...`, separators ignored, as the calling code and the national
/// number without its trunk prefix: every check `parse` makes before validation.
fn normalize(input: &str) -> Result<(u16, String), PhoneError> {
    let trimmed = input.trim();
    let digits_only: String =
        trimmed.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '\u{a0}')).collect();
    let international = if let Some(rest) = digits_only.strip_prefix('+') {
        rest
    } else if let Some(rest) = digits_only.strip_prefix("00") {
        rest
    } else {
        &digits_only
    };
    if international.is_empty()
        || international.len() > 15
        || !international.bytes().all(|b| b.is_ascii_digit())
        || international.starts_with('0')
    {
        return Err(PhoneError::Unparseable);
    }
    let (code, national) = split_country_code(international).ok_or(PhoneError::Unparseable)?;
    let main = regions_for(code).first().ok_or(PhoneError::Unparseable)?;
    let national = strip_national_prefix(main, national);
    if national.len() < MIN_NATIONAL_LENGTH {
        return Err(PhoneError::Unparseable);
    }
    Ok((code, national))
}

/// libphonenumber's shortest national significant number.
const MIN_NATIONAL_LENGTH: usize = 2;
const NON_GEOGRAPHIC: &str = "001";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumberType {
    Mobile,
    FixedLineOrMobile,
    /// Fixed line, premium rate, toll free, VoIP, pager...: valid, but no SMS.
    Other,
    Unknown,
}

/// Calling codes are prefix-free, so the first known prefix of 1 to 3 digits is the code.
fn split_country_code(digits: &str) -> Option<(u16, &str)> {
    (1..=3.min(digits.len())).find_map(|len| {
        let code: u16 = digits[..len].parse().ok()?;
        (!regions_for(code).is_empty()).then(|| (code, &digits[len..]))
    })
}

/// libphonenumber's maybeStripNationalPrefixAndCarrierCode, then its length test: a
/// trunk prefix typed after the country code (`+44 (0)7911...`) goes, but only if what is
/// left is still a possible number.
fn strip_national_prefix(region: &Region, national: &str) -> String {
    let stripped = prefix_stripped(region, national);
    match stripped {
        Some(candidate) if length_allows(region, &candidate) => candidate,
        _ => national.to_string(),
    }
}

fn prefix_stripped(region: &Region, national: &str) -> Option<String> {
    let re = region.national_prefix_for_parsing.as_ref()?.regex()?;
    let captures = re.captures(national)?;
    let whole = captures.get(0)?;
    let viable = region.general.pattern.is_match(national);
    let last_group = captures.len().checked_sub(1).filter(|&n| n > 0).and_then(|n| captures.get(n));
    let candidate = match (region.national_prefix_transform(), last_group) {
        (Some(transform), Some(_)) => {
            let mut expanded = String::new();
            captures.expand(transform, &mut expanded);
            format!("{expanded}{}", &national[whole.end()..])
        }
        _ => national[whole.end()..].to_string(),
    };
    if viable && !region.general.pattern.is_match(&candidate) {
        return None;
    }
    Some(candidate)
}

/// libphonenumber's testNumberLength for an unknown type: keep the stripped number only
/// when its length is possible (or too long, which validation then refuses).
fn length_allows(region: &Region, national: &str) -> bool {
    let general = &region.general;
    let length = national.len();
    match (general.min_length(), general.max_length()) {
        (Some(min), Some(max)) => length >= min && (length > max || general.allows_length(length)),
        _ => true,
    }
}

/// libphonenumber's getRegionCodeForNumberFromRegionList.
fn region_for(code: u16, national: &str) -> Option<&'static Region> {
    let regions = regions_for(code);
    if let [only] = regions {
        return Some(only);
    }
    regions.iter().find(|region| match &region.leading_digits {
        Some(leading) => leading.is_match(national),
        None => number_type(region, national) != NumberType::Unknown,
    })
}

/// libphonenumber's getNumberTypeHelper, reduced to what SMS delivery needs.
fn number_type(region: &Region, national: &str) -> NumberType {
    if !region.general.is_match(national) {
        return NumberType::Unknown;
    }
    let matches = |index: usize| region.types[index].as_ref().is_some_and(|desc| desc.is_match(national));
    if (0..FIXED_LINE).any(matches) {
        return NumberType::Other;
    }
    if matches(FIXED_LINE) {
        let same_pattern = match (&region.types[FIXED_LINE], &region.types[MOBILE]) {
            (Some(fixed), Some(mobile)) => fixed.pattern.source() == mobile.pattern.source(),
            _ => false,
        };
        return if same_pattern || matches(MOBILE) { NumberType::FixedLineOrMobile } else { NumberType::Other };
    }
    if matches(MOBILE) { NumberType::Mobile } else { NumberType::Unknown }
}

/// libphonenumber's chooseFormattingPatternForNumber.
fn choose_format<'a>(formats: &'a [NumberFormat], national: &str) -> Option<&'a NumberFormat> {
    formats.iter().find(|format| {
        format.leading_digits.as_ref().is_none_or(|leading| leading.is_match(national))
            && format.pattern.is_match(national)
    })
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
            let phone = Phone::parse(input).unwrap();
            assert_eq!(phone.e164, "+905321234567", "{input}");
            assert_eq!(phone.region, "TR");
        }
        assert_eq!(Phone::parse("+5491123456789").unwrap().region, "AR");
        assert_eq!(Phone::parse("+12025550143").unwrap().region, "US");
    }

    #[test]
    fn when_number_cannot_be_valid_should_refuse() {
        assert_eq!(Phone::parse("sample string 2").unwrap_err(), PhoneError::Unparseable);
        assert_eq!(Phone::parse("").unwrap_err(), PhoneError::Unparseable);
        assert_eq!(Phone::parse("05321234567").unwrap_err(), PhoneError::Unparseable);
        assert_eq!(Phone::parse("+90532").unwrap_err(), PhoneError::Invalid);
        assert_eq!(Phone::parse("+1234567890123456").unwrap_err(), PhoneError::Unparseable);
        assert_eq!(Phone::parse("+999123456789").unwrap_err(), PhoneError::Unparseable);
    }

    #[test]
    fn when_number_is_a_fixed_line_or_premium_should_refuse() {
        // Istanbul fixed line, Turkish premium rate.
        assert_eq!(Phone::parse("+902122345678").unwrap_err(), PhoneError::NotMobile);
        assert_eq!(Phone::parse("+909001234567").unwrap_err(), PhoneError::NotMobile);
    }

    #[test]
    fn when_country_is_not_allowed_should_refuse_with_its_region() {
        let allowed = allow(&["TR", "US"]);
        assert!(Phone::parse_for_sms("+905321234567", &allowed).is_ok());
        assert_eq!(
            Phone::parse_for_sms("+4915123456789", &allowed).unwrap_err(),
            PhoneError::CountryNotAllowed("DE".into())
        );
    }

    #[test]
    fn when_a_trunk_prefix_follows_the_country_code_should_drop_it() {
        assert_eq!(Phone::parse("+44 (0) 7911 123456").unwrap().e164, "+447911123456");
        // Italian numbers keep their leading zero: it is part of the number there.
        assert_eq!(format_international("+390236618300"), "+39 02 3661 8300");
    }

    #[test]
    fn every_pattern_of_the_metadata_should_compile() {
        let mut patterns = 0;
        for region in &metadata::REGIONS {
            let descs = std::iter::once(&region.general).chain(region.types.iter().flatten());
            let mut all: Vec<&metadata::Pattern> = descs.map(|d| &d.pattern).collect();
            all.extend(region.leading_digits.iter().chain(&region.national_prefix_for_parsing));
            for format in region.formats().iter().chain(region.international_formats()) {
                all.push(&format.pattern);
                all.extend(&format.leading_digits);
            }
            for pattern in all {
                assert!(pattern.regex().is_some(), "{}: {}", region.id(), pattern.source());
                patterns += 1;
            }
        }
        assert!(patterns > 4000, "{patterns}");
    }

    /// What the `phonenumber` crate (libphonenumber's metadata, the crate this module
    /// replaces at run time) says of an input, in this module's terms.
    fn reference(input: &str) -> Result<Phone, PhoneError> {
        use phonenumber::{Mode, Type, metadata::DATABASE};
        let number = phonenumber::parse(None, input).map_err(|_| PhoneError::Unparseable)?;
        if !phonenumber::is_valid(&number) {
            return Err(PhoneError::Invalid);
        }
        let region = number.country().id().ok_or(PhoneError::Invalid)?;
        match number.number_type(&DATABASE) {
            Type::Mobile | Type::FixedLineOrMobile => {}
            _ => return Err(PhoneError::NotMobile),
        }
        Ok(Phone { e164: number.format().mode(Mode::E164).to_string(), region: region.as_ref().to_string() })
    }

    /// Every example number of every type of every country, and near misses of each (a
    /// digit changed, added, removed): the same numbers accepted, as the same E.164 number
    /// and country, and formatted alike, as by the `phonenumber` crate; except where that
    /// crate departs from libphonenumber itself, in two ways checked here: it matches a
    /// number type's pattern against a prefix of the number (libphonenumber: the whole
    /// number), and it drops a national number's leading zero (so it refuses, e.g., Congo's
    /// own example mobile number 06 123 4567).
    #[test]
    fn when_compared_with_libphonenumber_on_its_examples_should_agree() {
        use phonenumber::metadata::DATABASE;
        let mut inputs = Vec::new();
        let mut mobile_examples = Vec::new();
        for meta in DATABASE.iter() {
            let d = meta.descriptors();
            let descs = [d.mobile(), d.fixed_line(), d.toll_free(), d.premium_rate(), d.voip(), d.pager(), d.uan()];
            for example in descs.into_iter().flatten().filter_map(|desc| desc.example()) {
                let number = format!("+{}{example}", meta.country_code());
                let mut changed = number.clone().into_bytes();
                if let Some(last) = changed.last_mut() {
                    *last = b'0' + (*last - b'0' + 1) % 10;
                }
                inputs.push(String::from_utf8(changed).unwrap());
                inputs.push(format!("{number}5"));
                inputs.push(number[..number.len() - 1].to_string());
                inputs.push(number);
            }
            if let Some(example) = d.mobile().and_then(|desc| desc.example()) {
                mobile_examples.push((format!("+{}{example}", meta.country_code()), meta.id().to_string()));
            }
        }
        let crate_defect = |input: &str, theirs: &Result<Phone, PhoneError>| {
            let (code, national) = split_country_code(&input[1..]).unwrap_or((0, ""));
            let whole_match = |id: &str| {
                regions_for(code)
                    .iter()
                    .filter(|r| r.id() == id)
                    .any(|r| r.types[MOBILE].as_ref().is_some_and(|m| m.is_match(national)))
            };
            match theirs {
                Ok(phone) => !whole_match(&phone.region),
                Err(_) => national.starts_with('0'),
            }
        };
        let mut disagreements = Vec::new();
        for input in &inputs {
            let (ours, theirs) = (Phone::parse(input), reference(input));
            // Refusals may differ in kind (Invalid or NotMobile); what must agree is which
            // numbers get an SMS, and as what.
            if ours.as_ref().ok() != theirs.as_ref().ok() {
                if !crate_defect(input, &theirs) {
                    disagreements.push(format!("{input}: ours {ours:?}, libphonenumber {theirs:?}"));
                }
            } else if let Ok(phone) = ours {
                let number = phonenumber::parse(None, input).unwrap();
                let expected = number.format().mode(phonenumber::Mode::International).to_string();
                if format_international(&phone.e164) != expected {
                    disagreements.push(format!("{input}: format {} vs {expected}", format_international(&phone.e164)));
                }
            }
        }
        for (example, region) in &mobile_examples {
            match Phone::parse(example) {
                // Territories sharing their main country's numbers (Jersey, Åland...) come
                // out as that country, as in libphonenumber; the comparison above checks it.
                Ok(phone) if phone.e164 == *example => {}
                other => disagreements.push(format!("mobile example {example} of {region}: {other:?}")),
            }
        }
        assert!(mobile_examples.len() > 200, "{}", mobile_examples.len());
        assert!(inputs.len() > 3000, "{}", inputs.len());
        assert!(disagreements.is_empty(), "{} of {}:\n{}", disagreements.len(), inputs.len(), disagreements.join("\n"));
    }
}
