//! A partition whose leader holds no state for the producer identity (right after
//! InitProducerId, after a renewal, after the partition idled past the broker's
//! `producer.id.expiration.ms`) takes any first sequence from it (Kafka 2.5+, the mock's
//! default): the pipeline sends one request at a time there until the first acknowledgement, so
//! that a first batch refused for a reason of its own is never overtaken by the one behind it.
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::time::Instant;

use super::{
    answer::DAMAGED_RESENDS,
    window::{IDLE_BOUND, Window},
    window_tests::producer,
};
use crate::{
    kafka::error_code::ResponseError,
    producer::{DeliveryFuture, ProduceError, Producer, ProducerRecord, mock::MockBroker},
};

/// The window's own rule, without a pipeline around it.
#[tokio::test(start_paused = true)]
async fn one_request_until_acknowledged_and_again_after_a_renewal_or_the_bound() {
    let mut window = Window::new(5);
    assert_eq!(window.size(), 1, "nothing acknowledged");
    window.acknowledged(Instant::now());
    assert_eq!(window.size(), 5);
    // An older request answered late does not make the state look older.
    window.acknowledged(Instant::now() - Duration::from_secs(60));
    tokio::time::advance(IDLE_BOUND - Duration::from_secs(1)).await;
    assert_eq!(window.size(), 5, "within the bound");
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(window.size(), 1, "idle for the bound");
    window.acknowledged(Instant::now());
    assert_eq!(window.size(), 5);
    window.renewed();
    assert_eq!(window.size(), 1, "renewed");
    assert_eq!(Window::new(1).size(), 1);
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A broker with the idempotent pipeline (five in flight), answering after 1 ms, that refuses
/// batches of more than two records and batches over 600 bytes as too large.
fn broker() -> Arc<MockBroker> {
    Arc::new(MockBroker {
        partitions: 1,
        pipeline: 5,
        record_limit: 2,
        broker_limit: 600,
        latency: Duration::from_millis(1),
        ..Default::default()
    })
}

fn rec(value: &str) -> ProducerRecord {
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    ProducerRecord::new("t", Some(b"k".to_vec()), value.as_bytes().to_vec()).with_identity(9, seq)
}

/// Enqueues one record per value, in order (one key, one partition); their reports.
async fn enqueue(p: &Producer, values: &[&str]) -> Vec<DeliveryFuture> {
    let mut reports = Vec::new();
    for v in values {
        reports.push(p.enqueue(rec(v)).await.unwrap());
    }
    reports
}

/// Waits for every report; each must be delivered, at an offset (not a duplicate's −1).
async fn delivered(reports: Vec<DeliveryFuture>) {
    for (i, r) in reports.into_iter().enumerate() {
        let d = r.await.unwrap_or_else(|e| panic!("record {i}: {e}"));
        assert!(
            d.offset >= 0,
            "record {i} answered as a duplicate: never written"
        );
    }
}

fn logged(m: &MockBroker) -> Vec<String> {
    m.values(0)
        .into_iter()
        .map(|v| String::from_utf8(v).unwrap())
        .collect()
}

/// Sends a record too large for the broker alone: it fails, and its sequence is a gap, so the
/// pipeline renews the identity (a new producer id, unknown to the partition) before the next
/// batch it takes.
async fn leave_a_gap(p: &Producer) {
    let refused = p.send(rec(&"x".repeat(1_000))).await;
    assert!(
        matches!(refused, Err(ProduceError::RecordTooLarge { .. })),
        "{refused:?}"
    );
}

/// The first batch of a fresh identity is refused as too large while the next one is queued:
/// its halves land first. With both in flight at once the second was written first (any
/// sequence goes); then this mock answered the halves as duplicates, never writing them, where
/// Kafka answers them out of order and they land behind it under a renewed identity.
#[tokio::test(start_paused = true)]
async fn a_first_batch_refused_too_large_lands_before_the_one_behind_it() {
    let m = broker();
    let p = producer(&m, 4);
    let values = ["0", "1", "2", "3", "4", "5"];
    delivered(enqueue(&p, &values).await).await;
    assert_eq!(logged(&m), values);
    assert!(p.metrics().splits.get() >= 1);
}

/// The first batch of a fresh identity arrives damaged (CORRUPT_MESSAGE) while the next one is
/// queued: it is sent again, intact, and lands first.
#[tokio::test(start_paused = true)]
async fn a_first_batch_damaged_on_the_way_is_resent_and_lands_first() {
    let m = broker();
    *m.damage.lock() = Some((b"0".to_vec(), 1));
    let p = producer(&m, 2);
    let values = ["0", "1", "2", "3"];
    delivered(enqueue(&p, &values).await).await;
    assert_eq!(logged(&m), values);
}

/// The first request of a fresh identity is lost on the way (a lost connection, no answer in
/// time, or dropped unwritten by the produce lane at its deadline) while the batches behind it
/// are queued: it is resent and lands first.
#[tokio::test(start_paused = true)]
async fn a_first_request_lost_on_the_way_lands_before_the_ones_behind_it() {
    let m = broker();
    m.fail_first.store(1, Ordering::SeqCst);
    let p = producer(&m, 1);
    let values = ["0", "1", "2", "3", "4", "5", "6"];
    delivered(enqueue(&p, &values).await).await;
    assert_eq!(logged(&m), values);
}

/// After a renewal (a new producer id, which the partition knows nothing of) the first batch
/// is refused as too large while the next one is queued: still in order.
#[tokio::test(start_paused = true)]
async fn after_a_renewal_a_first_batch_refused_too_large_lands_before_the_one_behind_it() {
    let m = broker();
    let p = producer(&m, 4);
    p.send(rec("before")).await.unwrap();
    leave_a_gap(&p).await;
    let values = ["0", "1", "2", "3", "4", "5"];
    delivered(enqueue(&p, &values).await).await;
    assert_eq!(m.renewals.load(Ordering::SeqCst), 1);
    let mut expected = vec!["before"];
    expected.extend(values);
    assert_eq!(logged(&m), expected);
}

/// A partition idle past the bound, whose leader dropped the producer's state meanwhile (Kafka
/// does after `producer.id.expiration.ms`): the first batch arrives damaged while the next one
/// is queued, and still lands first.
#[tokio::test(start_paused = true)]
async fn after_an_idle_spell_a_first_batch_damaged_on_the_way_lands_first() {
    let m = broker();
    let p = producer(&m, 2);
    p.send(rec("before")).await.unwrap();
    tokio::time::sleep(IDLE_BOUND + Duration::from_secs(1)).await;
    m.forget_producers();
    *m.damage.lock() = Some((b"0".to_vec(), 1));
    let values = ["0", "1", "2", "3"];
    delivered(enqueue(&p, &values).await).await;
    let mut expected = vec!["before"];
    expected.extend(values);
    assert_eq!(logged(&m), expected);
    assert_eq!(m.renewals.load(Ordering::SeqCst), 0, "nothing to renew");
}

/// Requests in flight while the broker answers nothing: `values` enqueued one batch each.
async fn in_flight_while_stalled(p: &Producer, m: &MockBroker, values: &[&str]) -> usize {
    let before = m.attempts.load(Ordering::SeqCst);
    m.stall.store(true, Ordering::SeqCst);
    let reports = enqueue(p, values).await;
    // Well within the 30 s request timeout: what was sent is still in flight.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sent = m.attempts.load(Ordering::SeqCst) - before;
    m.stall.store(false, Ordering::SeqCst);
    // The stalled requests never answer: they time out and go again.
    delivered(reports).await;
    sent
}

/// The window is one request until a batch of the identity is acknowledged on the partition,
/// then `max_in_flight`; one again after a renewal, and after the partition sent nothing for
/// longer than the bound.
#[tokio::test(start_paused = true)]
async fn the_window_opens_at_the_first_acknowledgement_and_closes_on_renewal_or_idling() {
    let m = broker();
    let p = producer(&m, 1);
    let batches = ["a", "b", "c", "d", "e", "f", "g"];
    assert_eq!(in_flight_while_stalled(&p, &m, &batches).await, 1, "fresh");
    assert_eq!(in_flight_while_stalled(&p, &m, &batches).await, 5, "open");
    leave_a_gap(&p).await;
    assert_eq!(
        in_flight_while_stalled(&p, &m, &batches).await,
        1,
        "renewed"
    );
    assert_eq!(m.renewals.load(Ordering::SeqCst), 1);
    assert_eq!(
        in_flight_while_stalled(&p, &m, &batches).await,
        5,
        "reopened"
    );
    tokio::time::sleep(IDLE_BOUND - Duration::from_secs(2)).await;
    assert_eq!(
        in_flight_while_stalled(&p, &m, &batches).await,
        5,
        "within the bound"
    );
    tokio::time::sleep(IDLE_BOUND + Duration::from_secs(1)).await;
    assert_eq!(in_flight_while_stalled(&p, &m, &batches).await, 1, "idle");
    assert_eq!(
        in_flight_while_stalled(&p, &m, &batches).await,
        5,
        "open again"
    );
}

/// A batch the broker keeps finding damaged fails after a bounded number of sends, with
/// CORRUPT_MESSAGE; the batches behind it fail with it, unwritten, and the partition goes on
/// after them.
#[tokio::test(start_paused = true)]
async fn a_batch_damaged_every_time_fails_after_its_resends_with_those_behind_it() {
    let m = broker();
    let p = producer(&m, 1);
    p.send(rec("before")).await.unwrap();
    *m.refuse.lock() = Some((b"bad".to_vec(), ResponseError::CorruptMessage));
    let attempts = m.attempts.load(Ordering::SeqCst);
    let reports = enqueue(&p, &["bad", "c", "d"]).await;
    for (i, r) in reports.into_iter().enumerate() {
        match r.await {
            Err(ProduceError::Fatal(e)) => assert_eq!(
                e.to_string(),
                "the broker refused the batch with CORRUPT_MESSAGE (2)",
                "record {i}"
            ),
            other => panic!("record {i}: {other:?}"),
        }
    }
    // "bad" and the two behind it (refused out of order) go together (the window is open),
    // once and then again per resend.
    let sends = m.attempts.load(Ordering::SeqCst) - attempts;
    assert_eq!(sends, 3 * (1 + usize::from(DAMAGED_RESENDS)));
    p.send(rec("after")).await.unwrap();
    assert_eq!(logged(&m), ["before", "after"]);
}
