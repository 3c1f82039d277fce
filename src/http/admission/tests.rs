use std::net::{IpAddr, Ipv4Addr};

use super::*;

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

#[test]
fn one_address_gets_at_most_its_share() {
    let admission = Admission::new(ConnectionLimits {
        max_connections: 10,
        max_per_client: 2,
        send_timeout: Duration::from_secs(30),
        header_timeout: Duration::from_secs(30),
    });
    let a = admission.admit(ip(2)).unwrap();
    let _b = admission.admit(ip(2)).unwrap();
    assert_eq!(admission.admit(ip(2)).unwrap_err(), Refusal::ClientFull);
    // Another address still gets in; a freed slot is the first address's again.
    let _c = admission.admit(ip(3)).unwrap();
    drop(a);
    assert!(admission.admit(ip(2)).is_ok());
}

#[test]
fn past_the_total_every_address_is_refused_until_a_slot_frees() {
    let admission = Admission::new(ConnectionLimits {
        max_connections: 2,
        max_per_client: 2,
        send_timeout: Duration::from_secs(30),
        header_timeout: Duration::from_secs(30),
    });
    let a = admission.admit(ip(2)).unwrap();
    let _b = admission.admit(ip(3)).unwrap();
    assert_eq!(admission.admit(ip(4)).unwrap_err(), Refusal::Full);
    drop(a);
    let _d = admission.admit(ip(4)).unwrap();
    // Refused and finished addresses leave no counters behind.
    let mut held: Vec<IpAddr> = admission.per_client.clients();
    held.sort();
    assert_eq!(held, [ip(3), ip(4)]);
}

#[test]
fn the_refusal_is_a_complete_503_with_retry_after() {
    let text = refusal_response(Refusal::Full);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 503 "));
    assert!(head.contains("\r\nretry-after: 1\r\n"));
    assert!(head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())));
    let parsed: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(parsed["error"]["code"], "server_busy");
}

#[test]
fn an_ipv6_client_gets_one_share_for_its_whole_64() {
    let admission = Admission::new(ConnectionLimits {
        max_connections: 16,
        max_per_client: 2,
        send_timeout: Duration::from_secs(30),
        header_timeout: Duration::from_secs(30),
    });
    let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
    let _a = admission.admit(v6("2001:db8:0:1::1")).unwrap();
    let _b = admission.admit(v6("2001:db8:0:1::2")).unwrap();
    assert_eq!(
        admission.admit(v6("2001:db8:0:1:ffff::9")).unwrap_err(),
        Refusal::ClientFull,
        "the same /64"
    );
    assert!(
        admission.admit(v6("2001:db8:0:2::1")).is_ok(),
        "another /64"
    );
}

/// 16 /64s of one /48 would take every slot at the defaults (1,024, 64 each); the site holds
/// a quarter of them.
#[test]
fn the_64s_of_one_ipv6_site_share_a_quarter_of_the_slots() {
    let limits = ConnectionLimits {
        max_connections: 16,
        max_per_client: 2,
        send_timeout: Duration::from_secs(30),
        header_timeout: Duration::from_secs(30),
    };
    assert_eq!(site_share(&limits), 4);
    let admission = Admission::new(limits);
    let v6 = |s: String| s.parse::<IpAddr>().unwrap();
    let mut held: Vec<Slot> = (1..=2)
        .flat_map(|net| [1, 2].map(|host| v6(format!("2001:db8:7:{net}::{host}"))))
        .map(|ip| admission.admit(ip).unwrap())
        .collect();
    assert_eq!(
        admission.admit(v6("2001:db8:7:3::1".into())).unwrap_err(),
        Refusal::ClientFull,
        "a third /64 of the same /48"
    );
    // The refusal counted nothing: the third /64 holds no share, the site still four.
    assert_eq!(admission.per_client.clients().len(), 2);
    let _other_site = admission.admit(v6("2001:db8:8:1::1".into())).unwrap();
    held.pop();
    let _again = admission.admit(v6("2001:db8:7:3::1".into())).unwrap();
    // IPv4: the address is its own site, held to its share.
    let _v4 = [
        admission.admit(ip(2)).unwrap(),
        admission.admit(ip(2)).unwrap(),
    ];
    assert_eq!(admission.admit(ip(2)).unwrap_err(), Refusal::ClientFull);
}
