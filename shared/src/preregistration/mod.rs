//! Family B: codes before registration, by SMS and/or e-mail, for mobile apps
//! (`POST /api/Auth/1/1/GenerateCnfCodeNotUser`, `.../ValidateCnfCodeNotUser`).

pub mod annotations;
pub mod apps;
pub mod channels;
pub mod handler;
pub mod request;
pub mod response;
pub mod service;
pub mod store;
mod validate;

use annotations::ModelState;
use lambda_http::http::StatusCode;
pub use service::Preregistration;

use crate::dynamo::StoreError;

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

/// Every way a family B operation can fail, with the status and `Message` it answers.
#[derive(Debug)]
pub enum PreregistrationError {
    Invalid(ModelState),
    PayloadTooLarge,
    MethodNotAllowed,
    UnknownPath,
    UnknownApplication,
    RateLimited,
    /// A guard refused: a caller limit, an SMS ceiling or the number's block.
    Refused(crate::guards::Refusal),
    NotFound,
    Expired,
    Mismatch {
        remaining: u32,
    },
    TooManyAttempts,
    AlreadyUsed,
    DeliveryFailed,
    /// A request with the same `Idempotency-Key` may still be running.
    KeyInFlight,
    /// The `Idempotency-Key` was used with another body.
    KeyReused,
    Busy,
    Internal,
    /// Answered as `Busy` or `Internal` (see `failure`).
    Store(StoreError),
}

impl PreregistrationError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) | Self::Mismatch { .. } => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnknownApplication => StatusCode::UNAUTHORIZED,
            Self::RateLimited | Self::Refused(_) | Self::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            Self::NotFound | Self::UnknownPath => StatusCode::NOT_FOUND,
            Self::Expired => StatusCode::GONE,
            Self::AlreadyUsed | Self::KeyInFlight => StatusCode::CONFLICT,
            Self::KeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::DeliveryFailed => StatusCode::BAD_GATEWAY,
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Store(err) => Self::answered_as(err).status(),
        }
    }

    /// What a store failure is answered as.
    fn answered_as(err: &StoreError) -> Self {
        if err.is_transient() { Self::Busy } else { Self::Internal }
    }

    /// Seconds until a refusal no longer holds: the `Retry-After` header.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Refused(refusal) => Some(refusal.retry_after_seconds),
            Self::KeyInFlight => Some(crate::idempotency::IN_FLIGHT_MS / 1000),
            Self::Busy => Some(crate::http::BUSY_RETRY_AFTER_SECONDS),
            Self::Store(err) => Self::answered_as(err).retry_after(),
            _ => None,
        }
    }

    /// The `Message` in the request's language (ModelState answers keep .NET's English).
    pub fn message(&self, language: Language) -> std::borrow::Cow<'static, str> {
        match self {
            Self::Refused(refusal) => {
                let base = match refusal.rule {
                    crate::guards::Rule::CallerFailures => Self::TooManyAttempts.fixed_message(language),
                    _ => Self::RateLimited.fixed_message(language),
                };
                format!("{base} ({})", refusal_reason(refusal, language)).into()
            }
            _ => self.fixed_message(language).into(),
        }
    }

    fn fixed_message(&self, language: Language) -> &'static str {
        use Language::*;
        match (self, language) {
            (Self::Invalid(_), _) => "The request is invalid.",
            (Self::PayloadTooLarge, Es) => "El cuerpo de la petición supera los 64 KiB.",
            (Self::PayloadTooLarge, En) => "The request body is larger than 64 KiB.",
            (Self::PayloadTooLarge, Pt) => "O corpo da requisição excede 64 KiB.",
            (Self::MethodNotAllowed, _) => "The requested resource does not support http method.",
            (Self::UnknownPath, _) => "No HTTP resource was found that matches the request URI.",
            (Self::UnknownApplication, Es) => "Aplicación no autorizada.",
            (Self::UnknownApplication, En) => "Application not authorized.",
            (Self::UnknownApplication, Pt) => "Aplicação não autorizada.",
            (Self::RateLimited, Es) => "Se solicitaron demasiados códigos; intente nuevamente más tarde.",
            (Self::RateLimited, En) => "Too many codes requested; try again later.",
            (Self::RateLimited, Pt) => "Muitos códigos solicitados; tente novamente mais tarde.",
            (Self::NotFound, Es) => "Código de confirmación no encontrado.",
            (Self::NotFound, En) => "Confirmation code not found.",
            (Self::NotFound, Pt) => "Código de confirmação não encontrado.",
            (Self::Expired, Es) => "El código de confirmación expiró; solicite uno nuevo.",
            (Self::Expired, En) => "The confirmation code has expired; request a new one.",
            (Self::Expired, Pt) => "O código de confirmação expirou; solicite um novo.",
            (Self::Mismatch { .. }, Es) => "El código de confirmación es incorrecto.",
            (Self::Mismatch { .. }, En) => "The confirmation code is incorrect.",
            (Self::Mismatch { .. }, Pt) => "O código de confirmação está incorreto.",
            (Self::TooManyAttempts, Es) => "Demasiados intentos fallidos; solicite un código nuevo más tarde.",
            (Self::TooManyAttempts, En) => "Too many failed attempts; request a new code later.",
            (Self::TooManyAttempts, Pt) => "Muitas tentativas falhas; solicite um novo código mais tarde.",
            (Self::AlreadyUsed, Es) => "El código de confirmación ya fue utilizado.",
            (Self::AlreadyUsed, En) => "The confirmation code has already been used.",
            (Self::AlreadyUsed, Pt) => "O código de confirmação já foi utilizado.",
            (Self::DeliveryFailed, Es) => "No se pudo enviar el código de confirmación.",
            (Self::DeliveryFailed, En) => "The confirmation code could not be sent.",
            (Self::DeliveryFailed, Pt) => "Não foi possível enviar o código de confirmação.",
            (Self::KeyInFlight, Es) => {
                "Una petición con esta Idempotency-Key puede seguir en curso; intente más tarde."
            }
            (Self::KeyInFlight, En) => "A request with this Idempotency-Key may still be in progress; retry later.",
            (Self::KeyInFlight, Pt) => {
                "Uma requisição com esta Idempotency-Key pode ainda estar em andamento; tente mais tarde."
            }
            (Self::KeyReused, Es) => "Esta Idempotency-Key ya se usó con otra petición.",
            (Self::KeyReused, En) => "This Idempotency-Key was used with another request body.",
            (Self::KeyReused, Pt) => "Esta Idempotency-Key já foi usada com outra requisição.",
            (Self::Busy | Self::Internal | Self::Store(_) | Self::Refused(_), _) => "An error has occurred.",
        }
    }
}

/// A guard's refusal as a public caller is told it (`Refusal::public_reason`: the rule and when
/// to retry, no traffic figures), in the request's language.
fn refusal_reason(r: &crate::guards::Refusal, language: Language) -> String {
    use crate::guards::Rule::*;
    let (subject, retry) = (&r.subject, r.retry_after_seconds);
    match language {
        Language::En => r.public_reason(),
        Language::Es => {
            let reason = match r.rule {
                CallerSends => "demasiados códigos solicitados desde su red".to_string(),
                CallerFailures => "demasiadas validaciones fallidas desde su red".to_string(),
                NumberBlock => "demasiados códigos sin validar enviados a números como este".to_string(),
                CountryCeiling => format!("se agotó la capacidad diaria de SMS para {subject}"),
                DailyCeiling => "se agotó la capacidad diaria de SMS".to_string(),
            };
            format!("{reason}; intente nuevamente en {retry} s")
        }
        Language::Pt => {
            let reason = match r.rule {
                CallerSends => "muitos códigos solicitados a partir da sua rede".to_string(),
                CallerFailures => "muitas validações falhas a partir da sua rede".to_string(),
                NumberBlock => "muitos códigos não validados enviados para números como este".to_string(),
                CountryCeiling => format!("a capacidade diária de SMS para {subject} se esgotou"),
                DailyCeiling => "a capacidade diária de SMS se esgotou".to_string(),
            };
            format!("{reason}; tente novamente em {retry} s")
        }
    }
}

/// In English: the messages clients get are `message`'s, in their language.
impl std::fmt::Display for PreregistrationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message(Language::En))
    }
}

impl std::error::Error for PreregistrationError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Store(err) => Some(err),
            _ => None,
        }
    }
}

impl From<StoreError> for PreregistrationError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
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
        crate::email::html_escape(&line).replace(code, &format!("<strong>{code}</strong>")),
        crate::email::html_escape(&validity)
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
