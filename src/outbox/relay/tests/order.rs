//! The relay keeps each key's order: rows behind a missing topic or a failing partition wait
//! for them, and go out in order once they can.
use super::*;

/// Rows for a topic the broker does not know hold back every row behind them (they are not
/// skipped, which would publish later rows of the same keys first) until the topic exists;
/// then everything goes out in order.
#[tokio::test]
async fn a_missing_topic_holds_the_rows_behind_it_until_created() {
    let (_dir, store) = store();
    store
        .write(&mut |txn| {
            for (topic, value) in [("t", "1"), (MISSING_TOPIC, "2"), ("t", "3")] {
                let mut r = row(value.as_bytes().to_vec());
                r.topic = topic.into();
                stamp(txn, PRODUCER_ID, &mut r.headers)?;
                append(txn, &r)?;
            }
            Ok(())
        })
        .unwrap();
    let broker = Arc::new(MockBroker::new(1));
    let (cancel, relay, _) = spawn_relay(&store, &broker, ProducerConfig::default());
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        broker.values(0),
        [b"1".to_vec()],
        "nothing past the missing topic"
    );
    let mut left = 0;
    store
        .read(&mut |txn| {
            left = txn.count(Table::Outbox)?;
            Ok(())
        })
        .unwrap();
    assert_eq!(
        left, 2,
        "the missing topic's row and the one behind it wait"
    );
    broker
        .created
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while broker.values(0).len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            broker.values(0)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        broker.values(0),
        [b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]
    );
    cancel.cancel();
    relay.await.unwrap();
}

/// `per_key` rows numbered from `first` for each of `keys` keys, interleaved.
fn append_keyed(store: &Arc<dyn Store>, keys: u8, first: u8, per_key: u8) {
    store
        .write(&mut |txn| {
            for i in first..first + per_key {
                for k in 0..keys {
                    let mut r = row(vec![k, i]);
                    r.key = Some(vec![b'k', k]);
                    stamp(txn, PRODUCER_ID, &mut r.headers)?;
                    append(txn, &r)?;
                }
            }
            Ok(())
        })
        .unwrap();
}

/// One partition failing for longer than the delivery timeout while the others deliver (a
/// round with a mixed outcome): the others go on, and every key's rows arrive complete and
/// in order once the failing partition is back.
#[tokio::test]
async fn one_failing_partition_among_good_ones_keeps_every_keys_order() {
    let (_dir, store) = store();
    let broker = Arc::new(MockBroker::new(3));
    *broker.failing_partition.lock() = Some(1);
    append_keyed(&store, 9, 0, 10);
    let config = ProducerConfig {
        delivery_timeout_ms: 300,
        request_timeout_ms: 100,
        retry_backoff_ms: 10,
        retry_backoff_max_ms: 50,
        ..Default::default()
    };
    let (cancel, relay, _) = spawn_relay(&store, &broker, config);
    tokio::time::sleep(Duration::from_millis(800)).await;
    append_keyed(&store, 9, 10, 10);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let others = broker.values(0).len() + broker.values(2).len();
    assert!(
        others > 0,
        "the good partitions delivered during the failure"
    );
    assert!(broker.values(1).is_empty());
    *broker.failing_partition.lock() = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while (0..3).map(|p| broker.values(p).len()).sum::<usize>() < 180 {
        assert!(std::time::Instant::now() < deadline, "not all delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cancel.cancel();
    relay.await.unwrap();
    assert!(
        !broker.values(1).is_empty(),
        "some keys live on the failing partition"
    );
    let mut per_key: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
    for p in 0..3 {
        for v in broker.values(p) {
            per_key.entry(v[0]).or_default().push(v[1]);
        }
    }
    assert_eq!(per_key.len(), 9);
    for (k, seen) in &per_key {
        assert_eq!(*seen, (0..20).collect::<Vec<u8>>(), "key {k}");
    }
}
