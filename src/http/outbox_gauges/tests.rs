use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::*;
use crate::store::RedbStore;

/// Reads of the store so far by [`slow_read`].
static READS: AtomicUsize = AtomicUsize::new(0);

/// A reading that takes 100 ms and counts itself.
fn slow_read(_: &dyn Store) -> Gauges {
    READS.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(100));
    Some(reading(7))
}

/// Open: [`stuck_read`] may finish.
static GATE: AtomicBool = AtomicBool::new(false);

/// Reads of the store so far by [`stuck_read`].
static STUCK_READS: AtomicUsize = AtomicUsize::new(0);

/// A reading that hangs until [`GATE`] opens.
fn stuck_read(_: &dyn Store) -> Gauges {
    STUCK_READS.fetch_add(1, Ordering::SeqCst);
    while !GATE.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(5));
    }
    Some(reading(9))
}

/// A reading of `backlog` rows, none parked.
fn reading(backlog: u64) -> OutboxReading {
    OutboxReading {
        backlog,
        oldest_ms: None,
        parked: 0,
    }
}

fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    (dir, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_callers_at_once_share_one_reading() {
    let (_dir, store) = store();
    let gauges = Arc::new(OutboxGauges::default());
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let (gauges, store) = (Arc::clone(&gauges), Arc::clone(&store));
        callers.spawn(async move { gauges.read(&store, slow_read).await });
    }
    while let Some(answer) = callers.join_next().await {
        assert_eq!(answer.unwrap(), Some(reading(7)));
    }
    assert_eq!(READS.load(Ordering::SeqCst), 1, "one reading for all");
    // Fresh for a while, then read again.
    assert_eq!(gauges.read(&store, slow_read).await, Some(reading(7)));
    assert_eq!(READS.load(Ordering::SeqCst), 1);
    tokio::time::sleep(FRESH).await;
    assert_eq!(gauges.read(&store, slow_read).await, Some(reading(7)));
    assert_eq!(READS.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_that_hangs_is_not_started_again_by_every_caller() {
    let (_dir, store) = store();
    let gauges = OutboxGauges::default();
    // Each caller gives up after STORE_WAIT; the one reading goes on and is shared.
    assert_eq!(gauges.read(&store, stuck_read).await, None);
    assert_eq!(gauges.read(&store, stuck_read).await, None);
    assert_eq!(STUCK_READS.load(Ordering::SeqCst), 1, "one reading");
    // Once it ends, with nobody waiting, it is old: a caller after that reads again.
    GATE.store(true, Ordering::SeqCst);
    tokio::time::sleep(FRESH * 2).await;
    assert_eq!(gauges.read(&store, stuck_read).await, Some(reading(9)));
    assert_eq!(STUCK_READS.load(Ordering::SeqCst), 2, "a fresh reading");
}

/// Reads so far by [`then_slow_read`].
static THEN_SLOW: AtomicUsize = AtomicUsize::new(0);

/// The first reading at once (3 rows); every later one takes longer than [`STORE_WAIT`].
fn then_slow_read(_: &dyn Store) -> Gauges {
    if THEN_SLOW.fetch_add(1, Ordering::SeqCst) == 0 {
        return Some(reading(3));
    }
    std::thread::sleep(STORE_WAIT + Duration::from_millis(300));
    Some(reading(4))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reading_is_stood_in_for_by_the_last_one() {
    let (_dir, store) = store();
    let gauges = OutboxGauges::default();
    assert_eq!(gauges.read(&store, then_slow_read).await, Some(reading(3)));
    tokio::time::sleep(FRESH).await;
    // Not fresh, and the new reading takes longer than a caller waits: the last one shows.
    let started = Instant::now();
    assert_eq!(gauges.read(&store, then_slow_read).await, Some(reading(3)));
    assert!(started.elapsed() < STORE_WAIT + Duration::from_millis(200));
    assert_eq!(THEN_SLOW.load(Ordering::SeqCst), 2);
}
