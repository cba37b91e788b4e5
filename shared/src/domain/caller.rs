//! Who is calling, as API Gateway saw it: the per-caller limits (`guards`) and the public
//! `Idempotency-Key` scope (`idempotency`) count and key by it. The edge reads it from the
//! request (`edge::request::caller_of`).

use std::net::IpAddr;

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
}
