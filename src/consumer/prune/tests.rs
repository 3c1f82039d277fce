//! Pruning against the real store: only what is older than the horizon goes, in batches, with
//! the event-log entries of the marks that go.
use super::*;
use crate::{
    consumer::{
        Effects, HandlerResult, Write,
        process::{BatchInput, apply_batch},
    },
    event::{ContentType, Envelope, EventType, Registered, fixtures},
    store::RedbStore,
    users::{EventHandler, EventRecordHandler},
};

/// Counts each event in the event log, as the users' handlers do.
struct Logging;

impl EventHandler for Logging {
    fn registered(&self, e: &Envelope, _: &Registered, _: &dyn ReadTxn) -> HandlerResult {
        Ok(Effects {
            writes: vec![Write::Put {
                table: Table::EventLog,
                key: e.id.as_bytes().to_vec(),
                value: postcard::to_allocvec(&1u32).unwrap(),
            }],
            outputs: Vec::new(),
        })
    }
}

/// Event `i`, handled by a pass at time `now_ms`.
fn handle(store: &RedbStore, i: u64, now_ms: i64) {
    let mut e = fixtures::sample(EventType::Registered);
    e.id = uuid::Uuid::from_u128(u128::from(i) + 1);
    e.sequence = i;
    let enc = e.encode(ContentType::Postcard).unwrap();
    let record = crate::kafka::records::FetchedRecord::from_parts(
        i as i64,
        0,
        Some(enc.key),
        Some(enc.value),
        &enc.headers,
    );
    let input = BatchInput {
        topic: "user.events",
        partition: 0,
        next_offset: i as i64,
        ends: i as i64,
        dlq_topic: "dlq",
        give_up: None,
        unreadable: None,
        now_ms,
        handler_seconds: None,
        producer_id: 1,
    };
    store
        .write_with(|txn| {
            apply_batch(
                txn,
                &EventRecordHandler(Logging),
                std::slice::from_ref(&record),
                &input,
            )
        })
        .unwrap();
}

fn sizes_of(store: &RedbStore) -> (u64, u64) {
    store.read_with(sizes).unwrap()
}

#[test]
fn marks_older_than_the_horizon_go_with_their_event_log_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    for i in 0..10 {
        // Five old ones (time 1000), five recent (time 5000).
        handle(&store, i, if i < 5 { 1_000 } else { 5_000 });
    }
    assert_eq!(sizes_of(&store), (10, 10));
    let pruned = prune(&store, 5_000, &CancellationToken::new()).unwrap();
    assert_eq!(
        pruned,
        Pruned {
            marks: 5,
            event_log: 5
        }
    );
    assert_eq!(sizes_of(&store), (5, 5));
    store
        .read(&mut |txn| {
            for i in 0..10u128 {
                let id = uuid::Uuid::from_u128(i + 1);
                let kept = txn.get(Table::EventLog, id.as_bytes())?.is_some();
                assert_eq!(kept, i >= 5, "event {i}");
            }
            Ok(())
        })
        .unwrap();
    // Nothing more is old enough.
    assert_eq!(
        prune(&store, 5_000, &CancellationToken::new()).unwrap(),
        Pruned::default()
    );
}

#[test]
fn pruning_goes_in_batches_and_takes_marks_of_the_old_format() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let n = BATCH as u64 * 2 + 500;
    store
        .write(&mut |txn| {
            for i in 0..n {
                let key = format!("p/9/{i:06}");
                if i % 2 == 0 {
                    // A mark of the old format: the time alone.
                    store::put(txn, Table::Dedupe, key.as_bytes(), &(i as i64))?;
                } else {
                    mark(txn, key.as_bytes(), i as i64, None)?;
                }
            }
            Ok(())
        })
        .unwrap();
    // One batch: at most BATCH keys looked at, and where to go on.
    let (first, next) = store
        .write_with(|txn| prune_batch(txn, b"", 1_000, BATCH))
        .unwrap();
    assert_eq!(first.marks, 1_000);
    assert!(next.is_some());
    let pruned = prune(&store, 2_000, &CancellationToken::new()).unwrap();
    assert_eq!(pruned.marks, 1_000, "the marks seen from 1000 to 1999");
    assert_eq!(sizes_of(&store).0, n - 2_000);
}

/// Marks of an earlier version kept the event id in their value, under a key that does not
/// hold it: pruning such a mark takes its event-log entry all the same.
#[test]
fn a_mark_with_the_event_id_in_its_value_takes_its_event_log_entry() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let id = [7; 16];
    store
        .write(&mut |txn| {
            mark(txn, b"p/9/1", 1_000, Some(id))?;
            store::put(txn, Table::EventLog, &id, &1u32)
        })
        .unwrap();
    assert_eq!(sizes_of(&store), (1, 1));
    let pruned = prune(&store, 2_000, &CancellationToken::new()).unwrap();
    assert_eq!(
        pruned,
        Pruned {
            marks: 1,
            event_log: 1
        }
    );
    assert_eq!(sizes_of(&store), (0, 0));
}

/// The pruning task prunes at once when it starts, then every interval, and sets the size
/// gauges and counters.
#[tokio::test]
async fn the_pruning_task_prunes_at_start_and_reports_what_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path()).unwrap());
    let now_ms = chrono::Utc::now().timestamp_millis();
    // Two marks from two hours ago, one from now; a horizon of one hour.
    for (i, at) in [
        (0, now_ms - 7_200_000),
        (1, now_ms - 7_200_000),
        (2, now_ms),
    ] {
        handle(&store, i, at);
    }
    let metrics = Arc::new(ConsumerMetrics::default());
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run(
        Arc::clone(&store) as Arc<dyn Store>,
        Duration::from_secs(3_600),
        Duration::from_secs(3_600),
        Arc::clone(&metrics),
        cancel.clone(),
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    // The gauge set last, once the first prune is done.
    while metrics.event_log_entries.get() == 0 {
        assert!(std::time::Instant::now() < deadline, "nothing pruned");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cancel.cancel();
    task.await.unwrap();
    assert_eq!(metrics.pruned_marks.get(), 2);
    assert_eq!(metrics.pruned_event_log.get(), 2);
    assert_eq!(metrics.dedupe_marks.get(), 1);
    assert_eq!(metrics.event_log_entries.get(), 1);
    assert_eq!(sizes_of(&store), (1, 1));
}

#[test]
fn a_cancelled_prune_removes_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    for i in 0..3 {
        handle(&store, i, 1_000);
    }
    let cancel = CancellationToken::new();
    cancel.cancel();
    assert_eq!(prune(&store, 5_000, &cancel).unwrap(), Pruned::default());
    assert_eq!(
        sizes_of(&store),
        (3, 3),
        "the stop came before the first batch"
    );
}
