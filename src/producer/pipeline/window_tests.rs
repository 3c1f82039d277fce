//! The in-flight window against the mock broker, which checks sequences as a broker does and
//! answers after a latency, so that requests are in flight together.
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use crate::producer::{
    DeliveryFuture, ProduceError, Producer, ProducerConfig, ProducerRecord, mock::MockBroker,
};

static SEQ: AtomicU64 = AtomicU64::new(0);

fn rec(key: &str, value: String) -> ProducerRecord {
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    ProducerRecord::new("t", Some(key.as_bytes().to_vec()), value.into_bytes())
        .with_identity(42, seq)
}

fn pipelined(broker_limit: usize) -> Arc<MockBroker> {
    Arc::new(MockBroker {
        partitions: 1,
        pipeline: 5,
        broker_limit,
        latency: Duration::from_millis(1),
        ..Default::default()
    })
}

/// A producer closing batches at `max_records`.
pub(super) fn producer(m: &Arc<MockBroker>, max_records: usize) -> Producer {
    let config = ProducerConfig {
        batch_max_records: max_records,
        ..ProducerConfig::default()
    };
    Producer::new(Arc::clone(m) as _, config)
}

fn values(m: &MockBroker) -> Vec<String> {
    m.values(0)
        .into_iter()
        .map(|v| String::from_utf8(v).unwrap())
        .collect()
}

/// Enqueues a record of key `k` per value, in order; their reports.
async fn enqueue_all(
    p: &Producer,
    values: impl IntoIterator<Item = String>,
) -> Vec<DeliveryFuture> {
    let mut deliveries = Vec::new();
    for value in values {
        deliveries.push(p.enqueue(rec("k", value)).await.unwrap());
    }
    deliveries
}

async fn enqueue_numbered(p: &Producer, range: std::ops::Range<usize>) -> Vec<DeliveryFuture> {
    enqueue_all(p, numbered(range)).await
}

fn numbered(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| i.to_string()).collect()
}

#[tokio::test(start_paused = true)]
async fn batches_in_flight_together_land_in_queue_order() {
    let m = pipelined(0);
    let p = producer(&m, 3);
    let deliveries = enqueue_numbered(&p, 0..40).await;
    for (i, d) in deliveries.into_iter().enumerate() {
        assert_eq!(d.await.unwrap().offset, i as i64);
    }
    assert_eq!(values(&m), numbered(0..40));
    assert!(
        m.attempts.load(Ordering::SeqCst) >= 14,
        "batches of at most 3"
    );
}

/// Never more requests in flight than the transport allows (at most 5), and only one without
/// a producer id. (Before the first acknowledgement of an identity the window is one request:
/// `fresh_identity_tests`.)
#[tokio::test(start_paused = true)]
async fn the_window_holds_at_most_max_in_flight_requests() {
    for (pipeline, window) in [(0, 1), (1, 1), (3, 3), (5, 5), (7, 5)] {
        let m = Arc::new(MockBroker {
            partitions: 1,
            pipeline,
            ..Default::default()
        });
        let p = producer(&m, 1);
        p.send(rec("k", "first".into())).await.unwrap();
        m.stall.store(true, Ordering::SeqCst);
        let deliveries = enqueue_numbered(&p, 0..10).await;
        // Well within the 30 s request timeout: what was sent is still in flight.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            m.attempts.load(Ordering::SeqCst),
            1 + window,
            "pipeline {pipeline}"
        );
        m.stall.store(false, Ordering::SeqCst);
        for d in deliveries {
            d.await.unwrap();
        }
        let mut expected = vec!["first".to_owned()];
        expected.extend(numbered(0..10));
        assert_eq!(values(&m), expected, "pipeline {pipeline}");
    }
}

/// A request of a full window lost: the ones behind it come back out of order, and all of
/// them go again in order with their sequences unchanged (no renewal, nothing twice).
#[tokio::test(start_paused = true)]
async fn a_lost_request_in_a_full_window_is_resent_in_order_unchanged() {
    let m = pipelined(0);
    let p = producer(&m, 1);
    // The first acknowledgement opens the window.
    p.send(rec("k", "0".into())).await.unwrap();
    m.fail_first.store(1, Ordering::SeqCst);
    let deliveries = enqueue_numbered(&p, 1..20).await;
    for d in deliveries {
        d.await.unwrap();
    }
    assert_eq!(values(&m), numbered(0..20));
    assert_eq!(m.renewals.load(Ordering::SeqCst), 0, "sequences kept");
    assert!(
        p.metrics().retries.get() >= 2,
        "the window behind it went again"
    );
}

/// A broker that forgot our producer (Nisshi restarted on memory storage) and expects sequence
/// 0 from a producer it does not know answers the next batch out of order: the identity is
/// renewed, the batches renumbered from 0 and written in order.
#[tokio::test(start_paused = true)]
async fn a_broker_that_forgot_the_producer_gets_the_batches_renumbered() {
    let m = Arc::new(MockBroker {
        strict_sequences: true,
        ..Arc::into_inner(pipelined(0)).unwrap()
    });
    let p = producer(&m, 2);
    for d in enqueue_numbered(&p, 0..10).await {
        d.await.unwrap();
    }
    m.forget_producers();
    for d in enqueue_numbered(&p, 10..30).await {
        d.await.unwrap();
    }
    assert_eq!(values(&m), numbered(0..30));
    assert_eq!(m.renewals.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_batch_the_broker_finds_too_large_is_split_in_order() {
    // The broker takes at most ~2 records of 200 bytes per batch; ours closes at 10.
    let m = pipelined(600);
    let p = producer(&m, 10);
    let expected: Vec<String> = (0..30).map(|i| format!("{i:0>200}")).collect();
    for d in enqueue_all(&p, expected.clone()).await {
        d.await.unwrap();
    }
    assert_eq!(values(&m), expected);
    assert!(p.metrics().splits.get() >= 3);
}

/// Records too large for the broker, each alone, in a full window fail alone; the batches
/// behind them land in order, under a renewed identity (not renumbered over their sequences
/// under the old one: see the pipeline's module docs), renewed once for both.
#[tokio::test(start_paused = true)]
async fn records_too_large_alone_in_a_full_window_block_nothing() {
    let m = pipelined(600);
    let p = producer(&m, 1);
    let mut values_sent = numbered(0..12);
    values_sent[4] = "x".repeat(1_000);
    values_sent[5] = "y".repeat(1_000);
    let too_large = |i: usize| i == 4 || i == 5;
    for (i, d) in enqueue_all(&p, values_sent).await.into_iter().enumerate() {
        match d.await {
            Err(ProduceError::RecordTooLarge { .. }) if too_large(i) => {}
            Ok(_) if !too_large(i) => {}
            other => panic!("record {i}: {other:?}"),
        }
    }
    let expected: Vec<String> = (0..12)
        .filter(|i| !too_large(*i))
        .map(|i| i.to_string())
        .collect();
    assert_eq!(values(&m), expected);
    assert_eq!(m.renewals.load(Ordering::SeqCst), 1, "renewed once");
}

/// A record too large alone behind a batch the broker wrote but whose answer was lost: that
/// batch goes again first on its own sequence (a duplicate the broker drops), the record fails
/// after it, and only the batches behind it are renumbered under a renewed identity: nothing
/// is written twice.
#[tokio::test(start_paused = true)]
async fn a_record_too_large_behind_a_batch_whose_answer_was_lost_writes_nothing_twice() {
    let m = pipelined(600);
    *m.lose_answer.lock() = Some(b"1".to_vec());
    let p = producer(&m, 1);
    // The first acknowledgement opens the window.
    p.send(rec("k", "0".into())).await.unwrap();
    let mut values_sent = numbered(1..6);
    values_sent[1] = "x".repeat(1_000);
    for (i, d) in enqueue_all(&p, values_sent).await.into_iter().enumerate() {
        match d.await {
            Err(ProduceError::RecordTooLarge { .. }) if i == 1 => {}
            Ok(_) if i != 1 => {}
            other => panic!("record {}: {other:?}", i + 1),
        }
    }
    assert_eq!(values(&m), ["0", "1", "3", "4", "5"]);
    assert_eq!(m.renewals.load(Ordering::SeqCst), 1, "renewed once");
}

/// While the identity cannot be renewed (after a batch expired in an outage), a batch queued
/// behind fails at its own deadline: no new batch is taken until the renewal succeeds, and a
/// renewal that keeps failing must not hold its caller.
#[tokio::test(start_paused = true)]
async fn a_batch_queued_while_renewals_fail_times_out() {
    let m = pipelined(0);
    m.stall.store(true, Ordering::SeqCst);
    m.refuse_renewals.store(true, Ordering::SeqCst);
    let config = ProducerConfig {
        batch_max_records: 1,
        delivery_timeout_ms: 2_000,
        request_timeout_ms: 500,
        ..ProducerConfig::default()
    };
    let p = Producer::new(Arc::clone(&m) as _, config);
    let first = p.enqueue(rec("k", "a".into())).await.unwrap();
    let failed = first.await;
    assert!(
        matches!(failed, Err(ProduceError::Timeout { .. })),
        "{failed:?}"
    );
    let second = p.enqueue(rec("k", "b".into())).await.unwrap();
    let after = tokio::time::timeout(Duration::from_secs(60), second).await;
    assert!(
        matches!(after, Ok(Err(ProduceError::Timeout { .. }))),
        "{after:?}"
    );
}
