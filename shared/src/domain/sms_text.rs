//! What one SMS can carry, and the lines that let phones and browsers fill a code in.
//!
//! - **One segment.** SNS bills (and carriers deliver) an SMS by segment: 160 characters of
//!   the GSM 03.38 alphabet (the extension table's characters count twice), or 70 UTF-16 units
//!   when a single character is outside it. Android's SMS Retriever also reads only messages of
//!   at most 140 bytes, which is exactly one segment. So texts are folded into GSM-7 (`fold`:
//!   `código` -> `codigo`, `ş` -> `s`; e-mails keep their accents) and every configured text is
//!   rendered at start with the longest code, reference and autofill lines it can get: one that
//!   could need a second segment fails the cold start, naming its setting (`check_one_segment`).
//! - **Autofill** (`Autofill`). The WICG "Origin-bound one-time codes delivered via SMS" format
//!   makes the last line `@top.example #123456` (or `@top.example #123456 @embedded.example`):
//!   Chrome's WebOTP API and Safari's `autocomplete="one-time-code"` offer the code on that
//!   origin only, so a phishing page elsewhere is not offered it. Android's SMS Retriever API
//!   needs the app's 11-character hash in the message (Google's current rule: "include"; before
//!   2020 it said "end with"): it goes on the line before, so the origin-bound line stays the
//!   last, which Chrome's documentation requires (it refuses any line after it, an app hash
//!   included). So both are met in one message; where an old Play services build still wanted
//!   the hash last, the browsers' rule wins: the web one is the one that stops phishing.

/// Characters of the GSM 03.38 basic alphabet (one septet each).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// Characters of its extension table (an escape and a septet: two each).
const GSM7_EXTENSION: &str = "\x0c^{}\\[~]|€";

pub const GSM7_SEGMENT: usize = 160;
pub const UCS2_SEGMENT: usize = 70;

/// The septets `text` takes in GSM-7, or `None` when a character is outside the alphabet.
pub fn septets(text: &str) -> Option<usize> {
    text.chars().try_fold(0, |n, c| match c {
        c if GSM7_BASIC.contains(c) => Some(n + 1),
        c if GSM7_EXTENSION.contains(c) => Some(n + 2),
        _ => None,
    })
}

/// How many characters one segment of `text` may hold, and how many it takes: 160 septets in
/// GSM-7, else 70 UTF-16 units.
pub fn segment_use(text: &str) -> (usize, usize) {
    match septets(text) {
        Some(n) => (n, GSM7_SEGMENT),
        None => (text.encode_utf16().count(), UCS2_SEGMENT),
    }
}

/// `text` with the Latin letters GSM-7 lacks written without their marks (Spanish,
/// Portuguese, Turkish and the like), so that it stays in GSM-7: half the price of UCS-2 and
/// room for the autofill lines. Letters GSM-7 has (é, ñ, ü, à, Ç...) are kept; other scripts
/// are left as they are (the message is then UCS-2).
pub fn fold(text: &str) -> String {
    text.chars()
        .map(|c| {
            if GSM7_BASIC.contains(c) || GSM7_EXTENSION.contains(c) {
                return c;
            }
            match c {
                'á' | 'â' | 'ã' | 'ä' => 'a',
                'Á' | 'À' | 'Â' | 'Ã' => 'A',
                'ê' | 'ë' => 'e',
                'Ê' | 'È' | 'Ë' => 'E',
                'í' | 'î' | 'ï' | 'ı' => 'i',
                'Í' | 'Ì' | 'Î' | 'Ï' | 'İ' => 'I',
                'ó' | 'ô' | 'õ' => 'o',
                'Ó' | 'Ò' | 'Ô' | 'Õ' => 'O',
                'ú' | 'û' => 'u',
                'Ú' | 'Ù' | 'Û' => 'U',
                'ç' => 'c',
                'ş' => 's',
                'Ş' => 'S',
                'ğ' => 'g',
                'Ğ' => 'G',
                '’' | '‘' => '\'',
                '“' | '”' => '"',
                '–' | '—' => '-',
                other => other,
            }
        })
        .collect()
}

/// `Err` with what is wrong when `text` needs more than one segment.
pub fn check_one_segment(text: &str) -> Result<(), String> {
    match segment_use(text) {
        (used, room) if used > room => {
            let alphabet = if room == GSM7_SEGMENT { "GSM-7 characters" } else { "UCS-2 characters" };
            Err(format!("{used} {alphabet}, over the {room} of one SMS segment: {text:?}"))
        }
        _ => Ok(()),
    }
}

/// Where an SMS code is for: the site (and the site embedding it) and the Android apps that
/// may read it. An empty `Autofill` adds nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Autofill {
    origin: Option<String>,
    embedded: Option<String>,
    android_hashes: Vec<String>,
}

impl Autofill {
    /// `origin`: the host of the page the code is for (`example.com`: no scheme, no port);
    /// `embedded`: when the code is asked for by an iframe of that page, the iframe's host.
    /// `android_hashes`: the apps' 11-character SMS Retriever hashes (two signing keys, two).
    pub fn new(origin: Option<&str>, embedded: Option<&str>, android_hashes: &[String]) -> Result<Self, String> {
        let host = |what: &str, value: Option<&str>| -> Result<Option<String>, String> {
            value.map(|v| valid_host(v).map_err(|why| format!("{what} '{v}': {why}"))).transpose()
        };
        let origin = host("origin", origin)?;
        let embedded = host("embedded origin", embedded)?;
        if embedded.is_some() && origin.is_none() {
            return Err("an embedded origin needs the top-level origin too".into());
        }
        for hash in android_hashes {
            let valid = hash.len() == 11 && hash.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
            if !valid {
                return Err(format!("Android app hash '{hash}': 11 characters of base64 (A-Z, a-z, 0-9, + and /)"));
            }
        }
        Ok(Self { origin, embedded, android_hashes: android_hashes.to_vec() })
    }

    pub fn is_empty(&self) -> bool {
        self.origin.is_none() && self.android_hashes.is_empty()
    }

    /// The SMS: `body` folded into GSM-7, then the app hashes' line, then the origin-bound
    /// line (the last line, as the specification wants it).
    pub fn render(&self, body: &str, code: &str) -> String {
        let mut text = fold(body);
        if !self.android_hashes.is_empty() {
            text.push('\n');
            text.push_str(&self.android_hashes.join(" "));
        }
        if let Some(origin) = &self.origin {
            text.push_str("\n@");
            text.push_str(origin);
            text.push_str(" #");
            text.push_str(code);
            if let Some(embedded) = &self.embedded {
                text.push_str(" @");
                text.push_str(embedded);
            }
        }
        text
    }
}

/// A host as the origin-bound line names it: lowercase ASCII labels (an internationalised
/// name in its `xn--` form), dot-separated, 1 to 63 characters each and 253 in all; no scheme,
/// port, path or trailing dot.
fn valid_host(value: &str) -> Result<String, String> {
    let host = value.trim().to_ascii_lowercase();
    if host.contains("://") || host.contains(['/', ':', '@', '#', ' ']) {
        return Err("a host only: no scheme, port, path or spaces (example.com)".into());
    }
    if host.is_empty() || host.len() > 253 {
        return Err("1 to 253 characters".into());
    }
    for label in host.split('.') {
        let ok = (1..=63).contains(&label.len())
            && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!("label '{label}' is not a DNS label (letters, digits, inner hyphens; IDN as xn--)"));
        }
    }
    if !host.contains('.') && host != "localhost" {
        return Err("a registrable host has a dot (example.com)".into());
    }
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_text_is_counted_should_count_septets_or_utf16_units() {
        assert_eq!(segment_use("Your code is 123456"), (19, 160));
        assert_eq!(segment_use("€ [x]"), (8, 160), "the extension table counts twice");
        assert_eq!(segment_use("código"), (6, 70), "ó is not GSM-7");
        assert_eq!(segment_use(&fold("código")), (6, 160));
        assert_eq!(fold("Doğrulama kodunuz: şifre İstanbul ılık"), "Dogrulama kodunuz: sifre Istanbul ilik");
        assert_eq!(fold("confirmação, é, ñ, ü"), "confirmacao, é, ñ, ü", "GSM-7's own letters stay");
        assert!(check_one_segment(&"a".repeat(160)).is_ok());
        assert!(check_one_segment(&"a".repeat(161)).unwrap_err().contains("161 GSM-7"));
        assert!(check_one_segment(&"д".repeat(71)).unwrap_err().contains("71 UCS-2"));
    }

    #[test]
    fn when_autofill_is_configured_should_refuse_what_is_not_a_host_or_a_hash() {
        let hashes = vec!["FA+9qCX9VSu".to_string()];
        assert!(Autofill::new(Some("Example.COM"), None, &hashes).is_ok(), "folded to lowercase");
        for bad in ["https://example.com", "example.com:443", "example.com/login", "-x.com", "exa mple.com", "intranet"]
        {
            assert!(Autofill::new(Some(bad), None, &[]).is_err(), "{bad}");
        }
        assert!(Autofill::new(None, Some("embedded.example"), &[]).is_err(), "embedded needs the top level");
        for bad in ["short", "FA+9qCX9VSu!", "FA-9qCX9VSu"] {
            assert!(Autofill::new(None, None, &[bad.to_string()]).is_err(), "{bad}");
        }
        assert!(Autofill::default().is_empty());
    }

    #[test]
    fn when_a_text_is_rendered_should_end_in_the_origin_bound_line_after_the_app_hashes() {
        let autofill = Autofill::new(Some("example.com"), Some("bank.example"), &["FA+9qCX9VSu".into()]).unwrap();
        assert_eq!(
            autofill.render("Tu código es 123456.", "123456"),
            "Tu codigo es 123456.\nFA+9qCX9VSu\n@example.com #123456 @bank.example"
        );
        assert_eq!(Autofill::default().render("Tu código", "1"), "Tu codigo");
    }
}
