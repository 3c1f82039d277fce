use super::*;
use crate::kafka::protocol::adapter::testing::{check_declaration, request_round_trip};

#[test]
fn asks_for_its_topics_and_never_creates_them() {
    check_declaration::<Metadata>();
    let call = Metadata {
        topics: Some(vec!["a".into(), "b".into()]),
    };
    for version in 1..=9 {
        let r = request_round_trip(&call, version);
        let names: Vec<_> = r
            .topics
            .iter()
            .flatten()
            .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(r.allow_auto_topic_creation, version < 4, "v{version}");
        let all = request_round_trip(&Metadata { topics: None }, version);
        assert!(all.topics.is_none());
    }
}
