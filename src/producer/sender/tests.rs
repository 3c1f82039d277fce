use rskafka::client::error::ProtocolError;

use super::*;
use crate::producer::mock::server_error;

fn server(e: ProtocolError) -> TransportError {
    server_error(e).into()
}

#[test]
fn classification() {
    assert_eq!(
        classify(&server(ProtocolError::MessageTooLarge)),
        Class::TooLarge
    );
    assert_eq!(
        classify(&server(ProtocolError::NotLeaderOrFollower)),
        Class::Retry
    );
    assert_eq!(
        classify(&server(ProtocolError::NotEnoughReplicas)),
        Class::Retry
    );
    assert_eq!(
        classify(&server(ProtocolError::TopicAuthorizationFailed)),
        Class::Fatal
    );
    assert_eq!(classify(&ClientError::Timeout.into()), Class::Retry);
    assert_eq!(
        classify(&ClientError::InvalidResponse("x".into()).into()),
        Class::Fatal
    );
    // A transport that retries by itself (the idempotent writer): split, or final.
    assert_eq!(
        classify(&TransportError::TooLarge {
            source: "too large".into(),
            records: None
        }),
        Class::TooLarge
    );
    assert_eq!(
        classify(&TransportError::Final("gave up".into())),
        Class::Fatal
    );
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
fn merge_keeps_order() {
    let m = merge(
        Outcome::Delivered(vec![1, 2]),
        2,
        Outcome::Failed(ProduceError::Closed),
        3,
    );
    let Outcome::Mixed(r) = m else {
        panic!("mixed expected")
    };
    assert_eq!(r.len(), 5);
    assert_eq!(r[1].as_ref().ok(), Some(&2));
    assert!(r[2..].iter().all(Result::is_err));
}

/// A broker that refuses batches of more than two records as too large and, retriably, every
/// batch holding the value `bad`; it logs the values it accepts.
#[derive(Default)]
struct Picky {
    log: parking_lot::Mutex<Vec<String>>,
    depth: usize,
}

impl crate::producer::Transport for Picky {
    fn max_in_flight(&self) -> usize {
        self.depth.max(1)
    }

    fn partition_count<'a>(
        &'a self,
        _topic: &'a str,
    ) -> BoxFuture<'a, Result<usize, crate::producer::MetadataError>> {
        Box::pin(async { Ok(1) })
    }

    fn produce<'a>(
        &'a self,
        _topic: &'a str,
        _partition: i32,
        records: Vec<Record>,
        _codec: crate::producer::Codec,
    ) -> BoxFuture<'a, Result<Vec<i64>, TransportError>> {
        Box::pin(async move {
            let values: Vec<String> = records
                .iter()
                .map(|r| String::from_utf8(r.value.clone().unwrap_or_default()).unwrap())
                .collect();
            if values.len() > 2 {
                return Err(TransportError::TooLarge {
                    source: "too large".into(),
                    records: Some(records),
                });
            }
            if values.iter().any(|v| v == "bad") {
                return Err(ClientError::Timeout.into());
            }
            let mut log = self.log.lock();
            let first = log.len() as i64;
            log.extend(values);
            Ok((first..first + records.len() as i64).collect())
        })
    }
}

fn picky_producer(depth: usize) -> (Arc<Picky>, crate::producer::Producer) {
    let transport = Arc::new(Picky {
        depth,
        ..Picky::default()
    });
    let config = crate::producer::ProducerConfig {
        delivery_timeout_ms: 1_000,
        request_timeout_ms: 100,
        linger_ms: 5,
        ..Default::default()
    };
    let p = crate::producer::Producer::new(Arc::clone(&transport) as _, config);
    (transport, p)
}

fn keyed(value: &str) -> crate::producer::ProducerRecord {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    crate::producer::ProducerRecord::new("t", Some(b"k".to_vec()), value.as_bytes().to_vec())
        .with_identity(7, seq)
}

/// Enqueues `values` as one batch (closed by linger); their reports.
async fn batch_of(
    p: &crate::producer::Producer,
    values: &[&str],
) -> Vec<crate::producer::DeliveryFuture> {
    let mut reports = Vec::new();
    for v in values {
        reports.push(p.enqueue(keyed(v)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    reports
}

async fn outcomes(reports: Vec<crate::producer::DeliveryFuture>) -> Vec<bool> {
    let mut out = Vec::new();
    for r in reports {
        out.push(r.await.is_ok());
    }
    out
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
            broker.log.lock().is_empty(),
            "depth {depth}: {:?}",
            broker.log.lock()
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
        assert_eq!(*broker.log.lock(), ["a", "b"], "depth {depth}");
    }
}

/// With `hold_after_failures`, records enqueued after a failure fail unsent until
/// `release_holds`; without it they are sent.
#[tokio::test(start_paused = true)]
async fn a_held_partition_sends_nothing_until_released() {
    for hold in [false, true] {
        let (broker, p) = picky_producer(1);
        if hold {
            p.hold_after_failures();
        }
        assert_eq!(outcomes(batch_of(&p, &["bad"]).await).await, [false]);
        let later = outcomes(batch_of(&p, &["after"]).await).await;
        assert_eq!(later, [!hold], "hold {hold}");
        p.release_holds();
        assert_eq!(outcomes(batch_of(&p, &["released"]).await).await, [true]);
        let expected: &[&str] = if hold {
            &["released"]
        } else {
            &["after", "released"]
        };
        assert_eq!(*broker.log.lock(), expected, "hold {hold}");
    }
}
