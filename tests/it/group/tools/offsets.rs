//! The group's offsets read back: from the broker (OffsetFetch), by librdkafka, and from the
//! service's store, with the store's dedupe marks.
use testkit::{peer_python, protocol::kafka_client};
use usercenter::{
    consumer::process::offset_key,
    kafka::{Purpose, protocol::OffsetFetch},
    store::{self, RedbStore, StoreExt, Table},
};

use super::{GROUP, TOPIC};

/// The group's committed offsets on the broker, by partition (none where it has none).
pub(super) async fn committed(broker: &str) -> Vec<(i32, i64)> {
    let conn = kafka_client(broker).any(Purpose::Admin).await.unwrap();
    let answer = conn
        .call(&OffsetFetch {
            group_id: GROUP.into(),
            topics: Some(vec![(TOPIC.into(), vec![0, 1, 2])]),
            require_stable: false,
        })
        .await
        .unwrap();
    let mut got: Vec<(i32, i64)> = OffsetFetch::offsets(&answer.body, answer.version)
        .unwrap()
        .iter()
        .filter(|o| o.offset >= 0)
        .map(|o| (o.partition, o.offset))
        .collect();
    got.sort();
    got
}

/// librdkafka's `committed()` for partitions 0..3 of the topic.
pub(super) fn committed_by_librdkafka(broker: &str) -> Vec<i64> {
    let script = format!(
        "import json\nfrom confluent_kafka import Consumer, TopicPartition\n\
         c = Consumer({{'bootstrap.servers': '{broker}', 'group.id': '{GROUP}'}})\n\
         tps = c.committed([TopicPartition('{TOPIC}', p) for p in range(3)], timeout=20)\n\
         print(json.dumps([tp.offset for tp in tps]))\nc.close()\n"
    );
    let out = std::process::Command::new(peer_python())
        .args(["-c", &script])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// The offset the store holds for `partition`.
pub(super) fn stored(store: &RedbStore, partition: i32) -> Option<i64> {
    store
        .read_with(|txn| store::get::<i64>(txn, Table::Offsets, &offset_key(TOPIC, partition)))
        .unwrap()
}

/// The store's dedupe marks.
pub(super) fn marks(store: &RedbStore) -> u64 {
    store.read_with(|txn| txn.count(Table::Dedupe)).unwrap()
}
