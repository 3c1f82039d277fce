//! The relay keeps each key's order: rows behind a missing topic or a failing partition wait
//! for them, and go out in order once they can; the rows of other keys go on meanwhile.
use super::*;

/// Rows for a topic the broker does not know wait, each key behind its first row (they are
/// not skipped, which would publish later rows of the same keys first), while the rows of
/// other topics go on; once the topic exists its rows go out in order.
#[tokio::test]
async fn a_missing_topic_holds_its_own_rows_until_created_and_no_others() {
    let (_dir, store) = store();
    store
        .write(&mut |txn| {
            let rows = [
                ("t", "1"),
                (MISSING_TOPIC, "2"),
                ("t", "3"),
                (MISSING_TOPIC, "4"),
            ];
            for (topic, value) in rows {
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
        [b"1".to_vec(), b"3".to_vec()],
        "the other topic's rows go on"
    );
    assert_eq!(backlog(&store), 2, "the missing topic's rows wait");
    broker
        .created
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while broker.values(0).len() < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            broker.values(0)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        broker.values(0),
        [b"1".to_vec(), b"3".to_vec(), b"2".to_vec(), b"4".to_vec()]
    );
    cancel.cancel();
    relay.await.unwrap();
}

/// `per_key` rows numbered from `first` for each of `keys` keys, interleaved.
fn append_keyed(store: &Arc<dyn Store>, keys: u8, first: u16, per_key: u16) {
    store
        .write(&mut |txn| {
            for i in first..first + per_key {
                for k in 0..keys {
                    let [hi, lo] = i.to_be_bytes();
                    let mut r = row(vec![k, hi, lo]);
                    r.key = Some(vec![b'k', k]);
                    stamp(txn, PRODUCER_ID, &mut r.headers)?;
                    append(txn, &r)?;
                }
            }
            Ok(())
        })
        .unwrap();
}

/// A producer whose records fail 300 ms after they are handed over when their partition does
/// not answer.
fn short_delivery() -> ProducerConfig {
    ProducerConfig {
        delivery_timeout_ms: 300,
        request_timeout_ms: 100,
        retry_backoff_ms: 10,
        retry_backoff_max_ms: 50,
        ..Default::default()
    }
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
    let (cancel, relay, _) = spawn_relay(&store, &broker, short_delivery());
    tokio::time::sleep(Duration::from_millis(800)).await;
    append_keyed(&store, 9, 10, 10);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let others = others(&broker);
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
    let per_key = per_key(&broker);
    assert_eq!(per_key.len(), 9);
    for (k, seen) in &per_key {
        assert_eq!(*seen, (0..20).collect::<Vec<u16>>(), "key {k}");
    }
}

/// The numbers of each key's rows as the broker got them, in order, over 3 partitions.
fn per_key(broker: &MockBroker) -> BTreeMap<u8, Vec<u16>> {
    let mut per_key: BTreeMap<u8, Vec<u16>> = BTreeMap::new();
    for p in 0..3 {
        for v in broker.values(p) {
            per_key
                .entry(v[0])
                .or_default()
                .push(u16::from_be_bytes([v[1], v[2]]));
        }
    }
    per_key
}

/// The rows partitions 0 and 2 (the good ones) got.
fn others(broker: &MockBroker) -> usize {
    broker.values(0).len() + broker.values(2).len()
}

/// Waits until `done` holds, at most `secs` seconds.
async fn wait_for(secs: u64, what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `n` rows of `topic` with values `[tag, i (2 bytes)]`, each under a key of its own (a user
/// each, as analytics rows are).
fn append_tagged(store: &Arc<dyn Store>, topic: &str, tag: u8, n: u16) {
    store
        .write(&mut |txn| {
            for i in 0..n {
                let [hi, lo] = i.to_be_bytes();
                let mut r = row(vec![tag, hi, lo]);
                r.topic = topic.into();
                r.key = Some(format!("user-{i}").into_bytes());
                stamp(txn, PRODUCER_ID, &mut r.headers)?;
                append(txn, &r)?;
            }
            Ok(())
        })
        .unwrap();
}

/// The numbers of the rows tagged `tag` the broker got, in the order it got them.
fn tagged(broker: &MockBroker, tag: u8) -> Vec<u16> {
    (0..3)
        .flat_map(|p| broker.values(p))
        .filter(|v| v[0] == tag)
        .map(|v| u16::from_be_bytes([v[1], v[2]]))
        .collect()
}

/// A topic refused for good (an ACL missing) with more rows waiting than the rounds in flight
/// read (2 × 1,000), each of another user, holds up no other topic: rows committed behind them
/// go out. Once the topic is allowed, its rows go out, all of them, in order.
#[tokio::test]
async fn a_topic_refused_for_thousands_of_rows_holds_up_no_other() {
    let (_dir, store) = store();
    let broker = Arc::new(MockBroker::new(3));
    *broker.refused_topic.lock() = Some("analytics".into());
    append_tagged(&store, "analytics", b'a', 2_500);
    let (cancel, relay, _) = spawn_relay(&store, &broker, short_delivery());
    // Let the relay fail on them a few times, then commit rows of another topic behind them.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    append_tagged(&store, "t", b't', 300);
    wait_for(15, "the other topic's rows behind the refused ones", || {
        tagged(&broker, b't').len() == 300
    })
    .await;
    assert!(tagged(&broker, b'a').is_empty());
    // Their rows deleted once acknowledged: the refused topic's rows wait.
    wait_for(10, "the other topic's rows deleted", || {
        backlog(&store) == 2_500
    })
    .await;
    *broker.refused_topic.lock() = None;
    wait_for(30, "the refused topic's rows", || backlog(&store) == 0).await;
    cancel.cancel();
    relay.await.unwrap();
    let sorted = |mut v: Vec<u16>| {
        v.sort_unstable();
        v
    };
    assert_eq!(
        sorted(tagged(&broker, b'a')),
        (0..2_500).collect::<Vec<_>>()
    );
    assert_eq!(sorted(tagged(&broker, b't')), (0..300).collect::<Vec<_>>());
    // Per partition, each topic's rows arrive in the order they were committed.
    for p in 0..3 {
        for tag in [b'a', b't'] {
            let got: Vec<u16> = broker
                .values(p)
                .iter()
                .filter(|v| v[0] == tag)
                .map(|v| u16::from_be_bytes([v[1], v[2]]))
                .collect();
            assert!(got.is_sorted(), "partition {p}, {}", tag as char);
        }
    }
}

/// The row a refused topic waits for leaves the outbox without the relay (an operator deletes
/// it; an earlier lease holder's delete commits late): the topic's later rows go out once the
/// topic is allowed, rather than being passed over for ever.
#[tokio::test]
async fn a_topic_whose_waiting_row_is_deleted_by_hand_goes_again() {
    let (_dir, store) = store();
    let broker = Arc::new(MockBroker::new(3));
    *broker.refused_topic.lock() = Some("analytics".into());
    append_tagged(&store, "analytics", b'a', 3);
    let (cancel, relay, _) = spawn_relay(&store, &broker, short_delivery());
    // Row 0 fails and its topic waits for it; rows 1 and 2 are passed over.
    tokio::time::sleep(Duration::from_millis(500)).await;
    store
        .write(&mut |txn| txn.delete(Table::Outbox, &0u64.to_be_bytes()).map(drop))
        .unwrap();
    // Any try of row 0 still in flight is refused too.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    *broker.refused_topic.lock() = None;
    wait_for(10, "the rows behind the deleted one", || {
        backlog(&store) == 0
    })
    .await;
    cancel.cancel();
    relay.await.unwrap();
    let mut sent = tagged(&broker, b'a');
    sent.sort_unstable();
    assert_eq!(sent, [1, 2], "the rows behind it, and not the deleted one");
}
