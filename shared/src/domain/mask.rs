//! Masking of personal data for logs and answers.

/// `+905321234567` -> `+90*******567`: country code and last three digits stay readable.
pub fn phone(e164: &str) -> String {
    let chars: Vec<char> = e164.chars().collect();
    let keep_start = chars.len().min(3);
    let keep_end = 3.min(chars.len().saturating_sub(keep_start));
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < keep_start || i >= chars.len() - keep_end { *c } else { '*' })
        .collect()
}

/// `ana@example.com` -> `a***@example.com`.
pub fn email(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_string(),
    }
}

/// An error text from a provider, with the number masked and the code removed: SDK errors
/// may echo request parameters, and logs must carry neither.
pub fn redact(text: &str, phone_e164: &str, code: &str) -> String {
    let masked = text.replace(phone_e164, &phone(phone_e164));
    if code.is_empty() { masked } else { masked.replace(code, "[code]") }
}

#[cfg(test)]
mod tests {
    #[test]
    fn when_error_echoes_number_and_code_should_hide_both() {
        let text = "Invalid parameter: PhoneNumber +905321234567, message 'code 123456'";
        let redacted = super::redact(text, "+905321234567", "123456");
        assert_eq!(redacted, "Invalid parameter: PhoneNumber +90*******567, message 'code [code]'");
    }

    #[test]
    fn when_phone_is_masked_should_hide_the_middle_digits() {
        assert_eq!(super::phone("+905321234567"), "+90*******567");
        assert_eq!(super::phone("+1"), "+1");
    }

    #[test]
    fn when_email_is_masked_should_keep_first_letter_and_domain() {
        assert_eq!(super::email("ana@example.com"), "a***@example.com");
        assert_eq!(super::email("nonsense"), "***");
    }
}
