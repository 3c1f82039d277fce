//! Dedupe through whole passes on the real store: no record is dropped as a false duplicate
//! (interleaved producers, a restart under a new producer id, gaps, several partitions, a
//! forged sequence), copies are (within a pass, across passes, under another producer id),
//! and poison marks are per partition.
use std::collections::BTreeMap;

use crate::{
    consumer::{
        NoopHandler, RecordError, RecordHandler,
        process::{BatchInput, BatchOutcome, apply_batch},
    },
    event::header,
    kafka::records::FetchedRecord,
    store::{ReadTxn, RedbStore, StoreExt, Table},
};

/// A record of `producer` with `sequence` and the event id `{producer}-{sequence}` at `offset`.
fn rec(offset: i64, producer: u64, sequence: u64) -> FetchedRecord {
    rec_with(offset, producer, sequence, |_| {})
}

/// [`rec`] with its headers edited.
fn rec_with(
    offset: i64,
    producer: u64,
    sequence: u64,
    edit: impl FnOnce(&mut BTreeMap<String, Vec<u8>>),
) -> FetchedRecord {
    let mut headers: BTreeMap<String, Vec<u8>> = [
        (header::PRODUCER_ID, producer.to_string()),
        (header::SEQUENCE, sequence.to_string()),
        (header::ID, format!("{producer}-{sequence}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into_bytes()))
    .collect();
    edit(&mut headers);
    FetchedRecord::from_parts(offset, 0, None, Some(b"v".to_vec()), &headers)
}

/// Records at consecutive offsets from `first`, one per (producer, sequence).
fn batch(first: i64, ids: &[(u64, u64)]) -> Vec<FetchedRecord> {
    ids.iter()
        .enumerate()
        .map(|(i, &(p, s))| rec(first + i as i64, p, s))
        .collect()
}

fn input(partition: i32, records: &[FetchedRecord]) -> BatchInput<'static> {
    BatchInput {
        topic: "user.events",
        partition,
        next_offset: records.first().map_or(0, |r| r.offset),
        ends: 0,
        dlq_topic: "dlq",
        give_up: None,
        unreadable: None,
        now_ms: 1,
        handler_seconds: None,
        producer_id: 1,
    }
}

fn run_with(
    store: &RedbStore,
    handler: &dyn RecordHandler,
    partition: i32,
    records: &[FetchedRecord],
) -> BatchOutcome {
    let input = input(partition, records);
    store
        .write_with(|txn| apply_batch(txn, handler, records, &input))
        .unwrap()
}

fn run(store: &RedbStore, partition: i32, records: &[FetchedRecord]) -> BatchOutcome {
    run_with(store, &NoopHandler, partition, records)
}

fn store() -> (tempfile::TempDir, RedbStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    (dir, store)
}

#[test]
fn interleaved_producers_restarts_and_gaps_lose_nothing() {
    let (_dir, store) = store();
    // Two producers interleaved, each with gaps; then producer 1 restarts as producer 3 from 0.
    let ids = [
        (1, 0),
        (2, 7),
        (1, 1),
        (2, 9),
        (1, 5),
        (2, 10),
        (3, 0),
        (3, 1),
        (1, 6),
    ];
    let out = run(&store, 0, &batch(0, &ids));
    assert_eq!((out.handled, out.duplicates), (ids.len() as u64, 0));
    let out = run(&store, 0, &batch(20, &[(2, 11), (3, 2), (1, 100), (2, 50)]));
    assert_eq!((out.handled, out.duplicates), (4, 0));
    // Records out of sequence order (another team's producer) are no trouble either.
    let out = run(&store, 1, &batch(0, &[(1, 9), (1, 3), (2, 0)]));
    assert_eq!((out.handled, out.duplicates), (3, 0));
}

/// Finding 1 of the integrity issue: one record that copies our `ce_producerid` with a huge
/// `ce_sequence` made every later record of that producer on the partition a "duplicate".
#[test]
fn a_forged_sequence_hides_no_later_record() {
    let (_dir, store) = store();
    let forged = rec_with(2, 1, 1_000_000_000_000_000_000, |h| {
        h.insert(header::ID.into(), b"forged".to_vec());
    });
    let mut records = batch(0, &[(1, 0), (1, 1)]);
    records.push(forged);
    let out = run(&store, 0, &records);
    assert_eq!(
        (out.handled, out.duplicates),
        (3, 0),
        "the forged record is a record"
    );
    // The producer's real records after it, in this pass and the next, are all handled.
    let out = run(&store, 0, &batch(3, &[(1, 2), (1, 3)]));
    assert_eq!((out.handled, out.duplicates), (2, 0));
    let out = run(&store, 0, &batch(5, &[(1, 4)]));
    assert_eq!((out.handled, out.duplicates), (1, 0));
}

/// Finding 2: a copy of an event under another producer id (a mirror, a replay by another
/// tool) was applied again, since the producer id and sequence decided alone.
#[test]
fn an_event_id_is_applied_once_whatever_producer_id_it_carries() {
    let (_dir, store) = store();
    let out = run(&store, 0, &batch(0, &[(1, 0)]));
    assert_eq!(out.handled, 1);
    let copy = |offset, producer, sequence| {
        rec_with(offset, producer, sequence, |h| {
            h.insert(header::ID.into(), b"1-0".to_vec());
        })
    };
    // The same event under another producer id and sequence, on this partition and another.
    let out = run(&store, 0, &[copy(1, 9, 44)]);
    assert_eq!((out.handled, out.duplicates), (0, 1));
    let out = run(&store, 3, &[copy(0, 8, 0)]);
    assert_eq!((out.handled, out.duplicates), (0, 1));
}

#[test]
fn copies_are_dropped_within_a_pass_and_across_passes() {
    let (_dir, store) = store();
    // A producer retry inside one fetch: 0, 1, 2, then 1, 2 again, then 3.
    let out = run(
        &store,
        0,
        &batch(0, &[(1, 0), (1, 1), (1, 2), (1, 1), (1, 2), (1, 3)]),
    );
    assert_eq!((out.handled, out.duplicates), (4, 2));
    // An outbox replay after a crash, in a later pass: all copies, then one new record.
    let out = run(&store, 0, &batch(10, &[(1, 2), (1, 3), (1, 4)]));
    assert_eq!((out.handled, out.duplicates), (1, 2));
    // One mark per handled record, under its event id.
    let keys = store
        .read_with(|txn| txn.range_from(Table::Dedupe, b"", 100))
        .unwrap();
    let keys: Vec<&[u8]> = keys.iter().map(|(k, _)| k.as_slice()).collect();
    let want: Vec<&[u8]> = vec![b"e/1-0", b"e/1-1", b"e/1-2", b"e/1-3", b"e/1-4"];
    assert_eq!(keys, want);
}

#[test]
fn records_without_an_event_id_are_marked_by_producer_and_sequence_as_written() {
    let (_dir, store) = store();
    let no_id = |offset, sequence: &[u8]| {
        rec_with(offset, 1, 0, |h| {
            h.remove(header::ID);
            h.insert(header::SEQUENCE.into(), sequence.to_vec());
        })
    };
    let out = run(&store, 0, &[no_id(0, b"5"), no_id(1, b"not-a-number")]);
    assert_eq!((out.handled, out.duplicates), (2, 0));
    let out = run(
        &store,
        0,
        &[no_id(5, b"5"), no_id(6, b"not-a-number"), no_id(7, b"6")],
    );
    assert_eq!((out.handled, out.duplicates), (1, 2));
}

/// Refuses every record as poison.
struct Poisoned;

impl RecordHandler for Poisoned {
    fn handle(
        &self,
        _: &FetchedRecord,
        _: &dyn ReadTxn,
    ) -> Result<crate::consumer::handler::Effects, RecordError> {
        Err(RecordError::Poison("does not decode".into()))
    }
}

/// Finding 3: poison marks were shared across partitions, so copies of one poison record on
/// partitions 1 and 2 were skipped as duplicates and never reached the dead-letter topic.
#[test]
fn every_partition_dead_letters_its_copy_of_a_poison_record_once() {
    let (_dir, store) = store();
    for partition in [1, 2] {
        let out = run_with(&store, &Poisoned, partition, &batch(0, &[(7, 1), (7, 1)]));
        assert_eq!((out.dead, out.duplicates), (1, 1), "partition {partition}");
        // Read again later (a copy from a producer retry): not dead-lettered twice.
        let out = run_with(&store, &Poisoned, partition, &batch(9, &[(7, 1)]));
        assert_eq!((out.dead, out.duplicates), (0, 1), "partition {partition}");
    }
}

/// The high-water table is read by nothing now, but stays readable until it is dropped: its
/// keys are `<topic>/<partition>/<producer>`, the layout the PostgreSQL codec parses into its
/// typed columns (`src/pgstore/codec.rs`) and `tests/it/postgres/store.rs` writes.
#[test]
fn high_water_keys_keep_the_layout_the_postgres_codec_reads() {
    assert_eq!(
        crate::consumer::process::high_water_key("user.events", 4, 77),
        b"user.events/4/77"
    );
}
