//! The relay and its lease: it publishes only while it holds the lease, hands nothing to the
//! producer once the lease's `until` has passed (a holder that was frozen, and woke after
//! another instance may have taken the lease over), and starts from the oldest row when the
//! epoch changes.
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use super::*;
use crate::store::{ReadTxn, StoreExt, Table, WriteTxn};

/// A store whose relay lease the test sets, and whose writes wait while `hold_writes` is set.
#[derive(Debug)]
pub(super) struct Leased {
    inner: Arc<dyn Store>,
    pub(super) lease: Mutex<Option<RelayLease>>,
    pub(super) hold_writes: AtomicBool,
}

impl Leased {
    pub(super) fn new(inner: &Arc<dyn Store>, lease: Option<RelayLease>) -> Arc<Self> {
        Arc::new(Self {
            inner: Arc::clone(inner),
            lease: Mutex::new(lease),
            hold_writes: AtomicBool::new(false),
        })
    }
}

impl Store for Leased {
    fn read(
        &self,
        f: &mut dyn FnMut(&dyn ReadTxn) -> crate::store::Result<()>,
    ) -> crate::store::Result<()> {
        self.inner.read(f)
    }

    fn write(
        &self,
        f: &mut dyn FnMut(&mut dyn WriteTxn) -> crate::store::Result<()>,
    ) -> crate::store::Result<()> {
        while self.hold_writes.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.inner.write(f)
    }

    fn relay_lease(&self) -> crate::store::Result<Option<RelayLease>> {
        Ok(*self.lease.lock())
    }
}

pub(super) fn lease(epoch: u64, for_: Duration) -> Option<RelayLease> {
    Some(RelayLease {
        epoch,
        until: Instant::now() + for_,
    })
}

/// A relay (not running) over `store` into `broker`.
pub(super) fn relay_over(store: &Arc<dyn Store>, broker: &Arc<MockBroker>) -> Relay {
    Relay {
        store: Arc::clone(store),
        producer: Producer::new(Arc::clone(broker) as _, ProducerConfig::default()),
        from: 0,
        epoch: None,
        in_flight: std::collections::VecDeque::new(),
        deleting: None,
        caught_up: false,
        reads: super::super::ReadHealth::default(),
        lease_checks: Default::default(),
        blocked: Blocked::default(),
    }
}

pub(super) fn backlog(store: &Arc<dyn Store>) -> u64 {
    store.read_with(crate::outbox::backlog).unwrap()
}

#[tokio::test]
async fn a_relay_publishes_nothing_without_the_lease_or_past_its_end() {
    let (_dir, inner) = store();
    append_rows(&inner, &[b"1".to_vec(), b"2".to_vec()]);
    let leased = Leased::new(&inner, None);
    let store: Arc<dyn Store> = Arc::clone(&leased) as _;
    let broker = Arc::new(MockBroker::new(1));
    let (cancel, relay, _) = spawn_relay(&store, &broker, ProducerConfig::default());

    // Another instance holds it: nothing goes out.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(broker.values(0).is_empty());
    // Held, but its end has passed by the time the round would hand rows over (a holder
    // that woke from a freeze): nothing goes out either, and the rows stay.
    *leased.lease.lock() = lease(1, Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(broker.values(0).is_empty());
    assert_eq!(backlog(&inner), 2);
    // Held for good: everything goes out, in order.
    *leased.lease.lock() = lease(1, Duration::from_secs(3600));
    let deadline = Instant::now() + Duration::from_secs(10);
    while backlog(&inner) > 0 {
        assert!(Instant::now() < deadline, "never published");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cancel.cancel();
    relay.await.unwrap();
    assert_eq!(broker.values(0), vec![b"1".to_vec(), b"2".to_vec()]);
}

/// A new epoch means another instance may have held the lease in between: the relay starts
/// over from the oldest row (rows it had skipped as delivered may have come back).
#[tokio::test]
async fn a_new_epoch_starts_the_relay_from_the_oldest_row() {
    let (_dir, inner) = store();
    let leased = Leased::new(&inner, lease(1, Duration::from_secs(3600)));
    let store: Arc<dyn Store> = Arc::clone(&leased) as _;
    let mut relay = relay_over(&store, &Arc::new(MockBroker::new(1)));
    assert!(relay.lease().await.is_some());
    relay.from = 42;
    assert!(relay.lease().await.is_some());
    assert_eq!(relay.from, 42, "the same epoch: the cursor stays");
    *leased.lease.lock() = lease(2, Duration::from_secs(3600));
    assert!(relay.lease().await.is_some());
    assert_eq!(relay.from, 0, "a new epoch: from the oldest row");
    *leased.lease.lock() = None;
    relay.from = 7;
    assert!(relay.lease().await.is_none());
    assert_eq!((relay.from, relay.epoch), (0, None));
}

/// The rows a holder reads while it renews the lease count only when the lease was held
/// without a break: after a new epoch the relay starts from the oldest row instead.
#[tokio::test]
async fn rows_read_beside_a_renewal_are_dropped_when_the_epoch_changed() {
    let (_dir, inner) = store();
    append_rows(&inner, &[b"1".to_vec(), b"2".to_vec()]);
    let leased = Leased::new(&inner, lease(1, Duration::from_secs(3600)));
    let store: Arc<dyn Store> = Arc::clone(&leased) as _;
    let mut relay = relay_over(&store, &Arc::new(MockBroker::new(1)));
    let (held, read) = relay.lease_and_read().await;
    assert!(held.is_some());
    assert!(
        read.is_none(),
        "not a holder before the check: nothing read ahead"
    );
    let (_, read) = relay.lease_and_read().await;
    assert_eq!(
        read.map(|read| read.rows.len()),
        Some(2),
        "held without a break"
    );
    relay.from = 2;
    *leased.lease.lock() = lease(2, Duration::from_secs(3600));
    let (held, read) = relay.lease_and_read().await;
    assert!(held.is_some());
    assert!(read.is_none(), "read at the old epoch's cursor: dropped");
    assert_eq!(relay.from, 0);
}

/// A row the old epoch handed over, still waiting in the producer (backing off after a failed
/// attempt) when the lease comes back under a new epoch, is not written under the new lease:
/// the holder in between may have published and deleted it, and it would land behind newer
/// rows of its key.
#[tokio::test]
async fn what_an_old_epoch_handed_over_is_not_written_under_a_new_one() {
    let (_dir, inner) = store();
    append_rows(&inner, &[b"1".to_vec()]);
    let leased = Leased::new(&inner, lease(5, Duration::from_millis(200)));
    let store: Arc<dyn Store> = Arc::clone(&leased) as _;
    let broker = Arc::new(MockBroker::new(1));
    broker.always_fail.store(true, Ordering::SeqCst);
    let config = ProducerConfig {
        retry_backoff_ms: 1_500,
        retry_backoff_max_ms: 1_500,
        ..ProducerConfig::default()
    };
    let mut relay = relay_over(&store, &broker);
    relay.producer = Producer::new(Arc::clone(&broker) as _, config);
    relay.producer.hold_after_failures();
    let (held, read) = relay.lease_and_read().await;
    let held = held.unwrap();
    assert_eq!(relay.round(held, read).await, Pause::CaughtUp);
    // The first attempt failed; the row waits out its backoff in the producer.
    let deadline = Instant::now() + Duration::from_secs(5);
    while broker.attempts.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "never attempted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Epoch 6 (another instance) published the row and deleted it; the lease comes back as 7.
    inner
        .write(&mut |txn| {
            let seqs: Vec<Vec<u8>> = crate::outbox::pending(txn, 0, 10)?
                .iter()
                .map(|(seq, _)| seq.to_be_bytes().to_vec())
                .collect();
            txn.delete_many(Table::Outbox, &seqs).map(drop)
        })
        .unwrap();
    assert_eq!(backlog(&inner), 0);
    broker.always_fail.store(false, Ordering::SeqCst);
    *leased.lease.lock() = lease(7, Duration::from_secs(3600));
    assert!(relay.lease().await.is_some());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        broker.values(0).is_empty(),
        "epoch 5's row was written under epoch 7"
    );
}

/// A holder waiting for an acknowledgement longer than its lease's term (the broker slow, a
/// retry backing off) renews the lease meanwhile, as a database would grant it each time:
/// the retry is written under the renewed lease, not refused as past the lease's end.
#[tokio::test]
async fn a_holder_waiting_for_acknowledgements_renews_its_lease() {
    let (_dir, inner) = store();
    append_rows(&inner, &[b"1".to_vec()]);
    let term = Duration::from_secs(3);
    let leased = Leased::new(&inner, lease(1, term));
    let store: Arc<dyn Store> = Arc::clone(&leased) as _;
    // The database renews the lease whenever it is asked: its end is always 3 s off.
    let renewing = {
        let leased = Arc::clone(&leased);
        tokio::spawn(async move {
            loop {
                *leased.lease.lock() = lease(1, term);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let broker = Arc::new(MockBroker::new(1));
    broker.fail_first.store(1, Ordering::SeqCst);
    // The retry comes 4 s after the first attempt: past the end of the lease the round began
    // under.
    let config = ProducerConfig {
        retry_backoff_ms: 4_000,
        retry_backoff_max_ms: 4_000,
        ..ProducerConfig::default()
    };
    let (cancel, relay, metrics) = spawn_relay(&store, &broker, config);
    let deadline = Instant::now() + Duration::from_secs(15);
    while backlog(&inner) > 0 {
        assert!(Instant::now() < deadline, "never published");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cancel.cancel();
    relay.await.unwrap();
    renewing.abort();
    assert_eq!(broker.values(0), vec![b"1".to_vec()]);
    assert_eq!(
        metrics.errors_lease_ended.get(),
        0,
        "the retry was refused as past the lease's end"
    );
}
