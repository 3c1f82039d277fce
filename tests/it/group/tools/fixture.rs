//! What the scenario starts from: 10 events on partition 0 and 5 on partition 1 of a 3-partition
//! topic, the group's offsets 7 and 5 committed on the broker, and a store that handled the
//! same records; and a member that joins the group and holds every partition.
use rskafka::client::partition::{Compression, UnknownTopicHandling};
use tempfile::TempDir;
use testkit::{client, create_topic, event, protocol::kafka_client};
use usercenter::{
    consumer::{
        process::{dedupe_key, offset_key},
        prune,
    },
    kafka::{
        Purpose,
        error_code::{ErrorCode, ResponseError},
        group::assign::{RebalanceProtocol, Subscription, encode_assignment, encode_subscription},
        protocol::{CommittedOffset, JoinGroup, OffsetCommit, SyncGroup},
    },
    store::{self, RedbStore, StoreExt, Table},
};

use super::{GROUP, TOPIC, offsets::marks};

/// The topic, its records, the group's offsets and the store's (returned: its directory).
pub(super) async fn seed(b: &str) -> TempDir {
    let client = client(b).await;
    create_topic(&client, TOPIC, 3).await;
    // 10 events on partition 0, 5 on partition 1, none on 2.
    let mut headers_of = Vec::new();
    for (partition, range) in [(0, 0..10u64), (1, 10..15)] {
        let pc = client
            .partition_client(TOPIC, partition, UnknownTopicHandling::Retry)
            .await
            .unwrap();
        let records: Vec<rskafka::record::Record> = range
            .map(|i| {
                let mut enc = event(i)
                    .encode(usercenter::event::ContentType::Postcard)
                    .unwrap();
                // Partition 0's records carry an outbox identity (producer 42, sequence i) too:
                // the consumer dedupes them by their event id all the same.
                if partition == 0 {
                    usercenter::event::set_identity(&mut enc.headers, 42, i);
                }
                headers_of.push((partition, enc.headers.clone()));
                rskafka::record::Record {
                    key: Some(enc.key),
                    value: Some(enc.value),
                    headers: enc.headers,
                    timestamp: chrono::Utc::now(),
                }
            })
            .collect();
        pc.produce(records, Compression::NoCompression)
            .await
            .unwrap();
    }
    // The group committed 7 on partition 0 and 5 on partition 1 (as an admin: no members).
    let conn = kafka_client(b).any(Purpose::Admin).await.unwrap();
    let offset = |partition, offset| CommittedOffset {
        topic: TOPIC.into(),
        partition,
        offset,
        metadata: None,
        error_code: ErrorCode::NONE,
    };
    let commit = conn
        .call(&OffsetCommit {
            group_id: GROUP.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
            offsets: vec![offset(0, 7), offset(1, 5)],
        })
        .await
        .unwrap();
    assert!(
        commit.body.topics[0]
            .partitions
            .iter()
            .all(|p| p.error_code == 0)
    );
    // The service's store: it handled the first 7 of partition 0 and all 5 of partition 1.
    let data = tempfile::tempdir().unwrap();
    {
        let store = RedbStore::open(data.path()).unwrap();
        store
            .write_with(|txn| {
                store::put(txn, Table::Offsets, &offset_key(TOPIC, 0), &7i64)?;
                store::put(txn, Table::Offsets, &offset_key(TOPIC, 1), &5i64)?;
                for (i, (partition, headers)) in headers_of.iter().enumerate() {
                    if *partition == 1 || i < 7 {
                        prune::mark(txn, &dedupe_key(headers).unwrap(), 1, None)?;
                    }
                }
                Ok::<_, store::StoreError>(())
            })
            .unwrap();
        assert_eq!(marks(&store), 12);
    }
    data
}

/// Joins the group as its sole member, with every partition assigned; the member id.
pub(super) async fn join_sole_member(b: &str) -> String {
    let coordinator = kafka_client(b).any(Purpose::Admin).await.unwrap();
    let subscription = encode_subscription(
        &Subscription {
            topics: vec![TOPIC.into()],
            generation: -1,
            ..Subscription::default()
        },
        RebalanceProtocol::Eager,
    )
    .unwrap();
    let mut join = JoinGroup {
        group_id: GROUP.into(),
        session_timeout_ms: 60_000,
        rebalance_timeout_ms: 60_000,
        member_id: String::new(),
        group_instance_id: None,
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), subscription)],
        reason: None,
    };
    let mut joined = coordinator.call(&join).await.unwrap();
    if ErrorCode::new(joined.body.error_code).error() == Some(ResponseError::MemberIdRequired) {
        join.member_id = joined.body.member_id.to_string();
        joined = coordinator.call(&join).await.unwrap();
    }
    assert_eq!(joined.body.error_code, 0);
    let member = joined.body.member_id.to_string();
    let all = std::collections::BTreeMap::from([(TOPIC.to_owned(), vec![0, 1, 2])]);
    let synced = coordinator
        .call(&SyncGroup {
            group_id: GROUP.into(),
            generation_id: joined.body.generation_id,
            member_id: member.clone(),
            group_instance_id: None,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignments: vec![(member.clone(), encode_assignment(&all).unwrap())],
        })
        .await
        .unwrap();
    assert_eq!(synced.body.error_code, 0);
    member
}
