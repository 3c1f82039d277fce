//! [`Producer::send_until`]: nothing is written after it, whether the records were still
//! buffered or already handed to the connection's lane.
use super::*;

/// A sender past its lease (the relay, frozen and woken after another instance took over)
/// writes nothing it had buffered: those records fail with `LeaseEnded`, unsent; with the
/// limit lifted the producer sends again (under a renewed identity, the unsent sequences left
/// a gap).
#[tokio::test(start_paused = true)]
async fn nothing_is_written_past_send_until() {
    let m = Arc::new(MockBroker {
        pipeline: 5,
        ..MockBroker::new(1)
    });
    let p = producer(Arc::clone(&m), ProducerConfig::default());
    p.send(rec("k", "before")).await.unwrap();
    p.send_until(Some(Instant::now()));
    let refused = p.send(rec("k", "after")).await.unwrap_err();
    assert!(matches!(refused, ProduceError::LeaseEnded), "{refused:?}");
    assert_eq!(m.values(0), vec![b"before".to_vec()]);
    // Counted as not sent, not as refused by the broker.
    assert_eq!(p.metrics().errors_lease_ended.get(), 1);
    assert_eq!(p.metrics().errors_fatal.get(), 0);
    p.send_until(None);
    p.send(rec("k", "again")).await.unwrap();
    assert_eq!(m.values(0), vec![b"before".to_vec(), b"again".to_vec()]);
}

/// A request handed to the connection before the limit carries the limit as the time by which
/// it must be written (one still waiting for the connection then, the process frozen or the
/// connection stalled, is dropped unwritten), while its caller waits the whole request
/// timeout for the answer.
#[tokio::test(start_paused = true)]
async fn a_request_is_handed_over_to_be_written_by_send_until() {
    let m = Arc::new(MockBroker {
        pipeline: 5,
        ..MockBroker::new(1)
    });
    let p = producer(Arc::clone(&m), ProducerConfig::default());
    p.send(rec("k", "unlimited")).await.unwrap();
    let timeout = Duration::from_millis(ProducerConfig::default().request_timeout_ms);
    assert_eq!(*m.last_timeout.lock(), Some((timeout, None)));
    let until = Instant::now() + Duration::from_secs(2);
    p.send_until(Some(until));
    p.send(rec("k", "limited")).await.unwrap();
    assert_eq!(*m.last_timeout.lock(), Some((timeout, Some(until))));
}
