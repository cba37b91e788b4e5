//! Who is calling, as API Gateway saw it: the per-caller limits (`guards`) and the public
//! `Idempotency-Key` scope (`idempotency`) count and key by it.

use std::net::IpAddr;

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

/// Who is calling, as API Gateway saw it: an IPv4 address, or an IPv6 address's /64 (one
/// subscriber gets a whole /64, so counting single IPv6 addresses would count nothing).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Caller(String);

impl Caller {
    pub fn from_ip(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(v4.to_string()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(v4.to_string()),
                None => {
                    let s = v6.segments();
                    Self(format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]))
                }
            },
        }
    }

    /// The source address of the request context: `requestContext.http.sourceIp` (HTTP API)
    /// or `requestContext.identity.sourceIp` (REST API); never a header or a body field, which
    /// the caller writes. `None` for a direct invocation, which only IAM principals can make.
    pub fn of(request: &Request) -> Option<Self> {
        let ip = match request.request_context_ref()? {
            RequestContext::ApiGatewayV2(context) => context.http.source_ip.clone(),
            RequestContext::ApiGatewayV1(context) => context.identity.source_ip.clone(),
            _ => None,
        }?;
        ip.trim().parse::<IpAddr>().ok().map(Self::from_ip)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_the_caller_is_keyed_should_group_ipv6_by_its_64_and_unmap_ipv4() {
        let key = |ip: &str| Caller::from_ip(ip.parse().unwrap()).0;
        assert_eq!(key("203.0.113.7"), "203.0.113.7");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:ffff:1:2:3"));
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:203.0.113.7"), "203.0.113.7");
    }

    #[test]
    fn when_the_request_context_has_a_source_ip_should_use_it_and_nothing_else() {
        let event = include_str!("../../../events/generate-cnf-code-not-user.json");
        let request = lambda_http::request::from_str(event).expect("event");
        let caller = Caller::of(&request).expect("the sample event has a source address");
        let expected = serde_json::from_str::<serde_json::Value>(event).unwrap()["requestContext"]["http"]["sourceIp"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(caller.as_str(), expected);
        let bare = Request::new(lambda_http::Body::Empty);
        assert_eq!(Caller::of(&bare), None, "no context: a direct invocation");
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
        assert_eq!(Caller::of(&request).expect("a v1 caller").as_str(), expected);
    }
}
