//! Where the partition loop starts and how its offset moves: the later of the store's and the
//! group's offsets, else the start policy; a reset fenced or cancelled; a throttled fetch. What the
//! loop does at and near the log end is in `log_end`.
use super::*;
use crate::store::{StoreExt, Table};

fn new_store() -> (tempfile::TempDir, Arc<dyn crate::store::Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn crate::store::Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    (dir, store)
}

fn set_stored(store: &Arc<dyn crate::store::Store>, offset: i64) {
    store
        .write(&mut |txn| {
            crate::store::put(txn, Table::Offsets, &process::offset_key("t", 0), &offset)
        })
        .unwrap();
}

fn stored(store: &Arc<dyn crate::store::Store>) -> Option<i64> {
    store
        .read_with(|txn| process::stored_offset(txn, "t", 0))
        .unwrap()
}

/// `log` as the partition loop's source.
fn source(log: &Arc<Log>) -> Arc<dyn PartitionSource> {
    Arc::new(Arc::clone(log))
}

fn committed(committed: Option<i64>) -> partition::Start {
    partition::Start {
        committed,
        ..partition::Start::default()
    }
}

/// The loop of partition 0 of `log` on a task of its own, with no group offset, and its
/// cancellation token.
fn spawn_loop(
    ctx: &Arc<Context>,
    log: &Arc<Log>,
) -> (tokio::task::JoinHandle<()>, CancellationToken) {
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run(
        Arc::clone(ctx),
        source(log),
        0,
        committed(None),
        cancel.clone(),
    ));
    (task, cancel)
}

/// Where the first fetch asks from, with the store's and the group's offsets given.
async fn first_fetch(stored: Option<i64>, group: Option<i64>, start: StartPolicy) -> i64 {
    first_fetch_in(Log::new(2, 9), stored, group, start).await
}

/// [`first_fetch`] on `log`.
async fn first_fetch_in(
    log: Log,
    stored: Option<i64>,
    group: Option<i64>,
    start: StartPolicy,
) -> i64 {
    let (_dir, store) = new_store();
    if let Some(offset) = stored {
        set_stored(&store, offset);
    }
    let mut ctx = context(&store, Arc::new(NoopHandler));
    Arc::get_mut(&mut ctx).unwrap().config.start = start;
    let log = Arc::new(log);
    run_until(&ctx, source(&log), committed(group), |_| {
        !log.fetches().is_empty()
    })
    .await;
    log.fetches()[0]
}

#[tokio::test]
async fn the_loop_starts_from_the_later_of_the_stored_and_the_committed_offset() {
    let earliest = StartPolicy::Earliest;
    // Another member of the group handled the partition up to 7 since we stored 5.
    assert_eq!(first_fetch(Some(5), Some(7), earliest).await, 7);
    // We handled records whose offsets did not reach the group yet.
    assert_eq!(first_fetch(Some(5), Some(3), earliest).await, 5);
    assert_eq!(first_fetch(Some(5), Some(5), earliest).await, 5);
    assert_eq!(first_fetch(Some(5), None, earliest).await, 5);
    assert_eq!(first_fetch(None, Some(4), earliest).await, 4);
    // A group offset past the log end (9) names no record: a member committed it by mistake
    // or in malice. The store's offset, else the start policy, instead of a reset to the
    // earliest offset and the whole log read again.
    assert_eq!(first_fetch(Some(5), Some(1 << 40), earliest).await, 5);
    assert_eq!(first_fetch(None, Some(10), StartPolicy::Latest).await, 9);
    assert_eq!(first_fetch(Some(5), Some(9), earliest).await, 9);
    // Neither: the start policy (the earliest offset is 2, the log end 9). It does not apply
    // when an offset exists.
    assert_eq!(first_fetch(None, None, earliest).await, 2);
    assert_eq!(first_fetch(None, None, StartPolicy::Latest).await, 9);
    assert_eq!(first_fetch(Some(5), None, StartPolicy::Latest).await, 5);
}

/// The group's offset taken over the store's becomes the store's, even where nothing is left
/// to handle: the consumer commits the store's offsets to the group, and the older one would
/// move the group's back (a later owner would then handle 5..7 again).
#[tokio::test]
async fn a_group_offset_taken_is_stored_before_the_first_fetch() {
    let (_dir, store) = new_store();
    set_stored(&store, 5);
    let ctx = context(&store, Arc::new(NoopHandler));
    let log = Arc::new(Log::new(2, 7));
    run_until(&ctx, source(&log), committed(Some(7)), |_| {
        !log.fetches().is_empty()
    })
    .await;
    assert_eq!(log.fetches()[0], 7);
    assert_eq!(stored(&store), Some(7));
    assert_eq!(ctx.metrics.handled.get(), 0);
}

/// A transaction open from 150 to the high watermark 200: a member reading read_uncommitted
/// (Sarama's default) read on and committed 180. That is below the log end, not past it: the
/// loop starts there (and its read_committed fetch waits for the transaction to end), rather
/// than from the store's 100, which would handle 100..180 a second time.
#[tokio::test]
async fn a_group_offset_past_an_open_transaction_is_within_the_log() {
    let open = || Log {
        open_from: Some(150),
        ..Log::new(0, 200)
    };
    let earliest = StartPolicy::Earliest;
    assert_eq!(
        first_fetch_in(open(), Some(100), Some(180), earliest).await,
        180
    );
    assert_eq!(
        first_fetch_in(open(), Some(100), Some(200), earliest).await,
        200
    );
    assert_eq!(
        first_fetch_in(open(), Some(100), Some(201), earliest).await,
        100
    );
}

#[tokio::test]
async fn a_start_offset_that_cannot_be_read_is_asked_for_again() {
    let (_dir, store) = new_store();
    let ctx = context(&store, Arc::new(NoopHandler));
    let log = Arc::new(Log::new(0, 3));
    log.offset_failures.store(1, Ordering::SeqCst);
    run_until(&ctx, source(&log), committed(None), |ctx| {
        ctx.metrics.handled.get() == 3
    })
    .await;
    assert_eq!(log.fetches()[0], 0);
}

/// The group mode commits a partition's store offset to the group only once the loop said it
/// stored its start (`Start::started`). Until then the store holds an older offset than the
/// group's (5 against 7, another member handled 5..7 since), and committing it would move the
/// group's back: here the start waits on a log end that cannot be read at first.
#[tokio::test]
async fn the_loop_says_it_started_only_once_its_start_is_stored() {
    let (_dir, store) = new_store();
    set_stored(&store, 5);
    let ctx = context(&store, Arc::new(NoopHandler));
    let log = Arc::new(Log::new(2, 9));
    log.offset_failures.store(2, Ordering::SeqCst);
    let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let start = partition::Start {
        committed: Some(7),
        started: Some(Arc::clone(&started)),
        ..partition::Start::default()
    };
    let seen_before = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (store_seen, seen) = (Arc::clone(&store), Arc::clone(&seen_before));
    run_until(&ctx, source(&log), start, move |_| {
        let flag = started.load(Ordering::Acquire);
        if !flag && stored(&store_seen) == Some(5) {
            seen.store(true, Ordering::SeqCst);
        }
        // Set only with the group's offset stored (or the records after it handled).
        assert!(
            !flag || stored(&store_seen) >= Some(7),
            "started before its start was stored"
        );
        flag
    })
    .await;
    assert!(
        seen_before.load(Ordering::SeqCst),
        "the wait before the start was not seen"
    );
    assert!(stored(&store) >= Some(7));
}

/// A loop whose partition another owner claimed while its offset was past the log's end ends
/// at the reset, as after a fenced batch, instead of asking again (and waiting out the
/// patience again) for good: its supervisor can then claim the partition back.
#[tokio::test(start_paused = true)]
async fn a_loop_fenced_when_it_resets_to_the_earliest_ends() {
    let (_dir, store) = new_store();
    set_stored(&store, 10);
    let ctx = context(&store, Arc::new(NoopHandler));
    let log = Arc::new(Log::new(0, 3));
    let (task, cancel) = spawn_loop(&ctx, &log);
    // Once the loop runs (it has fetched), another owner claims the partition.
    while log.asked(10) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    store
        .write_with(|txn| crate::consumer::fence::claim(txn, "t", 0, 7).map(|_| ()))
        .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(600), task).await;
    assert!(
        ended.is_ok(),
        "the loop still runs: {:?}",
        log.fetches().len()
    );
    // It ended by itself: the token it was given is the caller's (in static mode, the whole
    // consumer's), not its own to cancel.
    assert!(!cancel.is_cancelled());
    assert_eq!(ctx.metrics.offset_resets.get(), 0);
    assert_eq!(
        stored(&store),
        Some(10),
        "nothing stored by the fenced loop"
    );
}

/// A loop whose offset is out of range and whose broker holds the earliest-offset lookup
/// (a frozen leader: 40 s until the request times out) ends as soon as it is cancelled (a
/// revocation, the shutdown), not when the lookup gives up.
#[tokio::test(start_paused = true)]
async fn a_loop_cancelled_while_it_looks_up_the_earliest_offset_ends_at_once() {
    let (_dir, store) = new_store();
    set_stored(&store, 10);
    let ctx = context(&store, Arc::new(NoopHandler));
    let log = Arc::new(Log {
        offset_delay: Duration::from_secs(3600),
        ..Log::new(0, 3)
    });
    let (task, cancel) = spawn_loop(&ctx, &log);
    // Past the patience the loop looks the earliest offset up, which does not answer.
    while log.fetch_times().last().is_none_or(|&last| {
        log.fetch_times()
            .first()
            .is_none_or(|&first| last - first < partition::PAST_END_PATIENCE)
    }) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let cancelled = tokio::time::Instant::now();
    assert!(
        log.fetch_times()
            .last()
            .is_some_and(|&last| cancelled - last > Duration::from_secs(4)),
        "the loop still fetches: it is not in the lookup"
    );
    cancel.cancel();
    let ended = tokio::time::timeout(Duration::from_secs(60), task).await;
    assert!(ended.is_ok(), "the loop waits for the lookup");
    assert!(cancelled.elapsed() < Duration::from_secs(1));
    assert_eq!(ctx.metrics.offset_resets.get(), 0);
    assert_eq!(stored(&store), Some(10), "nothing stored");
}

/// A throttled answer (Kafka's over a quota) is no failure: the loop asks again at once (the
/// connection holds the next request until the throttle is over), counts nothing and reads on.
#[tokio::test(start_paused = true)]
async fn a_throttled_fetch_is_asked_again_at_once_and_counted_as_no_failure() {
    let (_dir, store) = new_store();
    let ctx = context(&store, Arc::new(NoopHandler));
    let log = Arc::new(Log {
        throttled_first: 2.into(),
        ..Log::new(0, 3)
    });
    run_until(&ctx, source(&log), committed(Some(0)), |ctx| {
        ctx.metrics.handled.get() == 3
    })
    .await;
    assert_eq!(ctx.metrics.fetch_failures.get(), 0);
    let times = log.fetch_times();
    assert_eq!(
        &log.fetches()[..3],
        &[0, 0, 0],
        "asked again from where it was"
    );
    assert!(times[2] - times[0] < partition::RETRY, "{times:?}");
}

mod log_end;
