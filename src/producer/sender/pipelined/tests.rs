//! The pipelined sender against the mock broker (which answers each batch as it is queued).
use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use crate::producer::{Producer, ProducerConfig, ProducerRecord, mock::MockBroker};

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
        ..Default::default()
    })
}

#[tokio::test(start_paused = true)]
async fn batches_handed_over_in_flight_land_in_queue_order() {
    let m = pipelined(0);
    let config = ProducerConfig {
        batch_max_records: 3,
        ..ProducerConfig::default()
    };
    let p = Producer::new(Arc::clone(&m) as _, config);
    let mut deliveries = Vec::new();
    for i in 0..40 {
        deliveries.push(p.enqueue(rec("k", format!("{i}"))).await.unwrap());
    }
    for (i, d) in deliveries.into_iter().enumerate() {
        assert_eq!(d.await.unwrap().offset, i as i64);
    }
    let values: Vec<String> = m
        .values(0)
        .into_iter()
        .map(|v| String::from_utf8(v).unwrap())
        .collect();
    let expected: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    assert_eq!(values, expected);
    assert!(
        m.attempts.load(Ordering::SeqCst) >= 14,
        "batches of at most 3"
    );
}

#[tokio::test(start_paused = true)]
async fn a_batch_the_broker_finds_too_large_is_split_in_order() {
    // The broker takes at most ~2 records of 200 bytes per batch; ours closes at 10.
    let m = pipelined(600);
    let config = ProducerConfig {
        batch_max_records: 10,
        ..ProducerConfig::default()
    };
    let p = Producer::new(Arc::clone(&m) as _, config);
    let mut deliveries = Vec::new();
    for i in 0..10 {
        deliveries.push(p.enqueue(rec("k", format!("{i:0>200}"))).await.unwrap());
    }
    for d in deliveries {
        d.await.unwrap();
    }
    let values: Vec<String> = m
        .values(0)
        .into_iter()
        .map(|v| String::from_utf8(v).unwrap())
        .collect();
    let expected: Vec<String> = (0..10).map(|i| format!("{i:0>200}")).collect();
    assert_eq!(values, expected);
}
