//! HTTP edge of family B: ASP.NET Web API's answers, every outcome mapped in this one place.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use super::service::{Payload, Preregistration};
use super::validation::{GenerateRequest, ValidateRequest};
use super::{CnfError, Language};
use crate::http::{self, BodyError};

fn body_of<'a>(request: &'a Request, endpoint: &str) -> Result<&'a str, CnfError> {
    if !http::addressed_to(request.uri().path(), endpoint) {
        return Err(CnfError::UnknownPath);
    }
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
    let body = body_of(&request, "/GenerateCnfCodeNotUser");
    let language = body.as_ref().map(|b| language_of(b)).unwrap_or(Language::Es);
    let xml = http::prefers_xml(request.headers());
    let read = |b: &str| GenerateRequest::read(b, http::is_xml_body(request.headers(), b)).map_err(CnfError::Invalid);
    let outcome = match body.and_then(read) {
        Ok(parsed) => {
            let application = parsed.application_id.clone();
            let caller = crate::guards::Caller::of(&request);
            http::within(app.config.request_deadline, app.generate(parsed, caller.as_ref()))
                .await
                .unwrap_or(Err(CnfError::Busy))
                .map(|payload| (application, payload))
        }
        Err(err) => Err(err),
    };
    answer(app, outcome, language, xml.then_some("GenericResultOfGenerateCnfCodeNotUserResponse"))
}

pub async fn validate(app: &Preregistration, request: Request) -> Response<Body> {
    let body = body_of(&request, "/ValidateCnfCodeNotUser");
    let language = body.as_ref().map(|b| language_of(b)).unwrap_or(Language::Es);
    let xml = http::prefers_xml(request.headers());
    let read = |b: &str| ValidateRequest::read(b, http::is_xml_body(request.headers(), b)).map_err(CnfError::Invalid);
    let outcome = match body.and_then(read) {
        Ok(parsed) => {
            let application = parsed.application_id.clone();
            let caller = crate::guards::Caller::of(&request);
            http::within(app.config.request_deadline, app.validate(parsed, caller.as_ref()))
                .await
                .unwrap_or(Err(CnfError::Busy))
                .map(|payload| (application, payload))
        }
        Err(err) => Err(err),
    };
    answer(app, outcome, language, xml.then_some("GenericResultOfValidateCnfCodeNotUserResponse"))
}

/// `GenericResult`: `{"encryptedData": "..."}` for applications with a key, else
/// `{"encryptedData": null, "response": {...}}`; errors as ASP.NET Web API writes them.
/// With `xml_root`, the same answer as DataContract XML (errors as Web API's `<Error>`).
fn answer(
    app: &Preregistration,
    outcome: Result<(String, Payload), CnfError>,
    language: Language,
    xml_root: Option<&str>,
) -> Response<Body> {
    match outcome {
        Ok((application, payload)) => {
            let encrypted = app.application(&application).ok().and_then(|a| a.encrypt(payload.to_string().as_bytes()));
            let body = match encrypted {
                Some(data) => json!({ "encryptedData": data }),
                None => json!({ "encryptedData": null, "response": payload }),
            };
            match xml_root {
                Some(root) => http::xml_response(StatusCode::OK, result_xml(root, &body)),
                None => http::json_response(StatusCode::OK, &body),
            }
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
            let response = match xml_root {
                Some(_) => http::xml_response(status, error_xml(&body)),
                None => http::json_response(status, &body),
            };
            http::with_retry_after(response, err.retry_after())
        }
    }
}

const RESULT_NAMESPACE: &str = "http://schemas.datacontract.org/2004/07/KinPOS.API";

fn result_xml(root: &str, body: &Value) -> String {
    let mut w = crate::xml::Writer::new(root, RESULT_NAMESPACE);
    w.field("encryptedData", body["encryptedData"].as_str());
    match &body["response"] {
        Value::Null => w.field("response", None),
        response => w.raw(&format!("<response>{}</response>", crate::xml::json_members(response))),
    };
    w.finish(root)
}

/// ASP.NET Web API's `HttpError` in XML: `<Error><Message/><ModelState><request.x/>...`.
fn error_xml(body: &Value) -> String {
    let escape = crate::xml::escape;
    let mut out = String::from("<Error>");
    out.push_str(&format!("<Message>{}</Message>", escape(body["Message"].as_str().unwrap_or_default())));
    if let Some(state) = body["ModelState"].as_object() {
        out.push_str("<ModelState>");
        for (key, messages) in state {
            for message in messages.as_array().into_iter().flatten().filter_map(Value::as_str) {
                out.push_str(&format!("<{key}>{}</{key}>", escape(message)));
            }
        }
        out.push_str("</ModelState>");
    }
    if let Some(remaining) = body["remainingAttempts"].as_u64() {
        out.push_str(&format!("<remainingAttempts>{remaining}</remainingAttempts>"));
    }
    out.push_str("</Error>");
    out
}
