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

#[cfg(test)]
mod tests {
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
