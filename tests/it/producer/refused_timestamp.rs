//! A row whose timestamp the broker refuses (INVALID_TIMESTAMP) does not hold its topic for
//! ever. The record's timestamp is the row's commit time; the broker (Nisshi, as Kafka 4)
//! refuses one more than an hour ahead of its clock, which a row written on a host whose clock
//! runs fast carries. The relay sends such a row again without a timestamp (-1), and the rows
//! behind it follow, in order. Before the fix the relay sent it with the same timestamp every
//! second, and no row of its topic after it went out.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use testkit::{Broker, client, create_topic, eventually, outbox_backlog, read_partition};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use usercenter::{
    outbox::{self, OutboxRecord},
    producer::ProducerConfig,
    store::{RedbStore, Store},
};

const TOPIC: &str = "stamped";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_stamped_two_hours_ahead_goes_out_without_a_timestamp_and_in_order() {
    let broker = Broker::memory().await;
    let c = client(&broker.addr).await;
    create_topic(&c, TOPIC, 1).await;
    let data = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(data.path()).unwrap());
    let now = chrono::Utc::now().timestamp_millis();
    let ahead = now + 2 * 3_600_000;
    append(&store, 0, &[now, ahead, now, now]);
    let producer = testkit::producer(&broker.addr, ProducerConfig::default()).await;
    let cancel = CancellationToken::new();
    let wake = Arc::new(Notify::new());
    let relay = tokio::spawn(outbox::relay::run(
        Arc::clone(&store) as Arc<dyn Store>,
        producer,
        Arc::clone(&wake),
        cancel.clone(),
    ));
    drained(&store).await;
    // A row written afterwards goes with its commit time again.
    append(&store, 4, &[now]);
    wake.notify_one();
    drained(&store).await;
    cancel.cancel();
    relay.await.unwrap();
    let records = read_partition(&c, TOPIC, 0).await;
    let values: Vec<String> = records
        .iter()
        .map(|r| String::from_utf8(r.record.value.clone().unwrap()).unwrap())
        .collect();
    assert_eq!(
        values,
        ["0", "1", "2", "3", "4"],
        "every row, in order, once"
    );
    let stamped: Vec<i64> = records
        .iter()
        .map(|r| r.record.timestamp.timestamp_millis())
        .collect();
    assert_eq!(stamped[1], -1, "the refused row went without a timestamp");
    // The rows refused in its batch went without one too; the others kept their commit time.
    for i in [0, 2, 3] {
        assert!(
            stamped[i] == now || stamped[i] == -1,
            "row {i}: {}",
            stamped[i]
        );
    }
    assert_eq!(stamped[4], now, "a later row keeps its commit time");
}

/// Rows `first`, `first + 1`, ... of one key, committed at `stamps` (ms).
fn append(store: &RedbStore, first: usize, stamps: &[i64]) {
    store
        .write(&mut |txn| {
            for (i, created_ms) in stamps.iter().enumerate() {
                let mut headers = BTreeMap::new();
                outbox::stamp(txn, 77, &mut headers)?;
                let row = OutboxRecord {
                    topic: TOPIC.into(),
                    key: Some(b"user-1".to_vec()),
                    value: format!("{}", first + i).into_bytes(),
                    headers,
                    created_ms: *created_ms,
                };
                outbox::append(txn, &row)?;
            }
            Ok(())
        })
        .unwrap();
}

/// Waits until the outbox is empty; fails after 30 s.
async fn drained(store: &RedbStore) {
    eventually(Duration::from_secs(30), "the outbox drained", || {
        outbox_backlog(store) == 0
    })
    .await;
}
