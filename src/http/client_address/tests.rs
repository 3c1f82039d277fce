use hyper::header::{HeaderMap, HeaderValue};

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn forwarded(lines: &[&str]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in lines {
        headers.append("x-forwarded-for", HeaderValue::from_str(line).unwrap());
    }
    headers
}

fn trusting(ranges: &[&str]) -> TrustedProxies {
    TrustedProxies::new(ranges.iter().map(|r| r.parse().unwrap()).collect())
}

#[test]
fn a_peer_that_is_no_trusted_proxy_is_the_client_whatever_it_sends() {
    let headers = forwarded(&["198.51.100.7"]);
    assert_eq!(
        TrustedProxies::default().client(ip("203.0.113.9"), &headers),
        ip("203.0.113.9")
    );
    assert_eq!(
        trusting(&["10.0.0.0/8"]).client(ip("203.0.113.9"), &headers),
        ip("203.0.113.9")
    );
}

#[test]
fn behind_trusted_proxies_the_first_untrusted_entry_from_the_right_is_the_client() {
    let proxies = trusting(&["10.0.0.0/8", "fd00::/8"]);
    // A client's own entries to the left of what the proxies wrote are not believed.
    let headers = forwarded(&["1.2.3.4, 198.51.100.7, 10.1.2.3"]);
    assert_eq!(proxies.client(ip("10.0.0.5"), &headers), ip("198.51.100.7"));
    // One line per proxy, ports and brackets.
    let headers = forwarded(&["1.2.3.4", "[2001:db8::9]:5555", "10.9.9.9:80"]);
    assert_eq!(proxies.client(ip("10.0.0.5"), &headers), ip("2001:db8::9"));
    // No header: the proxy itself.
    assert_eq!(
        proxies.client(ip("10.0.0.5"), &HeaderMap::new()),
        ip("10.0.0.5")
    );
    // Every entry a proxy's: the leftmost.
    let headers = forwarded(&["10.3.3.3, 10.2.2.2"]);
    assert_eq!(proxies.client(ip("10.0.0.5"), &headers), ip("10.3.3.3"));
    // An IPv4-mapped peer (a dual-stack listener) is its IPv4 address.
    let headers = forwarded(&["198.51.100.7"]);
    assert_eq!(
        proxies.client(ip("::ffff:10.0.0.5"), &headers),
        ip("198.51.100.7")
    );
}

#[test]
fn an_entry_that_is_no_address_ends_the_walk_at_the_hop_before_it() {
    let proxies = trusting(&["10.0.0.0/8"]);
    let headers = forwarded(&["198.51.100.7, unknown, 10.1.1.1"]);
    assert_eq!(proxies.client(ip("10.0.0.5"), &headers), ip("10.1.1.1"));
    let headers = forwarded(&["garbage"]);
    assert_eq!(proxies.client(ip("10.0.0.5"), &headers), ip("10.0.0.5"));
}

/// A client's line that is not text does not take the entry the proxy appended to it along:
/// the client is the proxy's entry, not the proxy, nor an address on a line before it.
#[test]
fn a_line_that_is_not_text_keeps_the_entry_a_proxy_appended_to_it() {
    let proxies = trusting(&["10.0.0.0/8"]);
    let mut headers = HeaderMap::new();
    headers.append("x-forwarded-for", HeaderValue::from_static("198.51.100.66"));
    headers.append(
        "x-forwarded-for",
        HeaderValue::from_bytes(b"\xff, 203.0.113.5").unwrap(),
    );
    assert_eq!(proxies.client(ip("10.0.0.5"), &headers), ip("203.0.113.5"));
    // The proxy's entry alone: the entry before it that is not text ends the walk there.
    let mut headers = HeaderMap::new();
    headers.append(
        "x-forwarded-for",
        HeaderValue::from_bytes(b"198.51.100.66, \xff, 10.1.1.1").unwrap(),
    );
    assert_eq!(proxies.client(ip("10.0.0.5"), &headers), ip("10.1.1.1"));
}
