//! HTTP edge of family B: ASP.NET Web API's answers, every outcome mapped in this one place.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use super::service::{Payload, Preregistration};
use super::validation::{GenerateRequest, ValidateRequest};
use super::{CnfError, Language};
use crate::http::{self, BodyError};

fn body_of(request: &Request) -> Result<&str, CnfError> {
    if request.method() != Method::POST {
        return Err(CnfError::MethodNotAllowed);
    }
    http::body_text(request.body()).map_err(|e| match e {
        BodyError::TooLarge => CnfError::PayloadTooLarge,
        BodyError::InvalidUtf8 => CnfError::Invalid(super::validation::ModelState::from([(
            "request".to_string(),
            vec!["The request body is not valid UTF-8.".to_string()],
        )])),
    })
}

/// The language a request asks for, read leniently so even an invalid request is answered
/// in it.
fn language_of(body: &str) -> Language {
    let value: Option<Value> = serde_json::from_str(body).ok();
    let requested = value
        .as_ref()
        .and_then(Value::as_object)
        .and_then(|map| map.iter().find(|(k, _)| k.eq_ignore_ascii_case("language")).and_then(|(_, v)| v.as_str()));
    Language::pick(requested)
}

pub async fn generate(app: &Preregistration, request: Request) -> Response<Body> {
    let body = body_of(&request);
    let language = body.as_ref().map(|b| language_of(b)).unwrap_or(Language::Es);
    let outcome = match body.and_then(|b| GenerateRequest::parse(b).map_err(CnfError::Invalid)) {
        Ok(parsed) => {
            let application = parsed.application_id.clone();
            app.generate(parsed).await.map(|payload| (application, payload))
        }
        Err(err) => Err(err),
    };
    answer(app, outcome, language)
}

pub async fn validate(app: &Preregistration, request: Request) -> Response<Body> {
    let body = body_of(&request);
    let language = body.as_ref().map(|b| language_of(b)).unwrap_or(Language::Es);
    let outcome = match body.and_then(|b| ValidateRequest::parse(b).map_err(CnfError::Invalid)) {
        Ok(parsed) => {
            let application = parsed.application_id.clone();
            app.validate(parsed).await.map(|payload| (application, payload))
        }
        Err(err) => Err(err),
    };
    answer(app, outcome, language)
}

/// `GenericResult`: `{"encryptedData": "..."}` for applications with a key, else
/// `{"encryptedData": null, "response": {...}}`; errors as ASP.NET Web API writes them.
fn answer(app: &Preregistration, outcome: Result<(String, Payload), CnfError>, language: Language) -> Response<Body> {
    match outcome {
        Ok((application, payload)) => {
            let encrypted = app.application(&application).ok().and_then(|a| a.encrypt(payload.to_string().as_bytes()));
            let body = match encrypted {
                Some(data) => json!({ "encryptedData": data }),
                None => json!({ "encryptedData": null, "response": payload }),
            };
            http::json_response(StatusCode::OK, &body)
        }
        Err(err) => {
            let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            tracing::info!(status = status.as_u16(), "pre-registration request refused");
            let body = match &err {
                CnfError::Invalid(model_state) => {
                    json!({ "Message": err.message(language), "ModelState": model_state })
                }
                CnfError::Mismatch { remaining } => {
                    json!({ "Message": err.message(language), "remainingAttempts": remaining })
                }
                _ => json!({ "Message": err.message(language) }),
            };
            http::json_response(status, &body)
        }
    }
}
