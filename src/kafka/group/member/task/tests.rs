use super::*;
use crate::kafka::group::assign;

fn offering(names: &[&str]) -> MemberConfig {
    MemberConfig {
        group_id: "g".into(),
        topic: "t".into(),
        session_timeout: Duration::from_secs(10),
        rebalance_timeout: Duration::from_secs(30),
        heartbeat_interval: Duration::from_secs(3),
        assignors: names.iter().map(|n| assign::by_name(n).unwrap()).collect(),
        group_instance_id: None,
        metadata_refresh: Duration::from_secs(30),
    }
}

#[test]
fn a_member_is_cooperative_only_when_everything_it_offers_is() {
    use RebalanceProtocol::{Cooperative, Eager};
    let cases = [
        (&["cooperative-sticky"][..], Cooperative, Cooperative),
        (
            &["cooperative-sticky", "roundrobin"][..],
            Cooperative,
            Eager,
        ),
        (&["cooperative-sticky", "range"][..], Cooperative, Eager),
        (&["range", "cooperative-sticky"][..], Eager, Eager),
        (&["roundrobin"][..], Eager, Eager),
    ];
    for (names, chosen, follows) in cases {
        assert_eq!(followed(&offering(names), chosen), follows, "{names:?}");
    }
}
