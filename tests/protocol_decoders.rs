//! The response decoders src/kafka/protocol adds, fed mutated answers (a stand-in for the
//! cargo-fuzz targets fuzz/fuzz_targets/response_*.rs that runs with the suite).
use bytes::Bytes;
use usercenter::kafka::protocol::{
    DescribeGroups, FindCoordinator, Heartbeat, JoinGroup, LeaveGroup, ListGroups, OffsetCommit,
    OffsetFetch, SyncGroup,
};

// The service's allocator: see the test's comment.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A deterministic stand-in for the fuzz targets that runs with the suite: valid answers of
/// every response type we decode, encoded at every version we declare, then mutated (byte
/// flips, truncations, insertions, random 32-bit words where counts live) 2,000 times each.
/// Decoding must give Ok or Err, never panic. With mimalloc, as in the service: kafka-protocol
/// reserves count x element size before checking the bytes (see src/kafka/protocol/adapter.rs),
/// which the system allocator would answer with an abort.
#[test]
fn decoders_survive_mutated_answers() {
    use kafka_protocol::{
        messages::{
            DescribeGroupsResponse, FindCoordinatorResponse, HeartbeatResponse,
            InitProducerIdResponse, JoinGroupResponse, LeaveGroupResponse, ListGroupsResponse,
            OffsetCommitResponse, OffsetFetchResponse, SyncGroupResponse,
            describe_groups_response::{DescribedGroup, DescribedGroupMember},
            join_group_response::JoinGroupResponseMember,
            list_groups_response::ListedGroup,
        },
        protocol::{Encodable, StrBytes},
    };
    use usercenter::kafka::protocol::{Call, InitProducerId, decode_response};

    fn smoke<C: Call>(samples: &[C::Response]) -> usize
    where
        C::Response: Encodable,
    {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut decoded = 0;
        for version in C::VERSIONS.0..=C::VERSIONS.1 {
            for sample in samples {
                let mut base = Vec::new();
                if sample.encode(&mut base, version).is_err() {
                    continue; // a field this version lacks
                }
                assert!(
                    decode_response::<C>(&base, version).is_ok(),
                    "{:?} v{version}",
                    C::KEY
                );
                decoded += 1;
                for _ in 0..2_000 {
                    let mut bytes = base.clone();
                    let at = next() as usize % (bytes.len() + 1);
                    match next() % 4 {
                        0 if at < bytes.len() => bytes[at] ^= 1 << (next() % 8),
                        1 => bytes.truncate(at),
                        2 => bytes.insert(at, next() as u8),
                        _ => {
                            let word = (next() as u32).to_be_bytes();
                            for (i, b) in word.iter().enumerate() {
                                if let Some(slot) = bytes.get_mut(at + i) {
                                    *slot = *b;
                                }
                            }
                        }
                    }
                    let _ = decode_response::<C>(&bytes, version);
                }
            }
        }
        decoded
    }
    let text = StrBytes::from_static_str;
    let member = JoinGroupResponseMember::default()
        .with_member_id(text("m"))
        .with_metadata(Bytes::from_static(b"meta"));
    let described = DescribedGroup::default()
        .with_group_id(group_id("g"))
        .with_group_state(text("Stable"))
        .with_members(vec![
            DescribedGroupMember::default().with_member_id(text("m")),
        ]);
    let mut decoded = 0;
    decoded +=
        smoke::<InitProducerId>(&[InitProducerIdResponse::default().with_producer_id(7.into())]);
    decoded += smoke::<FindCoordinator>(&[
        FindCoordinatorResponse::default()
            .with_host(text("h"))
            .with_port(9092),
        FindCoordinatorResponse::default().with_coordinators(vec![Default::default()]),
    ]);
    decoded += smoke::<JoinGroup>(&[JoinGroupResponse::default().with_members(vec![member])]);
    decoded += smoke::<SyncGroup>(&[
        SyncGroupResponse::default().with_assignment(Bytes::from_static(b"a"))
    ]);
    decoded += smoke::<Heartbeat>(&[HeartbeatResponse::default().with_error_code(27)]);
    decoded += smoke::<LeaveGroup>(&[
        LeaveGroupResponse::default(),
        LeaveGroupResponse::default().with_members(vec![Default::default()]),
    ]);
    decoded += smoke::<OffsetCommit>(&[
        OffsetCommitResponse::default().with_topics(vec![Default::default()])
    ]);
    decoded += smoke::<OffsetFetch>(&[
        OffsetFetchResponse::default().with_topics(vec![Default::default()]),
        OffsetFetchResponse::default().with_groups(vec![Default::default()]),
    ]);
    decoded +=
        smoke::<DescribeGroups>(&[DescribeGroupsResponse::default().with_groups(vec![described])]);
    decoded += smoke::<ListGroups>(&[ListGroupsResponse::default()
        .with_groups(vec![ListedGroup::default().with_group_id(group_id("g"))])]);
    // Every type had samples at most of its versions.
    assert!(decoded >= 60, "{decoded} encodings");
}

fn group_id(id: &'static str) -> kafka_protocol::messages::GroupId {
    kafka_protocol::messages::GroupId(kafka_protocol::protocol::StrBytes::from_static_str(id))
}
