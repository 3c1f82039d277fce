//! What the partition loop does again, and when: a claim or a pass the store refuses, a
//! failing handler (backing off, doubling); and when it wakes the outbox relay.
use std::time::Instant;

use super::*;
use crate::store::{Store, StoreError, WriteTxn};

/// A redb store whose write transactions numbered in `failing` (from 1) fail.
#[derive(Debug)]
struct FailingWrites {
    inner: RedbStore,
    failing: Vec<u32>,
    writes: AtomicU32,
}

impl FailingWrites {
    fn open(dir: &tempfile::TempDir, failing: Vec<u32>) -> Arc<dyn Store> {
        Arc::new(Self {
            inner: RedbStore::open(dir.path()).unwrap(),
            failing,
            writes: AtomicU32::new(0),
        })
    }
}

impl Store for FailingWrites {
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
        let n = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        if self.failing.contains(&n) {
            return Err(StoreError::NotFound("the test's failing write"));
        }
        self.inner.write(f)
    }
}

/// Runs partition 0 of three records until they are handled; returns how often offset 0 was
/// fetched.
async fn run_three(ctx: &Arc<Context>) -> usize {
    let log = Arc::new(Log::new(0, 3));
    let source = Arc::new(Arc::clone(&log));
    run_until(ctx, source, partition::Start::default(), |ctx| {
        ctx.metrics.handled.get() == 3
    })
    .await;
    log.asked(0)
}

#[tokio::test]
async fn a_claim_the_store_refuses_is_made_again() {
    let dir = tempfile::tempdir().unwrap();
    // The first write is the partition's claim.
    let store = FailingWrites::open(&dir, vec![1]);
    let ctx = context(&store, Arc::new(NoopHandler));
    run_three(&ctx).await;
}

/// A pass whose transaction fails is run again on the batch in hand: the records are not
/// fetched again.
#[tokio::test]
async fn a_pass_the_store_refuses_is_run_again_on_the_batch_in_hand() {
    let dir = tempfile::tempdir().unwrap();
    // The claim, then the first batch's pass.
    let store = FailingWrites::open(&dir, vec![2]);
    let ctx = context(&store, Arc::new(NoopHandler));
    assert_eq!(run_three(&ctx).await, 1, "offset 0 fetched once");
}

/// Fails record "a" `failures` times, noting when each attempt came.
struct FailsFirst {
    failures: u32,
    attempts: parking_lot::Mutex<Vec<Instant>>,
}

impl RecordHandler for Arc<FailsFirst> {
    fn handle(&self, record: &FetchedRecord, _: &dyn ReadTxn) -> Result<Effects, RecordError> {
        if record.value.as_deref() != Some(b"a") {
            return Ok(Effects::default());
        }
        let mut attempts = self.attempts.lock();
        attempts.push(Instant::now());
        if attempts.len() as u32 <= self.failures {
            return Err(RecordError::Failed(HandlerError::refused("not yet")));
        }
        Ok(Effects::default())
    }
}

/// `consumer.handler_backoff_ms` is the first pause, doubled after each failure.
#[tokio::test]
async fn a_failing_handler_is_retried_after_a_pause_doubling_from_the_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    let handler = Arc::new(FailsFirst {
        failures: 2,
        attempts: parking_lot::Mutex::default(),
    });
    let mut ctx = context(&store, Arc::new(Arc::clone(&handler)));
    Arc::get_mut(&mut ctx).unwrap().config.handler_backoff_ms = 500;
    run_source(&ctx).await;
    assert_eq!(ctx.metrics.handled.get(), 3, "a on its third attempt");
    let attempts = handler.attempts.lock().clone();
    assert_eq!(attempts.len(), 3);
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1] - w[0]).collect();
    let ms = |n| Duration::from_millis(n);
    // 500 ms, then 1000 ms; each plus a commit and some scheduling, well under 450 ms.
    assert!(gaps[0] >= ms(500) && gaps[0] < ms(950), "{gaps:?}");
    assert!(gaps[1] >= ms(1_000) && gaps[1] < ms(1_900), "{gaps:?}");
}

/// A commit that wrote outbox rows wakes the relay, so that they go out without waiting for
/// its idle timer; one that wrote none does not.
#[tokio::test]
async fn the_relay_is_woken_after_a_commit_that_wrote_outbox_rows_only() {
    let wakes = |handler: Arc<dyn RecordHandler>| async move {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
        let ctx = context(&store, handler);
        run_source(&ctx).await;
        tokio::time::timeout(Duration::from_millis(100), ctx.outbox_wake.notified())
            .await
            .is_ok()
    };
    // "b" goes to the dead-letter topic: an outbox row.
    assert!(wakes(Arc::new(PoisonB)).await);
    assert!(!wakes(Arc::new(NoopHandler)).await);
}
