//! The partition pipeline's pieces, and its order rules against the mock broker, with and
//! without a producer id (one request in flight, or five).
use std::{sync::Arc, time::Duration};

use super::{
    answer::{offsets, verdict},
    recover::jitter,
    unsettled::merge,
};
use crate::{
    kafka::{
        error_code::{ErrorCode, ResponseError},
        protocol::CallError,
    },
    producer::{
        DeliveryFuture, ProduceError, Producer, ProducerConfig, ProducerRecord, delivery::Outcome,
        mock::MockBroker, request::Verdict,
    },
};

#[test]
fn answers_classify_as_the_pipeline_handles_them() {
    let code = |c: i16| Ok(Some((ErrorCode::new(c), 7)));
    assert_eq!(verdict(&code(0), false), Verdict::Delivered(Some(7)));
    let too_large = ErrorCode::of(ResponseError::MessageTooLarge);
    assert_eq!(verdict(&code(10), false), Verdict::TooLarge(too_large));
    assert_eq!(verdict(&code(6), false), Verdict::Retry { refresh: true });
    assert_eq!(verdict(&code(19), false), Verdict::Retry { refresh: true });
    assert_eq!(verdict(&code(29), false), Verdict::Fail(ErrorCode::new(29)));
    // An answer without our partition, a lost connection, no answer: ask the leader again.
    assert_eq!(verdict(&Ok(None), false), Verdict::Retry { refresh: true });
    let timeout = Err(CallError::Timeout {
        api: rskafka::protocol::api_key::ApiKey::Produce,
        after: Duration::from_secs(1),
    });
    assert_eq!(verdict(&timeout, false), Verdict::Retry { refresh: true });
    // A broker with none of our Produce versions: final.
    let unsupported = Err(CallError::Unsupported {
        api: rskafka::protocol::api_key::ApiKey::Produce,
        min: 3,
        max: 8,
    });
    let code = ErrorCode::of(ResponseError::UnsupportedVersion);
    assert_eq!(verdict(&unsupported, false), Verdict::Fail(code));
}

#[test]
fn jitter_stays_within_half_and_full() {
    for _ in 0..100 {
        let j = jitter(Duration::from_millis(100));
        assert!(
            j >= Duration::from_millis(50) && j <= Duration::from_millis(100),
            "{j:?}"
        );
    }
}

#[test]
fn offsets_count_from_the_base_or_are_unknown_for_a_duplicate() {
    assert_eq!(offsets(Some(7), 3), vec![7, 8, 9]);
    assert_eq!(offsets(None, 2), vec![-1, -1]);
}

#[test]
fn merge_keeps_order() {
    // Pieces ended right first (a left half resent after its right half failed for good).
    let m = merge(vec![
        (2, 3, Outcome::Failed(ProduceError::Closed)),
        (0, 2, Outcome::Delivered(vec![1, 2])),
    ]);
    let Outcome::Mixed(r) = m else {
        panic!("mixed expected")
    };
    assert_eq!(r.len(), 5);
    assert_eq!(r[1].as_ref().ok(), Some(&2));
    assert!(r[2..].iter().all(Result::is_err));
    let whole = merge(vec![
        (3, 1, Outcome::Delivered(vec![13])),
        (0, 3, Outcome::Delivered(vec![10, 11, 12])),
    ]);
    assert!(matches!(whole, Outcome::Delivered(o) if o == [10, 11, 12, 13]));
}

/// A broker that refuses batches of more than two records as too large and, retriably, every
/// batch holding the value `bad`; `depth` requests in flight (above 1: with a producer id).
fn picky_producer(depth: usize) -> (Arc<MockBroker>, Producer) {
    picky_with(depth, 10_000)
}

/// [`picky_producer`] with batches of at most `max_records`.
fn picky_with(depth: usize, max_records: usize) -> (Arc<MockBroker>, Producer) {
    let broker = Arc::new(MockBroker {
        partitions: 1,
        pipeline: depth,
        record_limit: 2,
        refuse: Some((b"bad".to_vec(), ResponseError::NotLeaderOrFollower)).into(),
        latency: Duration::from_millis(1),
        ..MockBroker::default()
    });
    let config = ProducerConfig {
        delivery_timeout_ms: 1_000,
        request_timeout_ms: 100,
        linger_ms: 5,
        batch_max_records: max_records,
        ..Default::default()
    };
    let p = Producer::new(Arc::clone(&broker) as _, config);
    (broker, p)
}

fn keyed(value: &str) -> ProducerRecord {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ProducerRecord::new("t", Some(b"k".to_vec()), value.as_bytes().to_vec()).with_identity(7, seq)
}

/// Enqueues `values` as one batch (closed by linger); their reports.
async fn batch_of(p: &Producer, values: &[&str]) -> Vec<DeliveryFuture> {
    let mut reports = Vec::new();
    for v in values {
        reports.push(p.enqueue(keyed(v)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    reports
}

async fn outcomes(reports: Vec<DeliveryFuture>) -> Vec<bool> {
    let mut out = Vec::new();
    for r in reports {
        out.push(r.await.is_ok());
    }
    out
}

fn logged(broker: &MockBroker) -> Vec<String> {
    broker
        .values(0)
        .into_iter()
        .map(|v| String::from_utf8(v).unwrap())
        .collect()
}

/// A batch split after "too large" whose left half fails: its right half is not sent (it
/// would land before the left half's records when they are retried).
#[tokio::test(start_paused = true)]
async fn a_split_batch_whose_left_half_failed_does_not_send_its_right_half() {
    for depth in [1, 5] {
        let (broker, p) = picky_producer(depth);
        let reports = batch_of(&p, &["a", "bad", "c", "d"]).await;
        assert_eq!(outcomes(reports).await, [false; 4], "depth {depth}");
        assert!(
            logged(&broker).is_empty(),
            "depth {depth}: {:?}",
            logged(&broker)
        );
    }
}

/// A batch that ends mixed (its left half delivered, its right half failed) fails the
/// batches behind it, like a batch that failed whole.
#[tokio::test(start_paused = true)]
async fn a_mixed_outcome_fails_the_batches_behind_it() {
    for depth in [1, 5] {
        let (broker, p) = picky_producer(depth);
        let first = batch_of(&p, &["a", "b", "c", "bad"]).await;
        let behind = batch_of(&p, &["e"]).await;
        assert_eq!(
            outcomes(first).await,
            [true, true, false, false],
            "depth {depth}"
        );
        assert_eq!(outcomes(behind).await, [false], "depth {depth}");
        assert_eq!(logged(&broker), ["a", "b"], "depth {depth}");
    }
}

/// With `hold_after_failures`, records enqueued after a failure fail unsent until
/// `release_holds`; without it they are sent.
#[tokio::test(start_paused = true)]
async fn a_held_partition_sends_nothing_until_released() {
    for depth in [1, 5] {
        for hold in [false, true] {
            let (broker, p) = picky_producer(depth);
            if hold {
                p.hold_after_failures();
            }
            assert_eq!(outcomes(batch_of(&p, &["bad"]).await).await, [false]);
            let later = outcomes(batch_of(&p, &["after"]).await).await;
            assert_eq!(later, [!hold], "depth {depth}, hold {hold}");
            p.release_holds();
            assert_eq!(outcomes(batch_of(&p, &["released"]).await).await, [true]);
            let expected: &[&str] = if hold {
                &["released"]
            } else {
                &["after", "released"]
            };
            assert_eq!(logged(&broker), expected, "depth {depth}, hold {hold}");
        }
    }
}

/// A batch the broker refuses for good (not retriable, not too large) fails with that refusal,
/// and the batches behind it, in flight or queued, fail with it unsent; the partition goes on
/// after them.
#[tokio::test(start_paused = true)]
async fn a_refused_batch_fails_the_ones_behind_it_with_the_same_error() {
    for depth in [1, 5] {
        let (broker, p) = picky_with(depth, 1);
        *broker.refuse.lock() = Some((b"bad".to_vec(), ResponseError::InvalidRecord));
        let mut reports = Vec::new();
        for v in ["a", "bad", "c", "d"] {
            reports.push(p.enqueue(keyed(v)).await.unwrap());
        }
        let mut results = Vec::new();
        for r in reports {
            results.push(r.await);
        }
        assert!(results[0].is_ok(), "depth {depth}: {results:?}");
        for r in &results[1..] {
            match r {
                Err(ProduceError::Fatal(e)) => assert_eq!(
                    e.to_string(),
                    "the broker refused the batch with INVALID_RECORD (87)",
                    "depth {depth}"
                ),
                other => panic!("depth {depth}: {other:?}"),
            }
        }
        p.send(keyed("e")).await.unwrap();
        assert_eq!(logged(&broker), ["a", "e"], "depth {depth}");
    }
}

/// A connection the broker hung up while a request is in flight on it: the next piece waits
/// for that request's answer (lost) rather than go out on a new connection, where it could
/// reach the broker first and be refused as out of order. Then both go out, in order, on a new
/// one, and only the hung-up way is forgotten.
#[tokio::test(start_paused = true)]
async fn nothing_goes_out_on_a_new_connection_ahead_of_a_hung_up_ones_requests() {
    let broker = Arc::new(MockBroker {
        partitions: 1,
        pipeline: 5,
        latency: Duration::from_millis(50),
        ..MockBroker::default()
    });
    let config = ProducerConfig {
        linger_ms: 0,
        ..Default::default()
    };
    let p = Producer::new(Arc::clone(&broker) as _, config);
    let looked_up = || broker.leaders.load(std::sync::atomic::Ordering::SeqCst);
    // The first acknowledgement opens the window.
    p.send(keyed("a")).await.unwrap();
    // "b" goes out on leader 1 and fails there as a lost connection, 50 ms later.
    broker
        .fail_first
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let b = p.enqueue(keyed("b")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    // Meanwhile the broker hangs up leader 1's connection; "c" waits for "b"'s answer.
    broker
        .closed_leaders
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let c = p.enqueue(keyed("c")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(looked_up(), 1, "a new connection while b is in flight");
    assert!(b.await.is_ok());
    assert!(c.await.is_ok());
    assert_eq!(logged(&broker), ["a", "b", "c"]);
    assert_eq!(looked_up(), 2);
    assert!(
        broker.lost_leaders.lock().iter().all(|&n| n == 1),
        "{:?}",
        broker.lost_leaders.lock()
    );
}
