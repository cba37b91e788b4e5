//! Routing of the local server: API Gateway's job, done the way API Gateway does it (path to
//! function, by the table the template is tested against: `shared::edge::routes`), then the
//! function's own handler.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::request::RequestContext;
use shared::edge::routes::Endpoint;
use shared::preregistration::{self, Preregistration};
use shared::signup::{self, Signup};
use shared::twofactor::{TwoFactor, handler};

pub struct State {
    pub two_factor: Arc<TwoFactor>,
    pub signup: Arc<Signup>,
    pub preregistration: Arc<Preregistration>,
    pub moto: String,
    pub metrics: Arc<crate::metrics::Collector>,
}

/// `peer`: the connection's real address, which reaches the handlers as API Gateway's
/// `requestContext.http.sourceIp` would (the per-caller limits count it).
pub async fn route(
    state: Arc<State>,
    peer: IpAddr,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_string();
    let response = match path.as_str() {
        "/health" => text(StatusCode::OK, "application/json", "{\"status\":\"ok\"}".into()),
        "/_local/messages" => crate::inbox::messages(&state.moto).await,
        "/_local/metrics" => text(StatusCode::OK, "application/json", state.metrics.snapshot().to_string()),
        _ => match endpoint_for(&path) {
            // Each handler awaited here, not in a helper: one more async level overflows
            // rustc's query depth computing this future's layout.
            Some(endpoint) => {
                let request = to_lambda(request, peer).await;
                from_lambda(match endpoint {
                    Endpoint::TwoFactorCreate => handler::create(&state.two_factor, request).await,
                    Endpoint::TwoFactorVerify => handler::verify(&state.two_factor, request).await,
                    Endpoint::TwoFactorUnknown => handler::not_found(&state.two_factor, &request),
                    Endpoint::PreregistrationGenerate => {
                        preregistration::handler::generate(&state.preregistration, request).await
                    }
                    Endpoint::PreregistrationValidate => {
                        preregistration::handler::validate(&state.preregistration, request).await
                    }
                    Endpoint::PreregistrationUnknown => {
                        preregistration::handler::not_found(&state.preregistration, &request)
                    }
                    Endpoint::Signup => signup::handler::handle(&state.signup, request).await,
                })
            }
            None => {
                text(StatusCode::NOT_FOUND, "application/json", "{\"Message\":\"No route matches this path.\"}".into())
            }
        },
    };
    Ok(response)
}

/// The service's route for `path` (`shared::edge::routes`, the table the template and the other
/// sources are tested against): an exact route, else its family's catch-all, whose 404 is the
/// family's own. `None`: no route, API Gateway's own 404.
fn endpoint_for(path: &str) -> Option<Endpoint> {
    shared::edge::routes::find(path).map(|route| route.endpoint)
}

pub fn text(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

/// Reads at most one byte past the handlers' limit: enough for them to refuse a large body in
/// their own error shape, without holding an arbitrarily large one in memory.
async fn to_lambda(request: Request<Incoming>, peer: IpAddr) -> lambda_http::Request {
    let (parts, mut body) = request.into_parts();
    let mut bytes = Vec::new();
    while bytes.len() <= shared::edge::http::MAX_BODY_BYTES {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    bytes.extend_from_slice(&data);
                }
            }
            _ => break,
        }
    }
    let mut lambda_request = lambda_http::Request::new(lambda_http::Body::Binary(bytes));
    *lambda_request.method_mut() = parts.method;
    *lambda_request.uri_mut() = parts.uri;
    *lambda_request.headers_mut() = parts.headers;
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http.source_ip = Some(peer.to_string());
    lambda_request.extensions_mut().insert(RequestContext::ApiGatewayV2(context));
    lambda_request
}

fn from_lambda(response: lambda_http::Response<lambda_http::Body>) -> Response<Full<Bytes>> {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        lambda_http::Body::Empty => Bytes::new(),
        lambda_http::Body::Text(text) => Bytes::from(text),
        lambda_http::Body::Binary(data) => Bytes::from(data),
        _ => Bytes::new(),
    };
    Response::from_parts(parts, Full::new(bytes))
}

#[cfg(test)]
mod tests {
    use shared::edge::routes::{Endpoint, Kind, PROXY, ROUTES};

    use super::endpoint_for;

    #[test]
    fn every_route_of_the_table_reaches_its_endpoint() {
        for route in ROUTES {
            let path = match route.kind() {
                Kind::Exact => route.path.to_string(),
                Kind::CatchAll => route.path.replace(PROXY, "Other"),
            };
            assert_eq!(endpoint_for(&path), Some(route.endpoint), "{path}");
        }
    }

    /// As before the table: a family's unknown path is the family's 404, any other path none.
    #[test]
    fn unknown_paths() {
        assert_eq!(endpoint_for("/api/TwoFactor/Other"), Some(Endpoint::TwoFactorUnknown));
        assert_eq!(endpoint_for("/api/TwoFactor/"), Some(Endpoint::TwoFactorUnknown));
        assert_eq!(endpoint_for("/api/TwoFactor/CreateTwoFactorSmsOtp/"), Some(Endpoint::TwoFactorUnknown));
        assert_eq!(endpoint_for("/api/Auth/1/1/Other"), Some(Endpoint::PreregistrationUnknown));
        assert_eq!(endpoint_for("/api/Auth/1/1/a/b"), Some(Endpoint::PreregistrationUnknown));
        assert_eq!(endpoint_for("/api/TwoFactor"), None);
        assert_eq!(endpoint_for("/api/Auth/1/2/GenerateCnfCodeNotUser"), None);
        assert_eq!(endpoint_for("/CognitoSendConfirmCodeRequest.yaml"), None);
        assert_eq!(endpoint_for("/"), None);
        // The local server's own paths are no route of the service.
        assert_eq!(endpoint_for("/health"), None);
        assert_eq!(endpoint_for("/_local/messages"), None);
    }
}
