//! The network a client address counts under in the per-client limits (login throttles, the
//! HTTP front's connection share): an IPv4 address is itself, an IPv6 address its /64; and
//! the site ([`client_site`], an IPv6 /48) for the daily share of known login sources, the
//! hashing queue's share and the connection slots one site may hold. One
//! host on IPv6 usually holds a whole /64 (providers hand them out that way, and SLAAC and
//! privacy addresses pick from it at will), so a limit per full IPv6 address would give one
//! client 2^64 shares.
use std::net::{IpAddr, Ipv6Addr};

/// The network `ip` counts under: itself for IPv4 (an IPv4-mapped IPv6 address counts as
/// its IPv4 address), its /64 for IPv6.
pub fn client_network(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !u128::from(u64::MAX);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

/// The site `ip` belongs to, for limits one attacker could otherwise spread over many
/// networks: itself for IPv4, as in [`client_network`], its /48 for IPv6 (what a provider
/// hands one customer site; a /64 each costs an attacker with a /48 nothing).
pub fn client_site(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u128::MAX >> 48))),
        v4 => v4,
    }
}

/// [`client_site`] of an address in text, as the key of a throttle; text that is not an
/// address is its own key.
pub fn client_site_key(ip: &str) -> String {
    ip.parse::<IpAddr>()
        .map_or_else(|_| ip.to_owned(), |ip| client_site(ip).to_string())
}

/// [`client_network`] of an address in text, as the key of a throttle; text that is not an
/// address is its own key.
pub fn client_network_key(ip: &str) -> String {
    ip.parse::<IpAddr>()
        .map_or_else(|_| ip.to_owned(), |ip| client_network(ip).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_count_by_their_64_and_ipv4_ones_by_themselves() {
        let net = |s: &str| client_network(s.parse().unwrap()).to_string();
        assert_eq!(net("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::");
        assert_eq!(net("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::");
        assert_ne!(net("2001:db8:1:3::1"), net("2001:db8:1:2::1"));
        assert_eq!(net("203.0.113.9"), "203.0.113.9");
        assert_eq!(net("::ffff:203.0.113.9"), "203.0.113.9", "mapped IPv4");
        assert_eq!(client_network_key("2001:db8::7"), "2001:db8::");
        assert_eq!(client_network_key("not an address"), "not an address");
        assert_eq!(client_site_key("2001:db8:1:2:aaaa::1"), "2001:db8:1::");
        assert_eq!(client_site_key("2001:db8:1:ff::1"), "2001:db8:1::");
        assert_eq!(client_site_key("::ffff:203.0.113.9"), "203.0.113.9");
        assert_eq!(client_site_key("not an address"), "not an address");
    }
}
