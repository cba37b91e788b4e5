//! What the edge reads of a request besides its body: who is calling (the source address API
//! Gateway saw, or the principal it authenticated) and the `Idempotency-Key`. Nothing below
//! the edge reads an HTTP request.

use std::net::IpAddr;

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use crate::domain::caller::Caller;
use crate::domain::crypto::KeyRing;
use crate::store::idempotency::{Door, HEADER, Idempotency};

/// The source address of the request context: `requestContext.http.sourceIp` (HTTP API)
/// or `requestContext.identity.sourceIp` (REST API); never a header or a body field, which
/// the caller writes. `None` for a direct invocation, which only IAM principals can make.
pub fn caller_of(request: &Request) -> Option<Caller> {
    let ip = match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.clone(),
        RequestContext::ApiGatewayV1(context) => context.identity.source_ip.clone(),
        _ => None,
    }?;
    ip.trim().parse::<IpAddr>().ok().map(Caller::from_ip)
}

/// Who is calling, when API Gateway authenticated them (family C: an IAM principal or a JWT
/// subject), so two backends' keys never meet.
fn principal_of(request: &Request) -> String {
    let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else { return String::new() };
    let Some(authorizer) = &context.authorizer else { return String::new() };
    if let Some(arn) = authorizer.iam.as_ref().and_then(|iam| iam.user_arn.clone()) {
        return arn;
    }
    let claims = authorizer.jwt.as_ref().map(|jwt| &jwt.claims);
    claims.and_then(|c| c.get("client_id").or_else(|| c.get("sub")).cloned()).unwrap_or_default()
}

/// The request's `Idempotency-Key` for `endpoint`, if it sent one, scoped by `door` (the
/// authenticated principal, or `caller`, the request's `caller_of`, and the application);
/// `Err` with the reason when the header is not a key.
pub fn idempotency_of(
    request: &Request,
    caller: Option<&Caller>,
    endpoint: &str,
    door: Door<'_>,
    keys: &KeyRing,
    table: &str,
) -> Result<Option<Idempotency>, String> {
    let Some(header) = request.headers().get(HEADER) else { return Ok(None) };
    let who = match door {
        Door::Backend => principal_of(request),
        Door::Public { .. } => caller.map(|c| c.as_str().to_string()).unwrap_or_default(),
    };
    Idempotency::new(header.as_bytes(), endpoint, door, &who, request.body().as_ref(), keys, table).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_the_request_context_has_a_source_ip_should_use_it_and_nothing_else() {
        let event = include_str!("../../../events/generate-cnf-code-not-user.json");
        let request = lambda_http::request::from_str(event).expect("event");
        let caller = caller_of(&request).expect("the sample event has a source address");
        let expected = serde_json::from_str::<serde_json::Value>(event).unwrap()["requestContext"]["http"]["sourceIp"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(caller.as_str(), expected);
        let bare = Request::new(lambda_http::Body::Empty);
        assert_eq!(caller_of(&bare), None, "no context: a direct invocation");
    }

    #[test]
    fn when_a_rest_api_v1_delivers_the_request_should_read_its_source_address() {
        // Behind a REST API (payload v1) the caller is `requestContext.identity.sourceIp`:
        // without that arm the per-caller limits would count nothing there.
        let event = include_str!("../../../events/create-two-factor-sms-otp-rest-v1.json");
        let request = lambda_http::request::from_str(event).expect("event");
        let expected =
            serde_json::from_str::<serde_json::Value>(event).unwrap()["requestContext"]["identity"]["sourceIp"]
                .as_str()
                .unwrap()
                .to_string();
        assert_eq!(caller_of(&request).expect("a v1 caller").as_str(), expected);
    }
}
