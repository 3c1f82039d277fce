//! Who a request comes from: the connection's peer, or, when the peer is a proxy that
//! `http.trusted_proxies` names (an ingress, a load balancer), the client its
//! `X-Forwarded-For` names. Behind a proxy every connection comes from the proxy, so without
//! this the login throttles would count every client's failures as one source's, and the
//! security alerts would see every login come from the proxy's address.
//!
//! `X-Forwarded-For` is read from the right: each proxy appends the address it was reached
//! from, so the entries a trusted proxy wrote are the rightmost ones, and the first entry from
//! the right that is not a trusted proxy's is the client (what anyone wrote to the left of it
//! is not believed). An entry that is not an address ends the walk at the hop before it. A
//! peer that is not a trusted proxy is the client, whatever it sends.
use std::{net::IpAddr, sync::Arc};

use hyper::header::HeaderMap;
use ipnet::IpNet;

/// Most `X-Forwarded-For` entries read from the right: more trusted proxies than this in a
/// row is not a deployment.
const MAX_HOPS: usize = 32;

/// The address ranges of the proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    ranges: Arc<[IpNet]>,
}

impl TrustedProxies {
    /// Trusting the proxies in `ranges` (none: every peer is its own client).
    pub fn new(ranges: Vec<IpNet>) -> Self {
        Self {
            ranges: ranges.into(),
        }
    }

    /// Whether `ip` is a trusted proxy's address (an IPv4-mapped IPv6 address as its IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.ranges.iter().any(|r| r.contains(&ip))
    }

    /// The client of a request that came over a connection from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        // Entries of every `X-Forwarded-For` line, in order, as bytes: a proxy appends its
        // entry to the line a client sent, so a line is never left out whole (one with bytes
        // that are not text would take the proxy's entry with it); an entry that is not text
        // is not an address, and ends the walk.
        let entries: Vec<&[u8]> = headers
            .get_all("x-forwarded-for")
            .iter()
            .flat_map(|v| v.as_bytes().split(|&b| b == b','))
            .map(<[u8]>::trim_ascii)
            .filter(|e| !e.is_empty())
            .collect();
        let mut client = peer;
        for entry in entries.iter().rev().take(MAX_HOPS) {
            let Some(ip) = std::str::from_utf8(entry).ok().and_then(address) else {
                break;
            };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        client
    }
}

/// The address an `X-Forwarded-For` entry names: `192.0.2.1`, `2001:db8::1`, either with a
/// port (`192.0.2.1:443`, `[2001:db8::1]:443`) or in brackets; `None` for anything else
/// (`unknown`, an obfuscated name).
fn address(entry: &str) -> Option<IpAddr> {
    let ip = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')?
                .strip_suffix(']')?
                .parse::<IpAddr>()
                .ok()
        })?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests;
