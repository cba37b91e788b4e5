//! E-mail addresses as SES accepts them, and text made safe for an HTML body.

/// Escapes text for an HTML body.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An e-mail address SES would accept, lower-cased for use as a key: only `parse` makes one,
/// so holding one means it was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("is not a valid e-mail address")]
pub struct InvalidAddress;

impl EmailAddress {
    /// One `@`, a dotted domain of letters, digits and hyphens, no spaces, at most 254 chars;
    /// surrounding spaces are ignored.
    pub fn parse(input: &str) -> Result<Self, InvalidAddress> {
        let address = input.trim().to_lowercase();
        let (local, domain) = address.split_once('@').ok_or(InvalidAddress)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            && labels.last().is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
        if local_ok && domain_ok && address.len() <= 254 { Ok(Self(address)) } else { Err(InvalidAddress) }
    }

    /// What the stores and SES take.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `EmailAddress::parse`, as text.
pub fn normalise_address(input: &str) -> Option<String> {
    EmailAddress::parse(input).ok().map(|address| address.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_address_is_usable_should_normalise_it() {
        assert_eq!(
            normalise_address("  Ana.Perez+signup@Example.COM ").as_deref(),
            Some("ana.perez+signup@example.com")
        );
        assert_eq!(normalise_address("x@sub.domain.online").as_deref(), Some("x@sub.domain.online"));
    }

    #[test]
    fn when_address_is_not_usable_should_refuse() {
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "ana@@example.com",
            "a b@example.com",
            "ana@exa_mple.com",
            "ana@-example.com",
            "ana@example.c0m",
            ".ana@example.com",
            "ana..b@example.com",
        ] {
            assert_eq!(normalise_address(bad), None, "{bad}");
        }
        assert_eq!(normalise_address(&format!("{}@example.com", "a".repeat(65))), None);
    }

    #[test]
    fn when_address_is_parsed_should_hold_it_normalised_or_refuse() {
        assert_eq!(EmailAddress::parse(" Ana@Example.COM").unwrap().as_str(), "ana@example.com");
        assert_eq!(EmailAddress::parse("ana@example"), Err(InvalidAddress));
    }

    #[test]
    fn when_text_goes_into_html_should_be_escaped() {
        assert_eq!(html_escape("<b>\"x\" & 'y'</b>"), "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;");
    }
}
