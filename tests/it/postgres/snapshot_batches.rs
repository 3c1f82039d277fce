//! Consumer batches at snapshot isolation on PostgreSQL (`Store::write_at_snapshot`): batches
//! of different partitions do not make each other run again, and what SERIALIZABLE protected
//! still holds, because each batch writes every row its decisions rest on: a claim or a mark
//! committed after a batch's snapshot was taken makes that batch run again, and then it sees
//! them.

use std::sync::{
    Arc,
    atomic::{AtomicU32, Ordering},
};

use super::{blocking, pg_store};

use testkit::postgres::Postgres;
use usercenter::{
    consumer::{
        fence::{self, Claim, FenceError},
        process::{BatchInput, BatchOutcome, apply_batch},
    },
    event::{ContentType, DATA_VERSION, Envelope, EventData, Registered},
    kafka::records::FetchedRecord,
    pgstore::PgStore,
    store::{Store, StoreError, StoreExt, Table, WriteConflicts, get},
    users::{EventRecordHandler, UserEventHandler, handlers::times_applied},
};
use uuid::Uuid;

const TOPIC: &str = "user.events";

fn handler() -> EventRecordHandler<UserEventHandler> {
    EventRecordHandler(UserEventHandler {
        notifications: "user.notifications".into(),
        analytics: "user.analytics".into(),
    })
}

fn registered(user: u128) -> Envelope {
    Envelope {
        version: DATA_VERSION,
        id: Uuid::now_v7(),
        user_id: Uuid::from_u128(user),
        occurred_at: chrono::Utc::now(),
        request_id: "r".into(),
        producer_id: 5,
        sequence: 1,
        data: EventData::Registered(Registered {
            username: format!("u{user}"),
            email: format!("u{user}@example.com"),
        }),
    }
}

fn record(offset: i64, event: &Envelope) -> FetchedRecord {
    let enc = event.encode(ContentType::Postcard).unwrap();
    FetchedRecord::from_parts(offset, 0, Some(enc.key), Some(enc.value), &enc.headers)
}

fn input(partition: i32, next_offset: i64) -> BatchInput<'static> {
    BatchInput {
        topic: TOPIC,
        partition,
        next_offset,
        ends: next_offset,
        dlq_topic: "user.events.dlq",
        give_up: None,
        unreadable: None,
        now_ms: 1,
        handler_seconds: None,
        producer_id: 77,
    }
}

fn claim(store: &PgStore, partition: i32, generation: i32) -> Claim {
    store
        .write_with(|txn| fence::claim(txn, TOPIC, partition, generation))
        .unwrap()
}

/// A batch as the partition loop commits it: the fence check, then the records.
fn commit(
    store: &PgStore,
    ours: Claim,
    records: &[FetchedRecord],
    input: &BatchInput<'_>,
) -> Result<BatchOutcome, FenceError> {
    let handler = handler();
    store.write_at_snapshot_with(|txn| {
        fence::check(txn, TOPIC, input.partition, ours)?;
        Ok(apply_batch(txn, &handler, records, input)?)
    })
}

/// Four partitions' batches committed at once, each with new events of its own users: every
/// event is applied once, and no transaction ran again (at SERIALIZABLE, their reads of absent
/// marks and event-log entries at the end of the same index pages made them fail to
/// serialize against each other).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_of_different_partitions_commit_at_once_without_running_again() {
    let pg = Postgres::start().await;
    let store = pg_store(&pg).await;
    let (partitions, batches, per_batch): (i32, i32, i32) = (4, 25, 4);
    let events: Vec<Vec<Envelope>> = blocking({
        let store = Arc::clone(&store);
        move || {
            // Claims draw from one counter: one after another, before the batches.
            let claims: Vec<Claim> = (0..partitions).map(|p| claim(&store, p, 1)).collect();
            let workers: Vec<_> = (0..partitions)
                .zip(claims)
                .map(|(p, ours)| {
                    let store = Arc::clone(&store);
                    std::thread::spawn(move || {
                        let mut applied = Vec::new();
                        for b in 0..batches {
                            let events: Vec<Envelope> = (0..per_batch)
                                .map(|i| {
                                    registered(u128::try_from(p * 1000 + b * 10 + i).unwrap() + 1)
                                })
                                .collect();
                            let first = i64::from(b * per_batch);
                            let records: Vec<FetchedRecord> = (first..)
                                .zip(&events)
                                .map(|(offset, e)| record(offset, e))
                                .collect();
                            let outcome = commit(&store, ours, &records, &input(p, first)).unwrap();
                            assert_eq!(outcome.handled, u64::try_from(per_batch).unwrap());
                            applied.extend(events);
                        }
                        applied
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        }
    })
    .await;
    let store2 = Arc::clone(&store);
    blocking(move || {
        store2
            .read_with(|txn| {
                for e in events.iter().flatten() {
                    assert_eq!(times_applied(txn, &e.id)?, 1, "{}", e.id);
                }
                for p in 0..partitions {
                    let next = get::<i64>(txn, Table::Offsets, format!("{TOPIC}/{p}").as_bytes())?;
                    assert_eq!(next, Some(i64::from(batches * per_batch)), "partition {p}");
                }
                Ok::<_, StoreError>(())
            })
            .unwrap()
    })
    .await;
    assert_eq!(
        store.write_conflicts().unwrap(),
        WriteConflicts::default(),
        "a batch ran again"
    );
}

/// Runs `batch` at snapshot isolation; on its first attempt, once its snapshot is taken,
/// `meanwhile` commits from another connection first. How many attempts it took, and what
/// it returned.
fn racing<T>(
    store: &Arc<PgStore>,
    meanwhile: impl Fn(&PgStore) + Sync,
    batch: impl Fn(&mut dyn usercenter::store::WriteTxn) -> Result<T, FenceError>,
) -> (u32, Result<T, FenceError>) {
    let attempts = AtomicU32::new(0);
    let result = store.write_at_snapshot_with(|txn| {
        if attempts.fetch_add(1, Ordering::Relaxed) == 0 {
            // The first statement takes the snapshot.
            txn.get(Table::Meta, b"snapshot")?;
            std::thread::scope(|s| s.spawn(|| meanwhile(store)).join().unwrap());
        }
        batch(txn)
    });
    (attempts.load(Ordering::Relaxed), result)
}

/// A new owner claims the partition after the old owner's batch took its snapshot: the batch's
/// read of the fence still shows the old claim, but writing it back conflicts with the claim,
/// and the batch runs again and is fenced. Nothing of it is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_committed_after_a_batch_took_its_snapshot_fences_the_batch() {
    let pg = Postgres::start().await;
    let store = pg_store(&pg).await;
    let event = registered(7);
    let (attempts, result, newer) = blocking({
        let store = Arc::clone(&store);
        move || {
            let old = claim(&store, 0, 1);
            let newer = std::sync::OnceLock::new();
            let handler = handler();
            let records = [record(0, &event)];
            let (attempts, result) = racing(
                &store,
                |s| {
                    newer.set(claim(s, 0, 2)).unwrap();
                },
                |txn| {
                    fence::check(txn, TOPIC, 0, old)?;
                    Ok(apply_batch(txn, &handler, &records, &input(0, 0))?)
                },
            );
            (attempts, result.map(|o| o.handled), *newer.get().unwrap())
        }
    })
    .await;
    assert_eq!(attempts, 2, "the first attempt conflicted");
    match result {
        Err(FenceError::Fenced(f)) => assert_eq!(f.current, Some(newer)),
        other => panic!("the batch was not fenced: {other:?}"),
    }
    let offset = blocking(move || {
        store
            .read_with(|txn| get::<i64>(txn, Table::Offsets, format!("{TOPIC}/0").as_bytes()))
            .unwrap()
    })
    .await;
    assert_eq!(offset, None, "the fenced batch stored no offset");
}

/// The same event on two partitions (a copy written again by a mirror, or forged): partition
/// 1 handles it after partition 0's batch took its snapshot. Partition 0's read of the mark
/// shows nothing, but its own write of the event's count conflicts, and when it runs again it
/// skips the event: applied once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_handled_on_another_partition_after_a_batch_took_its_snapshot_is_skipped() {
    let pg = Postgres::start().await;
    let store = pg_store(&pg).await;
    let event = registered(9);
    let id = event.id;
    let (attempts, outcome) = blocking({
        let store = Arc::clone(&store);
        move || {
            let handler = handler();
            let on_1 = [record(40, &event)];
            let on_0 = [record(3, &event)];
            racing(
                &store,
                |s| {
                    let out = s
                        .write_at_snapshot_with(|txn| {
                            apply_batch(txn, &handler, &on_1, &input(1, 40))
                        })
                        .unwrap();
                    assert_eq!(out.handled, 1);
                },
                |txn| Ok(apply_batch(txn, &handler, &on_0, &input(0, 3))?),
            )
        }
    })
    .await;
    let outcome = outcome.unwrap();
    assert_eq!(attempts, 2, "the first attempt conflicted");
    assert_eq!((outcome.handled, outcome.duplicates), (0, 1));
    assert_eq!(outcome.next_offset, 4);
    let applied = blocking(move || store.read_with(|txn| times_applied(txn, &id)).unwrap()).await;
    assert_eq!(applied, 1);
}
