//! What the partition loop does again, and when: a claim or a pass the store refuses, a
//! failing handler (backing off, doubling); and when it wakes the outbox relay.
use std::time::Instant;

use super::*;
use crate::store::{Store, StoreError, StoreExt, intercepted::Intercepted};

/// A redb store whose write transactions numbered in `failing` (from 1) fail; those in
/// `answer_lost` commit, then fail (as when PostgreSQL's answer to COMMIT is lost with its
/// connection).
struct FailingWrites;

impl FailingWrites {
    fn open(dir: &tempfile::TempDir, failing: Vec<u32>) -> Arc<dyn Store> {
        Self::losing_answers(dir, failing, Vec::new())
    }

    fn losing_answers(
        dir: &tempfile::TempDir,
        failing: Vec<u32>,
        answer_lost: Vec<u32>,
    ) -> Arc<dyn Store> {
        let writes = AtomicU32::new(0);
        let inner = Arc::new(RedbStore::open(dir.path()).unwrap());
        Arc::new(Intercepted::new(inner, move |inner, f| {
            let n = writes.fetch_add(1, Ordering::SeqCst) + 1;
            if failing.contains(&n) {
                return Err(StoreError::NotFound("the test's failing write"));
            }
            inner.write(f)?;
            if answer_lost.contains(&n) {
                return Err(StoreError::NotFound("the test's lost answer to a commit"));
            }
            Ok(())
        }))
    }
}

/// Dead-letters every record (none carries an identity, so no dedupe mark can say it was).
struct AllPoison;

impl RecordHandler for AllPoison {
    fn handle(&self, _: &FetchedRecord, _: &dyn ReadTxn) -> Result<Effects, RecordError> {
        Err(RecordError::Poison("not ours".into()))
    }
}

/// Three records at offsets 0..3 that carry no identity (another producer's), in one fetch;
/// then nothing. Counts the fetches past them.
#[derive(Default)]
struct Unidentified {
    past_end: AtomicU32,
}

impl PartitionSource for Arc<Unidentified> {
    fn fetch(&self, offset: i64, _: i32, _: i32) -> BoxFuture<'_, Result<Fetched, SourceError>> {
        Box::pin(async move {
            if offset >= 3 {
                self.past_end.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Ok(answer(vec![], None, 3));
            }
            let bare =
                |o: i64| FetchedRecord::from_parts(o, 0, None, Some(vec![0xde]), &BTreeMap::new());
            Ok(answer(vec![bare(0), bare(1), bare(2)], Some(3), 3))
        })
    }

    fn offset(&self, _: OffsetQuery) -> BoxFuture<'_, Result<i64, SourceError>> {
        Box::pin(async { Ok(0) })
    }
}

/// A pass that committed though the store answered with an error is not applied again: the
/// loop finds the stored offset past its own, within the batch, and goes on from there, so
/// each record with no identity is dead-lettered once.
#[tokio::test]
async fn a_pass_that_committed_though_its_answer_was_lost_is_not_applied_again() {
    let dir = tempfile::tempdir().unwrap();
    // The claim, the start offset kept, then the first batch's pass: committed, answered
    // with an error.
    let store = FailingWrites::losing_answers(&dir, Vec::new(), vec![3]);
    let ctx = context(&store, Arc::new(AllPoison));
    let source = Arc::new(Unidentified::default());
    let stored = |ctx: &Context| {
        ctx.store
            .read_with(|txn| crate::consumer::process::stored_offset(txn, "t", 0))
            .unwrap()
    };
    run_until(
        &ctx,
        Arc::new(Arc::clone(&source)),
        partition::Start::default(),
        |ctx| {
            // Past the batch: the read-ahead's fetch, then the next one's.
            stored(ctx) == Some(3) && source.past_end.load(Ordering::SeqCst) >= 2
        },
    )
    .await;
    let letters = store
        .read_with(|txn| crate::outbox::pending(txn, 0, 100))
        .unwrap();
    assert_eq!(letters.len(), 3, "one dead letter per record: {letters:?}");
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
    // The claim, the start offset kept, then the first batch's pass.
    let store = FailingWrites::open(&dir, vec![3]);
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

/// An offset reset to the earliest (the stored one was past the log's end: a topic made
/// again) is stored before the first pass after it, so a stored offset ahead of the loop's
/// only ever means a commit of ours: a first pass that fails is run again from the earliest,
/// not skipped to the old offset.
#[tokio::test(start_paused = true)]
async fn a_pass_that_fails_after_a_reset_to_the_earliest_is_run_again_from_there() {
    let dir = tempfile::tempdir().unwrap();
    // The claim, the start offset kept, the reset stored, then the first pass: refused.
    let store = FailingWrites::open(&dir, vec![4]);
    store
        .write(&mut |txn| {
            crate::store::put(
                txn,
                crate::store::Table::Offsets,
                &crate::consumer::process::offset_key("t", 0),
                &10i64,
            )
        })
        .unwrap();
    let ctx = context(&store, Arc::new(NoopHandler));
    let log = Arc::new(Log::new(0, 3));
    run_until(
        &ctx,
        Arc::new(Arc::clone(&log)),
        partition::Start::default(),
        |ctx| ctx.metrics.handled.get() == 3,
    )
    .await;
    assert_eq!(ctx.metrics.offset_resets.get(), 1);
    let stored = store
        .read_with(|txn| crate::consumer::process::stored_offset(txn, "t", 0))
        .unwrap();
    assert_eq!(stored, Some(3));
}

/// Refuses records "a" and "b" as the next release's events, always.
struct NewerRelease;

impl RecordHandler for NewerRelease {
    fn handle(&self, record: &FetchedRecord, _: &dyn ReadTxn) -> Result<Effects, RecordError> {
        if matches!(record.value.as_deref(), Some(b"a" | b"b")) {
            let why = "unsupported data version 3 (this build reads up to 2)".to_owned();
            return Err(RecordError::Failed(HandlerError::NewerRelease(why)));
        }
        Ok(Effects::default())
    }
}

/// An event of the next release (a rolling upgrade) holds its partition, tried every 10 s, for
/// up to 15 minutes, whatever `handler_attempts` says: an upgraded instance takes the
/// partition meanwhile. Only then is it dead-lettered; the next such event is dead-lettered at
/// once (no upgraded instance is coming), so the partition waits 15 minutes in all, and the
/// records behind them are handled.
#[tokio::test(start_paused = true)]
async fn an_event_of_the_next_release_holds_its_partition_for_the_patience() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    let ctx = context(&store, Arc::new(NewerRelease));
    let started = tokio::time::Instant::now();
    run_source(&ctx).await;
    let waited = started.elapsed();
    assert_eq!(ctx.metrics.dead_letters.get(), 2);
    assert_eq!(ctx.metrics.handled.get(), 1);
    let patience = crate::consumer::handler::NEWER_RELEASE_PATIENCE;
    assert!(waited >= patience && waited < patience * 2, "{waited:?}");
    let tries = ctx.metrics.handler_failures.get();
    assert!((91..=94).contains(&tries), "{tries} tries");
}

/// The patience is the partition's, not its loop's: a loop revoked after 10 minutes (an eager
/// rebalance revokes every partition) and the next one, started when the partition comes
/// back, dead-letter the event 15 minutes after its first try, not 15 minutes after the last
/// loop began, so rebalances every few minutes do not hold the partition for good.
#[tokio::test(start_paused = true)]
async fn an_event_of_the_next_release_keeps_its_patience_across_the_partitions_loops() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    let ctx = context(&store, Arc::new(NewerRelease));
    let started = tokio::time::Instant::now();
    let cancel = CancellationToken::new();
    let first = tokio::spawn(run(
        Arc::clone(&ctx),
        Arc::new(Source),
        0,
        partition::Start::default(),
        cancel.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(
        ctx.metrics.dead_letters.get(),
        0,
        "still within the patience"
    );
    let tries = ctx.metrics.handler_failures.get();
    cancel.cancel();
    first.await.unwrap();
    run_source(&ctx).await;
    let waited = started.elapsed();
    assert_eq!(ctx.metrics.dead_letters.get(), 2);
    let patience = crate::consumer::handler::NEWER_RELEASE_PATIENCE;
    assert!(
        waited >= patience && waited < patience + Duration::from_secs(30),
        "dead-lettered {waited:?} after the first try ({tries} tries in the first loop)"
    );
}
