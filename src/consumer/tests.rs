//! The partition loop against a mock source: handler retries with backoff, then the dead letter;
//! and the supervisor's choice of partitions.
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::{
    handler::{RecordError, RecordHandler},
    partition::{Context, run},
    source::{PartitionSource, SourceError},
    static_mode::to_start,
    *,
};
use crate::{
    kafka::{
        protocol::{Fetched, OffsetQuery},
        records::FetchedRecord,
    },
    store::{ReadTxn, RedbStore},
};

/// Three records at offsets 0..3 with ids a, b, c; then nothing.
struct Source;

/// A fetch's answer: `records` in batches that end at `next_offset`, from a partition whose
/// high watermark and last stable offset are `end`.
fn answer(records: Vec<FetchedRecord>, next_offset: Option<i64>, end: i64) -> Fetched {
    Fetched {
        records,
        next_offset,
        unreadable: None,
        high_watermark: end,
        last_stable_offset: end,
    }
}

fn rec(offset: i64, id: &str) -> FetchedRecord {
    FetchedRecord::from_parts(
        offset,
        0,
        None,
        Some(id.as_bytes().to_vec()),
        &[("ce_id".to_owned(), id.as_bytes().to_vec())]
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
    )
}

impl PartitionSource for Source {
    fn fetch(&self, offset: i64, _: i32, _: i32) -> BoxFuture<'_, Result<Fetched, SourceError>> {
        Box::pin(async move {
            if offset >= 3 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Ok(answer(vec![], None, 3));
            }
            Ok(answer(
                vec![rec(0, "a"), rec(1, "b"), rec(2, "c")],
                Some(3),
                3,
            ))
        })
    }

    fn offset(&self, _: OffsetQuery) -> BoxFuture<'_, Result<i64, SourceError>> {
        Box::pin(async { Ok(0) })
    }
}

/// "b" fails twice then works; "c" always fails.
#[derive(Default)]
struct Flaky {
    b_attempts: AtomicU32,
    c_attempts: AtomicU32,
}

impl RecordHandler for Arc<Flaky> {
    fn handle(&self, record: &FetchedRecord, _: &dyn ReadTxn) -> Result<Effects, RecordError> {
        let fail = |why: &str| Err(RecordError::Failed(HandlerError::refused(why)));
        match record.value.as_deref() {
            Some(b"b") if self.b_attempts.fetch_add(1, Ordering::SeqCst) < 2 => fail("b not yet"),
            Some(b"c") => {
                self.c_attempts.fetch_add(1, Ordering::SeqCst);
                fail("c never")
            }
            _ => Ok(Effects::default()),
        }
    }
}

/// A partition loop's context over `store` with `handler`, attempts 4, backoff 10 ms.
fn context(store: &Arc<dyn crate::store::Store>, handler: Arc<dyn RecordHandler>) -> Arc<Context> {
    Arc::new(Context {
        topic: "t".into(),
        config: ConsumerConfig {
            handler_attempts: 4,
            handler_backoff_ms: 10,
            ..Default::default()
        },
        store: Arc::clone(store),
        handler,
        metrics: Arc::new(ConsumerMetrics::default()),
        producer_id: 1,
        outbox_wake: Arc::new(tokio::sync::Notify::new()),
        dead_log: dead_log::DeadLetterLog::default(),
        held: partition::held::HeldRecords::default(),
    })
}

/// Runs partition 0 of `source` from `start` until `done`, then stops it.
async fn run_until(
    ctx: &Arc<Context>,
    source: Arc<dyn PartitionSource>,
    start: partition::Start,
    done: impl Fn(&Context) -> bool,
) {
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run(Arc::clone(ctx), source, 0, start, cancel.clone()));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !done(ctx) {
        assert!(std::time::Instant::now() < deadline, "loop stuck");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cancel.cancel();
    task.await.unwrap();
}

/// Runs partition 0 of [`Source`] until its three records are handled or dead-lettered.
async fn run_source(ctx: &Arc<Context>) {
    run_until(ctx, Arc::new(Source), partition::Start::default(), |ctx| {
        ctx.metrics.handled.get() + ctx.metrics.dead_letters.get() >= 3
    })
    .await;
}

#[tokio::test]
async fn failing_handlers_retry_with_backoff_then_dead_letter() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn crate::store::Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    let flaky = Arc::new(Flaky::default());
    let ctx = context(&store, Arc::new(Arc::clone(&flaky)));
    run_source(&ctx).await;
    let metrics = &ctx.metrics;
    assert_eq!(metrics.handled.get(), 2, "a, and b on its third attempt");
    assert_eq!(metrics.dead_letters.get(), 1, "c after 4 attempts");
    assert_eq!(flaky.b_attempts.load(Ordering::SeqCst), 3);
    assert_eq!(flaky.c_attempts.load(Ordering::SeqCst), 4);
    assert_eq!(metrics.handler_failures.get(), 2 + 4);
    let mut offset = None;
    store
        .read(&mut |txn| {
            offset = process::stored_offset(txn, "t", 0)?;
            Ok(())
        })
        .unwrap();
    assert_eq!(offset, Some(3));
}

/// Panics on "b" (a defect a forged record could find).
struct PanicsOnB;

impl RecordHandler for PanicsOnB {
    fn handle(&self, record: &FetchedRecord, _: &dyn ReadTxn) -> Result<Effects, RecordError> {
        assert!(
            record.value.as_deref() != Some(b"b"),
            "b breaks the handler"
        );
        Ok(Effects::default())
    }
}

/// A handler that panics on a record failed on it: tried `handler_attempts` times, then the
/// record is dead-lettered with the panic's message and the partition goes on (a pass that
/// panicked was run again for ever).
#[tokio::test]
async fn a_handler_that_panics_on_a_record_fails_it_and_the_partition_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn crate::store::Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    let ctx = context(&store, Arc::new(PanicsOnB));
    run_source(&ctx).await;
    let metrics = &ctx.metrics;
    assert_eq!(metrics.handled.get(), 2, "a and c");
    assert_eq!(metrics.dead_letters.get(), 1, "b after 4 attempts");
    assert_eq!(metrics.handler_failures.get(), 4);
    let rows = crate::store::StoreExt::read_with(&*store, |txn| crate::outbox::pending(txn, 0, 10))
        .unwrap();
    let error = &rows[0].1.headers["dlq_error"];
    assert!(
        String::from_utf8_lossy(error).contains("b breaks the handler"),
        "{}",
        String::from_utf8_lossy(error)
    );
}

#[test]
fn new_owned_partitions_are_started_once() {
    let config = ConsumerConfig {
        instance: 1,
        instances: 2,
        ..Default::default()
    };
    let mut running = BTreeSet::new();
    let first: BTreeSet<i32> = (0..4).collect();
    let started = to_start(&config, &first, &running);
    assert_eq!(started, vec![1, 3]);
    running.extend(started);
    // The topic grew to 8 partitions.
    let grown: BTreeSet<i32> = (0..8).collect();
    assert_eq!(to_start(&config, &grown, &running), vec![5, 7]);
}

/// Refuses "b" as poison.
struct PoisonB;

impl RecordHandler for PoisonB {
    fn handle(&self, record: &FetchedRecord, _: &dyn ReadTxn) -> Result<Effects, RecordError> {
        match record.value.as_deref() {
            Some(b"b") => Err(RecordError::Poison("b is not an event".into())),
            _ => Ok(Effects::default()),
        }
    }
}

/// Everything a `tracing` subscriber writes, as text.
#[derive(Clone, Default)]
struct Captured(Arc<parking_lot::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_dead_letter_is_logged_at_warn_with_its_source_and_reason() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn crate::store::Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    let ctx = context(&store, Arc::new(PoisonB));
    run_source(&ctx).await;
    assert_eq!(ctx.metrics.dead_letters.get(), 1);
    let text = String::from_utf8(captured.0.lock().clone()).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("dead-letter topic"))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    for field in [
        " WARN ",
        "topic=\"t\"",
        "partition=0",
        "offset=1",
        "reason=\"b is not an event\"",
    ] {
        assert!(lines[0].contains(field), "{field} in {}", lines[0]);
    }
}

/// Holds the first record until the source has been asked for the next batch (5 s at most)
/// and notes whether it was.
struct AwaitReadAhead {
    source: Arc<Log>,
    asked_in_time: std::sync::atomic::AtomicBool,
}

impl RecordHandler for Arc<AwaitReadAhead> {
    fn handle(&self, record: &FetchedRecord, _: &dyn ReadTxn) -> Result<Effects, RecordError> {
        if record.offset == 0 {
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while std::time::Instant::now() < deadline {
                if self.source.asked(3) > 0 {
                    self.asked_in_time.store(true, Ordering::SeqCst);
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        Ok(Effects::default())
    }
}

#[tokio::test]
async fn the_next_batch_is_fetched_while_one_is_handled_and_used_once() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn crate::store::Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    // Batches of three records from offset 0 to 6, then a 3 s long poll.
    let source = Arc::new(Log {
        end_poll: Duration::from_secs(3),
        ..Log::new(0, 6)
    });
    let handler = Arc::new(AwaitReadAhead {
        source: Arc::clone(&source),
        asked_in_time: false.into(),
    });
    let ctx = context(&store, Arc::new(Arc::clone(&handler)));
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run(
        Arc::clone(&ctx),
        Arc::new(Arc::clone(&source)),
        0,
        partition::Start::default(),
        cancel.clone(),
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while ctx.metrics.handled.get() < 6 {
        assert!(std::time::Instant::now() < deadline, "loop stuck");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The lag follows the commit, not the read-ahead's long poll from offset 6.
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while ctx.metrics.lag().get(&0) != Some(&0) {
        assert!(
            std::time::Instant::now() < deadline,
            "lag {:?} after the last batch was committed",
            ctx.metrics.lag()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cancel.cancel();
    task.await.unwrap();
    assert!(
        handler.asked_in_time.load(Ordering::SeqCst),
        "the fetch from offset 3 was not issued while offsets 0..3 were being handled"
    );
    let fetches = source.fetches();
    assert_eq!(&fetches[..2], &[0, 3], "{fetches:?}");
    assert_eq!(source.asked(3), 1, "{fetches:?}");
    assert_eq!(ctx.metrics.duplicates.get(), 0);
}

mod large_batch;
mod log;
mod miscounted;
mod offsets;
mod operator_reset;
mod retries;
mod stalled_lag;

use log::Log;
