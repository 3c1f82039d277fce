//! High-water dedupe through whole passes on the real store: no record is dropped as a false
//! duplicate (interleaved producers, a restart under a new producer id, gaps, several
//! partitions), copies are, and marks of the old format are still honoured.
use std::collections::BTreeMap;

use crate::{
    consumer::{
        NoopHandler,
        process::{PassInput, PassOutcome, pass},
    },
    event::header,
    kafka::records::FetchedRecord,
    store::{RedbStore, Store, StoreExt, Table},
};

/// A record of `producer` with `sequence` (and a `ce_id`) at `offset`.
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

fn run(store: &RedbStore, partition: i32, records: &[FetchedRecord]) -> PassOutcome {
    let input = PassInput {
        topic: "user.events",
        partition,
        next_offset: records.first().map_or(0, |r| r.offset),
        dlq_topic: "dlq",
        give_up: None,
        now_ms: 1,
        handler_seconds: None,
        producer_id: 1,
    };
    store
        .write_with(|txn| pass(txn, &NoopHandler, records, &input))
        .unwrap()
}

#[test]
fn interleaved_producers_restarts_and_gaps_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
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
    // Later passes go on above each producer's high water, gaps and all.
    let out = run(&store, 0, &batch(20, &[(2, 11), (3, 2), (1, 100), (2, 50)]));
    assert_eq!((out.handled, out.duplicates), (4, 0));
    // The same producer on another partition has a high water of its own.
    let out = run(&store, 1, &batch(0, &[(1, 0), (1, 1), (2, 0)]));
    assert_eq!((out.handled, out.duplicates), (3, 0));
}

#[test]
fn copies_are_dropped_within_a_pass_and_across_passes() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
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
    // One row per producer and partition, no mark per record.
    let (marks, highs) = store
        .read_with(|txn| {
            Ok::<_, crate::store::StoreError>((
                txn.count(Table::Dedupe)?,
                txn.count(Table::HighWaters)?,
            ))
        })
        .unwrap();
    assert_eq!((marks, highs), (0, 1));
}

#[test]
fn marks_of_the_old_format_are_still_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    // Records 0..3 of producer 4 were handled by an earlier version, which marked each.
    store
        .write(&mut |txn| {
            for s in 0..3 {
                let key = super::legacy_key(4, s);
                crate::consumer::prune::mark(txn, &key, 1, None)?;
            }
            Ok(())
        })
        .unwrap();
    // An offset reset re-reads them, and two new ones.
    let ids = [(4, 0), (4, 1), (4, 2), (4, 3), (4, 4)];
    let out = run(&store, 0, &batch(0, &ids));
    assert_eq!((out.handled, out.duplicates), (2, 3));
}

#[test]
fn records_without_numeric_identity_are_marked_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let mut a = rec_with(0, 1, 0, |h| {
        h.remove(header::SEQUENCE);
    });
    let mut b = rec_with(1, 1, 0, |h| {
        h.insert(header::SEQUENCE.into(), b"not-a-number".to_vec());
    });
    let out = run(&store, 0, &[a.clone(), b.clone()]);
    assert_eq!((out.handled, out.duplicates), (2, 0));
    a.offset = 5;
    b.offset = 6;
    let out = run(&store, 0, &[a, b]);
    assert_eq!((out.handled, out.duplicates), (0, 2));
}

#[test]
fn header_numbers_read_as_str_parse_reads_them() {
    for text in [
        "0",
        "7",
        "0042",
        "18446744073709551615",
        "123456789012",
        "000000000000000000001",
    ] {
        assert_eq!(
            super::decimal(text.as_bytes()),
            text.parse::<u64>().ok(),
            "{text}"
        );
    }
    for bad in ["", "-1", "1.5", " 1", "1a", "18446744073709551616"] {
        assert_eq!(super::decimal(bad.as_bytes()), None, "{bad:?}");
    }
}
