//! Phone numbers reserved for fiction: numbers a regulator promises never to give to anyone,
//! so a test destination there cannot become a back door into a real person's account.
//!
//! Only ranges that can receive an SMS are listed (a mobile number, or a North American one):
//! the fictional landline blocks (UK drama areas, Germany's BNetzA blocks, Australia's
//! 5550/7010 blocks) are refused by `Phone::parse` as SMS destinations anyway.
//! - North America (NANPA): 555-0100 to 555-0199 in every area code, "for fictitious use".
//! - United Kingdom (Ofcom, drama numbers): mobile 07700 900000 to 07700 900999.
//! - Australia (ACMA, numbers for creative works): these 30 mobile numbers, no range.
//! - Sweden (PTS, fictitious numbers): mobile 070-174 06 05 to 070-174 06 99.

/// Australia's mobile numbers for creative works, as ACMA lists them (E.164).
const AUSTRALIA: [&str; 30] = [
    "+61491570006",
    "+61491570110",
    "+61491570156",
    "+61491570157",
    "+61491570158",
    "+61491570159",
    "+61491570313",
    "+61491570737",
    "+61491571266",
    "+61491571491",
    "+61491571804",
    "+61491572549",
    "+61491572665",
    "+61491572983",
    "+61491573087",
    "+61491573770",
    "+61491574118",
    "+61491574632",
    "+61491575254",
    "+61491575789",
    "+61491576398",
    "+61491576801",
    "+61491577426",
    "+61491577644",
    "+61491578148",
    "+61491578888",
    "+61491578957",
    "+61491579212",
    "+61491579455",
    "+61491579760",
];

/// The fictional range an E.164 number is in (its name, for the start-up log), if any.
pub fn range_of(e164: &str) -> Option<&'static str> {
    let digits = e164.strip_prefix('+')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // +1 NPA 555 01XX: ten digits after the 1, the exchange 555 and the line 0100-0199.
    if let Some(national) = digits.strip_prefix('1')
        && national.len() == 10
        && national[3..].starts_with("55501")
    {
        return Some("North America 555-0100..0199");
    }
    if digits.len() == 12 && digits.starts_with("447700900") {
        return Some("UK 07700 900xxx");
    }
    if AUSTRALIA.contains(&e164) {
        return Some("Australia ACMA creative-works mobiles");
    }
    if let Some(line) = digits.strip_prefix("467017406")
        && line.len() == 2
        && line >= "05"
    {
        return Some("Sweden 070-174 06 05..99");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::phone::Phone;

    #[test]
    fn when_a_number_is_in_a_fictional_range_should_name_it_and_stop_at_its_edges() {
        for (number, fictional) in [
            ("+12025550100", true),
            ("+12025550199", true),
            ("+14155550142", true),
            ("+12025550200", false),
            ("+12025550099", false),
            ("+12025551234", false),
            ("+1202555010", false),
            ("+447700900000", true),
            ("+447700900999", true),
            ("+447700901000", false),
            ("+447700800123", false),
            ("+61491570156", true),
            ("+61491579760", true),
            ("+61491570155", false),
            ("+46701740605", true),
            ("+46701740699", true),
            ("+46701740604", false),
            ("+46701740600", false),
            ("+467017406050", false),
            ("+905321234567", false),
            ("12025550100", false),
        ] {
            assert_eq!(range_of(number).is_some(), fictional, "{number}");
        }
    }

    #[test]
    fn when_a_fictional_number_is_written_as_users_do_should_be_listed_in_its_e164_form() {
        // libphonenumber calls the UK's 07700 900xxx invalid: `Phone::listed` takes a
        // configured one all the same, written any way `parse` reads.
        assert!(Phone::parse("+447700900123").is_err());
        for (written, e164) in [
            ("+1 (201) 555-0123", "+12015550123"),
            ("+44 (0)7700 900123", "+447700900123"),
            ("0046 70 174 06 50", "+46701740650"),
            ("+61 491 570 156", "+61491570156"),
        ] {
            let phone = Phone::listed(written, |e| range_of(e).is_some()).unwrap_or_else(|| panic!("{written}"));
            assert_eq!(phone.as_str(), e164);
        }
        assert_eq!(Phone::listed("+447700900123", |_| true).unwrap().region(), "GB");
        assert!(Phone::listed("+447911123456", |e| range_of(e).is_some()).is_none());
        for number in AUSTRALIA {
            assert_eq!(Phone::listed(number, |e| range_of(e).is_some()).unwrap().as_str(), number);
        }
    }
}
