//! Family B: codes before registration, by SMS and/or e-mail, for mobile apps
//! (`POST /api/Auth/1/1/GenerateCnfCodeNotUser`, `.../ValidateCnfCodeNotUser`).

pub mod apps;
pub mod channels;
pub mod config;
pub mod dialect;
pub mod handler;
pub mod model_binding;
pub mod request;
pub mod response;
pub mod service;
pub mod store;
mod validate;

pub use config::PreregistrationConfig;
pub use service::Preregistration;

/// Purpose bound into every family B hash.
pub const PURPOSE: &str = "cnf-code-not-user";

/// Family B's codes: 6 digits.
pub const CODE_LENGTH: usize = 6;

/// Message languages; anything else falls back to Spanish, the legacy default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Es,
    En,
    Pt,
}

impl Language {
    pub fn pick(requested: Option<&str>) -> Self {
        let code: String =
            requested.unwrap_or_default().trim().chars().take(2).collect::<String>().to_ascii_lowercase();
        match code.as_str() {
            "en" => Self::En,
            "pt" => Self::Pt,
            _ => Self::Es,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Es => "es",
            Self::En => "en",
            Self::Pt => "pt",
        }
    }
}

/// The SMS and e-mail texts: (sms, subject, text body, html body).
pub fn texts(language: Language, code: &str, minutes: u64) -> (String, String, String, String) {
    let (sms, subject, line, validity) = match language {
        Language::Es => (
            format!("Tu código de confirmación es {code}. Vence en {minutes} minutos. No lo compartas."),
            "Tu código de confirmación",
            format!("Tu código de confirmación es {code}."),
            format!("Vence en {minutes} minutos. Si no lo solicitaste, ignora este mensaje."),
        ),
        Language::En => (
            format!("Your confirmation code is {code}. It expires in {minutes} minutes. Do not share it."),
            "Your confirmation code",
            format!("Your confirmation code is {code}."),
            format!("It expires in {minutes} minutes. If you did not ask for it, ignore this message."),
        ),
        Language::Pt => (
            format!("Seu código de confirmação é {code}. Expira em {minutes} minutos. Não o compartilhe."),
            "Seu código de confirmação",
            format!("Seu código de confirmação é {code}."),
            format!("Expira em {minutes} minutos. Se você não o solicitou, ignore esta mensagem."),
        ),
    };
    let html = format!(
        "<!DOCTYPE html><html><body><p>{}</p><p>{}</p></body></html>",
        crate::domain::email::html_escape(&line).replace(code, &format!("<strong>{code}</strong>")),
        crate::domain::email::html_escape(&validity)
    );
    (sms, subject.to_string(), format!("{line}\r\n\r\n{validity}"), html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_language_is_unknown_should_fall_back_to_spanish() {
        assert_eq!(Language::pick(Some("en-US")), Language::En);
        assert_eq!(Language::pick(Some("PT")), Language::Pt);
        assert_eq!(Language::pick(Some("de")), Language::Es);
        assert_eq!(Language::pick(None), Language::Es);
    }

    #[test]
    fn when_texts_are_built_should_carry_the_code_in_every_part() {
        for language in [Language::Es, Language::En, Language::Pt] {
            let (sms, subject, text, html) = texts(language, "012345", 10);
            assert!(sms.contains("012345") && text.contains("012345") && html.contains("<strong>012345</strong>"));
            assert!(!subject.is_empty() && sms.contains("10"));
        }
    }
}
