//! Producer unit tests against the mock broker, with a paused clock for timers.
use std::sync::atomic::AtomicU64;

use crate::event::header;

use super::{
    mock::{MISSING_TOPIC, MockBroker},
    *,
};

/// Sequences for the test records, never repeated within the test binary.
static SEQ: AtomicU64 = AtomicU64::new(0);

fn producer(mock: Arc<MockBroker>, config: ProducerConfig) -> Producer {
    Producer::new(mock, config)
}

fn mock(partitions: usize) -> Arc<MockBroker> {
    Arc::new(MockBroker::new(partitions))
}

/// A record with an identity, as the outbox stamps one.
fn record(topic: &str, key: Option<&[u8]>, value: Vec<u8>) -> ProducerRecord {
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    ProducerRecord::new(topic, key.map(<[u8]>::to_vec), value).with_identity(42, seq)
}

fn rec(key: &str, value: &str) -> ProducerRecord {
    record("t", Some(key.as_bytes()), value.as_bytes().to_vec())
}

#[tokio::test(start_paused = true)]
async fn send_delivers_with_idempotency_headers_on_the_murmur2_partition() {
    let m = mock(3);
    let p = producer(Arc::clone(&m), ProducerConfig::default());
    let (a, b) = (rec("user-1", "a"), rec("user-1", "b"));
    let sequences = [&a, &b].map(|r| r.headers[header::SEQUENCE].clone());
    let d1 = p.send(a).await.unwrap();
    let d2 = p.send(b).await.unwrap();
    assert_eq!(d1.partition as usize, keyed_partition(b"user-1", 3));
    assert_eq!((d1.offset, d2.offset), (0, 1));
    let log = m.log.lock();
    let written = &log[&d1.partition];
    assert_eq!(written[0].headers[header::PRODUCER_ID], b"42");
    assert_eq!(written[0].headers[header::SEQUENCE], sequences[0]);
    assert_eq!(written[1].headers[header::SEQUENCE], sequences[1]);
    assert_eq!(written[0].headers[header::ID].len(), 36);
    assert_ne!(
        written[0].headers[header::ID],
        written[1].headers[header::ID]
    );
}

#[tokio::test(start_paused = true)]
async fn existing_identity_headers_are_kept() {
    let m = mock(1);
    let p = producer(Arc::clone(&m), ProducerConfig::default());
    let mut r = rec("k", "v");
    r.headers.insert(header::PRODUCER_ID.into(), b"7".to_vec());
    r.headers.insert(header::SEQUENCE.into(), b"99".to_vec());
    r.headers.insert(header::ID.into(), b"event-1".to_vec());
    p.send(r).await.unwrap();
    let log = m.log.lock();
    let h = &log[&0][0].headers;
    assert_eq!(
        (
            h[header::PRODUCER_ID].as_slice(),
            h[header::SEQUENCE].as_slice()
        ),
        (&b"7"[..], &b"99"[..])
    );
    assert_eq!(h[header::ID], b"event-1");
}

#[tokio::test(start_paused = true)]
async fn retriable_errors_retry_with_backoff_until_delivered() {
    let m = mock(1);
    m.fail_first.store(3, Ordering::SeqCst);
    let p = producer(Arc::clone(&m), ProducerConfig::default());
    let start = Instant::now();
    let d = p.send(rec("k", "v")).await.unwrap();
    assert_eq!(d.offset, 0);
    assert_eq!(p.metrics().retries.get(), 3);
    // Three backoffs of at least 50, 100 and 200 ms (jitter keeps 50-100%).
    assert!(
        start.elapsed() >= Duration::from_millis(175),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn the_delivery_deadline_turns_endless_retries_into_a_timeout() {
    let m = mock(1);
    m.always_fail.store(true, Ordering::SeqCst);
    let config = ProducerConfig {
        delivery_timeout_ms: 2_000,
        ..Default::default()
    };
    let p = producer(Arc::clone(&m), config);
    let start = Instant::now();
    let err = p.send(rec("k", "v")).await.unwrap_err();
    assert!(matches!(err, ProduceError::Timeout { .. }), "{err}");
    assert!(
        start.elapsed() <= Duration::from_millis(2_100),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(p.metrics().errors_timeout.get(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_request_that_never_answers_times_out_too() {
    let m = mock(1);
    m.stall.store(true, Ordering::SeqCst);
    let config = ProducerConfig {
        delivery_timeout_ms: 1_000,
        request_timeout_ms: 300,
        ..Default::default()
    };
    let p = producer(Arc::clone(&m), config);
    let err = p.send(rec("k", "v")).await.unwrap_err();
    assert!(matches!(err, ProduceError::Timeout { .. }), "{err}");
    assert!(
        m.attempts.load(Ordering::SeqCst) >= 2,
        "timed-out requests are retried"
    );
}

#[tokio::test(start_paused = true)]
async fn too_large_batches_split_and_only_the_oversized_record_fails() {
    for pipeline in [0, 5] {
        too_large_batches_split(pipeline).await;
    }
}

/// [`too_large_batches_split_and_only_the_oversized_record_fails`] with `pipeline` requests in
/// flight (above 1: with a producer id, whose sequences the mock checks).
async fn too_large_batches_split(pipeline: usize) {
    let m = Arc::new(MockBroker {
        broker_limit: 2_000,
        pipeline,
        latency: Duration::from_millis(1),
        ..MockBroker::new(1)
    });
    let p = producer(Arc::clone(&m), ProducerConfig::default());
    let mut futures = Vec::new();
    for i in 0..40 {
        let size = if i == 17 { 3_000 } else { 100 };
        let r = record("t", Some(b"same"), vec![i as u8; size]);
        futures.push(p.enqueue(r).await.unwrap());
    }
    let mut results = Vec::new();
    for f in futures {
        results.push(f.await);
    }
    for (i, r) in results.iter().enumerate() {
        if i == 17 {
            assert!(
                matches!(r, Err(ProduceError::RecordTooLarge { .. })),
                "{r:?}"
            );
        } else {
            assert!(r.is_ok(), "record {i}: {r:?}");
        }
    }
    // Order per key survived the splits.
    let log = m.log.lock();
    let values: Vec<u8> = log[&0]
        .iter()
        .map(|r| r.value.as_ref().unwrap()[0])
        .collect();
    let expected: Vec<u8> = (0..40u8).filter(|i| *i != 17).collect();
    assert_eq!(values, expected, "pipeline {pipeline}");
    assert!(p.metrics().splits.get() >= 1);
}

#[tokio::test(start_paused = true)]
async fn a_record_over_max_message_bytes_fails_at_once() {
    let p = producer(mock(1), ProducerConfig::default());
    let big = record("t", None, vec![0; 2 << 20]);
    let err = p.enqueue(big).await.unwrap_err();
    assert!(
        matches!(
            err,
            ProduceError::RecordTooLarge {
                limit: 1_048_588,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_buffer_refuses_enqueue_and_frees_up_after_delivery() {
    let m = mock(1);
    m.stall.store(true, Ordering::SeqCst);
    let config = ProducerConfig {
        buffer_bytes: 10_000,
        delivery_timeout_ms: 60_000,
        request_timeout_ms: 1_000,
        ..Default::default()
    };
    let p = producer(Arc::clone(&m), config);
    let mut accepted = Vec::new();
    let err = loop {
        match p.enqueue(rec("k", "0123456789")).await {
            Ok(f) => accepted.push(f),
            Err(e) => break e,
        }
        assert!(accepted.len() < 1_000, "the buffer never filled");
    };
    assert!(
        matches!(err, ProduceError::BufferFull { capacity: 10_000 }),
        "{err}"
    );
    assert!(p.metrics().buffer_bytes.get() <= 10_000);
    m.stall.store(false, Ordering::SeqCst);
    for f in accepted {
        f.await.unwrap();
    }
    assert_eq!(p.metrics().buffer_bytes.get(), 0);
    p.enqueue(rec("k", "again")).await.unwrap().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn flush_and_close_deliver_everything_buffered() {
    let m = mock(4);
    let config = ProducerConfig {
        linger_ms: 60_000,
        ..Default::default()
    };
    let p = producer(Arc::clone(&m), config);
    let mut futures = Vec::new();
    for i in 0..100 {
        futures.push(p.enqueue(rec(&format!("user-{i}"), "v")).await.unwrap());
    }
    // The clock is paused: a flush that waited for the batches' linger would pass it
    // unseen, but not without time passing.
    let flushing = tokio::time::Instant::now();
    p.flush().await;
    assert!(
        flushing.elapsed() < Duration::from_secs(1),
        "flush waited {:?}, for the linger",
        flushing.elapsed()
    );
    let written: usize = m.log.lock().values().map(Vec::len).sum();
    assert_eq!(written, 100);
    for i in 0..10 {
        futures.push(p.enqueue(rec(&format!("late-{i}"), "v")).await.unwrap());
    }
    p.close(Duration::from_secs(5)).await.unwrap();
    for f in futures {
        f.await.unwrap();
    }
    assert_eq!(m.log.lock().values().map(Vec::len).sum::<usize>(), 110);
    assert!(matches!(
        p.send(rec("k", "v")).await,
        Err(ProduceError::Closed)
    ));
}

#[tokio::test(start_paused = true)]
async fn unkeyed_records_stick_to_one_partition_per_batch() {
    let m = mock(3);
    let config = ProducerConfig {
        batch_max_records: 10,
        ..Default::default()
    };
    let p = producer(Arc::clone(&m), config);
    let mut futures = Vec::new();
    for _ in 0..30 {
        futures.push(p.enqueue(record("t", None, b"v".to_vec())).await.unwrap());
    }
    for f in futures {
        f.await.unwrap();
    }
    let log = m.log.lock();
    assert_eq!(log.len(), 3, "spread over all partitions");
    assert!(
        log.values().all(|v| v.len() == 10),
        "whole batches per partition"
    );
}

#[tokio::test(start_paused = true)]
async fn unknown_topics_fail_as_unknown() {
    let p = producer(mock(1), ProducerConfig::default());
    let err = p
        .send(record(MISSING_TOPIC, None, vec![]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProduceError::UnknownTopic(t) if t == MISSING_TOPIC),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn records_without_both_identity_headers_are_refused_not_numbered() {
    let m = mock(1);
    let p = producer(Arc::clone(&m), ProducerConfig::default());
    // Neither header: the producer once numbered these from a counter of its own, which
    // counted from 0 like the store's and so could repeat an event's dedupe key.
    let bare = ProducerRecord::new("t", None, b"v".to_vec());
    let err = p.send(bare).await.unwrap_err();
    assert!(
        matches!(
            err,
            ProduceError::MissingIdentity {
                header: header::PRODUCER_ID
            }
        ),
        "{err}"
    );
    for (present, missing) in [
        (header::PRODUCER_ID, header::SEQUENCE),
        (header::SEQUENCE, header::PRODUCER_ID),
    ] {
        let mut r = ProducerRecord::new("t", None, b"v".to_vec());
        r.headers.insert(present.into(), b"5".to_vec());
        let err = p.send(r).await.unwrap_err();
        assert!(
            matches!(err, ProduceError::MissingIdentity { header } if header == missing),
            "{err}"
        );
    }
    assert!(m.log.lock().is_empty(), "nothing refused was written");
}

#[tokio::test(start_paused = true)]
async fn unkeyed_records_move_on_after_a_batch_closed_by_linger() {
    let m = mock(3);
    let p = producer(Arc::clone(&m), ProducerConfig::default());
    for _ in 0..3 {
        p.send(record("t", None, b"v".to_vec())).await.unwrap();
    }
    assert_eq!(
        m.log.lock().len(),
        3,
        "each lingered batch went to the next partition"
    );
}

#[tokio::test(start_paused = true)]
async fn nothing_starts_after_close() {
    let p = producer(mock(1), ProducerConfig::default());
    p.close(Duration::from_secs(1)).await.unwrap();
    assert!(matches!(p.prepare("t").await, Err(ProduceError::Closed)));
}

#[tokio::test(start_paused = true)]
async fn batches_behind_a_failed_one_fail_with_it_so_nothing_overtakes() {
    let m = mock(1);
    m.stall.store(true, Ordering::SeqCst);
    let config = ProducerConfig {
        delivery_timeout_ms: 1_000,
        request_timeout_ms: 200,
        ..Default::default()
    };
    let p = producer(Arc::clone(&m), config);
    let first = p.enqueue(rec("k", "1")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = p.enqueue(rec("k", "2")).await.unwrap();
    assert!(matches!(first.await, Err(ProduceError::Timeout { .. })));
    assert!(
        matches!(second.await, Err(ProduceError::Timeout { .. })),
        "the later batch did not overtake"
    );
    assert!(m.log.lock().is_empty());
    m.stall.store(false, Ordering::SeqCst);
    p.send(rec("k", "3")).await.unwrap();
    assert_eq!(
        p.metrics().buffer_bytes.get(),
        0,
        "failed batches gave their buffer back"
    );
}

mod send_until;
