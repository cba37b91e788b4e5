//! How family B's legacy API (ASP.NET Web API) words each failure: its `Message`, in the
//! request's language (`ModelState` answers keep .NET's English).

use super::Language;
use crate::edge::Failure;

/// The `Message` of a failure in the request's language.
pub fn message(failure: &Failure, language: Language) -> String {
    match failure.answered() {
        Failure::Refused(refusal) => {
            let base = match refusal.rule {
                crate::store::guards::Rule::CallerFailures => fixed_message(&Failure::TooManyAttempts, language),
                _ => fixed_message(&Failure::DestinationLimit, language),
            };
            format!("{base} ({})", refusal_reason(refusal, language))
        }
        other => fixed_message(other, language).to_string(),
    }
}

fn fixed_message(failure: &Failure, language: Language) -> &'static str {
    use Language::*;
    match (failure, language) {
        (Failure::Invalid(_), _) => "The request is invalid.",
        (Failure::PayloadTooLarge, Es) => "El cuerpo de la petición supera los 64 KiB.",
        (Failure::PayloadTooLarge, En) => "The request body is larger than 64 KiB.",
        (Failure::PayloadTooLarge, Pt) => "O corpo da requisição excede 64 KiB.",
        (Failure::MethodNotAllowed, _) => "The requested resource does not support http method.",
        (Failure::UnknownPath, _) => "No HTTP resource was found that matches the request URI.",
        (Failure::UnknownApplication, Es) => "Aplicación no autorizada.",
        (Failure::UnknownApplication, En) => "Application not authorized.",
        (Failure::UnknownApplication, Pt) => "Aplicação não autorizada.",
        (Failure::DestinationLimit, Es) => "Se solicitaron demasiados códigos; intente nuevamente más tarde.",
        (Failure::DestinationLimit, En) => "Too many codes requested; try again later.",
        (Failure::DestinationLimit, Pt) => "Muitos códigos solicitados; tente novamente mais tarde.",
        (Failure::NotFound, Es) => "Código de confirmación no encontrado.",
        (Failure::NotFound, En) => "Confirmation code not found.",
        (Failure::NotFound, Pt) => "Código de confirmação não encontrado.",
        (Failure::Expired, Es) => "El código de confirmación expiró; solicite uno nuevo.",
        (Failure::Expired, En) => "The confirmation code has expired; request a new one.",
        (Failure::Expired, Pt) => "O código de confirmação expirou; solicite um novo.",
        (Failure::Mismatch { .. }, Es) => "El código de confirmación es incorrecto.",
        (Failure::Mismatch { .. }, En) => "The confirmation code is incorrect.",
        (Failure::Mismatch { .. }, Pt) => "O código de confirmação está incorreto.",
        (Failure::TooManyAttempts, Es) => "Demasiados intentos fallidos; solicite un código nuevo más tarde.",
        (Failure::TooManyAttempts, En) => "Too many failed attempts; request a new code later.",
        (Failure::TooManyAttempts, Pt) => "Muitas tentativas falhas; solicite um novo código mais tarde.",
        (Failure::AlreadyUsed, Es) => "El código de confirmación ya fue utilizado.",
        (Failure::AlreadyUsed, En) => "The confirmation code has already been used.",
        (Failure::AlreadyUsed, Pt) => "O código de confirmação já foi utilizado.",
        (Failure::DeliveryFailed, Es) => "No se pudo enviar el código de confirmación.",
        (Failure::DeliveryFailed, En) => "The confirmation code could not be sent.",
        (Failure::DeliveryFailed, Pt) => "Não foi possível enviar o código de confirmação.",
        (Failure::KeyInFlight, Es) => "Una petición con esta Idempotency-Key puede seguir en curso; intente más tarde.",
        (Failure::KeyInFlight, En) => "A request with this Idempotency-Key may still be in progress; retry later.",
        (Failure::KeyInFlight, Pt) => {
            "Uma requisição com esta Idempotency-Key pode ainda estar em andamento; tente mais tarde."
        }
        (Failure::KeyReused, Es) => "Esta Idempotency-Key ya se usó con otra petición.",
        (Failure::KeyReused, En) => "This Idempotency-Key was used with another request body.",
        (Failure::KeyReused, Pt) => "Esta Idempotency-Key já foi usada com outra requisição.",
        (Failure::UnknownConfiguration(_), _) => "The request is invalid.",
        (Failure::Busy | Failure::Internal | Failure::Store(_) | Failure::Refused(_), _) => "An error has occurred.",
    }
}

/// A guard's refusal as a public caller is told it (`Refusal::public_reason`: the rule and when
/// to retry, no traffic figures), in the request's language.
fn refusal_reason(r: &crate::store::guards::Refusal, language: Language) -> String {
    use crate::store::guards::Rule::*;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::guards::{Refusal, Rule};

    #[test]
    fn when_a_refusal_is_worded_should_give_the_rule_and_when_to_retry_in_the_language() {
        let refusal = Failure::Refused(Refusal { retry_after_seconds: 77, ..Refusal::sample(Rule::CallerFailures) });
        assert!(message(&refusal, Language::Es).starts_with("Demasiados intentos fallidos"));
        assert!(message(&refusal, Language::Pt).ends_with("tente novamente em 77 s)"));
        let store = Failure::Store(crate::store::dynamo::StoreError::Contention);
        assert_eq!(message(&store, Language::En), "An error has occurred.");
        assert_eq!(message(&Failure::DestinationLimit, Language::En), "Too many codes requested; try again later.");
    }
}
