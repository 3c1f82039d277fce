//! The store test suite every backend must pass: run by the unit tests on redb and by
//! `tests/it/postgres/store.rs` on PostgreSQL. Each check panics on failure (they are tests).
//!
//! Values are written in the layouts the typed backends decode (an outbox record, an offset),
//! so the same checks hold for a backend that keeps bytes and one that keeps columns.
use std::{collections::BTreeMap, sync::Arc};

use super::{Store, StoreError, StoreExt, Table, get, put};

mod outbox;
pub use outbox::outbox_rows_are_read_within_a_byte_budget;

/// An outbox record in `outbox::OutboxRecord`'s postcard layout.
type Record = (
    String,
    Option<Vec<u8>>,
    Vec<u8>,
    BTreeMap<String, Vec<u8>>,
    i64,
);

fn record(n: u64) -> Record {
    let headers = BTreeMap::from([("ce_id".to_owned(), n.to_be_bytes().to_vec())]);
    (
        "user.events".into(),
        Some(n.to_le_bytes().to_vec()),
        vec![1, 2, 3],
        headers,
        n as i64,
    )
}

/// Every check, one after another, on one (empty) store.
pub fn run_all(store: &dyn Store) {
    writes_commit_atomically_or_not_at_all(store);
    range_scans_in_key_order_with_a_limit(store);
    outbox_rows_are_read_within_a_byte_budget(store);
    values_round_trip(store);
    high_waters_are_a_table_of_their_own(store);
    many_keys_are_deleted_at_once(store);
    a_transaction_reads_its_own_writes(store);
    rows_read_ahead_read_as_asked_and_follow_writes(store);
    undecodable_values_are_typed_errors(store);
    a_key_is_free_until_it_is_written(store);
}

/// [`super::WriteTxn::is_free`] on a table no unique index stands in for: free while absent,
/// taken once written, in the writing transaction and after its commit.
pub fn a_key_is_free_until_it_is_written(store: &dyn Store) {
    store
        .write(&mut |txn| {
            assert!(txn.is_free(Table::Meta, b"claimed")?, "absent");
            txn.put(Table::Meta, b"claimed", b"x")?;
            assert!(!txn.is_free(Table::Meta, b"claimed")?, "written here");
            Ok(())
        })
        .unwrap();
    store
        .write(&mut |txn| {
            assert!(!txn.is_free(Table::Meta, b"claimed")?, "committed");
            assert!(txn.is_free(Table::Meta, b"other")?, "another key");
            Ok(())
        })
        .unwrap();
}

/// A failing closure keeps none of its writes; a passing one keeps all.
pub fn writes_commit_atomically_or_not_at_all(store: &dyn Store) {
    store
        .write(&mut |txn| {
            txn.put(Table::Meta, b"u1", b"ada")?;
            put(txn, Table::Outbox, &1u64.to_be_bytes(), &record(1))
        })
        .unwrap();
    let err = store
        .write(&mut |txn| {
            txn.put(Table::Meta, b"u2", b"bob")?;
            put(txn, Table::Outbox, &2u64.to_be_bytes(), &record(2))?;
            Err(StoreError::Conflict { field: "username" })
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }));
    store
        .read(&mut |txn| {
            assert_eq!(txn.get(Table::Meta, b"u1")?, Some(b"ada".to_vec()));
            assert_eq!(txn.get(Table::Meta, b"u2")?, None);
            assert_eq!(txn.count(Table::Outbox)?, 1);
            Ok(())
        })
        .unwrap();
    store
        .write(&mut |txn| {
            assert!(txn.delete(Table::Outbox, &1u64.to_be_bytes())?);
            assert!(txn.delete(Table::Meta, b"u1")?);
            Ok(())
        })
        .unwrap();
}

/// What a transaction wrote, rewrote or deleted is what it reads back (the PostgreSQL
/// backend answers `meta` reads of its own writes without asking the database).
pub fn a_transaction_reads_its_own_writes(store: &dyn Store) {
    store
        .write(&mut |txn| {
            assert_eq!(txn.get(Table::Meta, b"own")?, None);
            txn.put(Table::Meta, b"own", b"one")?;
            assert_eq!(txn.get(Table::Meta, b"own")?, Some(b"one".to_vec()));
            txn.put(Table::Meta, b"own", b"two")?;
            assert_eq!(txn.get(Table::Meta, b"own")?, Some(b"two".to_vec()));
            assert!(txn.delete(Table::Meta, b"own")?);
            assert_eq!(txn.get(Table::Meta, b"own")?, None);
            txn.put(Table::Meta, b"own", b"three")?;
            Ok(())
        })
        .unwrap();
    let kept = store.read_with(|txn| txn.get(Table::Meta, b"own")).unwrap();
    assert_eq!(kept, Some(b"three".to_vec()));
    store
        .write_with(|txn| txn.delete(Table::Meta, b"own"))
        .unwrap();
}

/// Rows read ahead (PostgreSQL reads them in one round trip and answers the `get`s from what
/// it read) read as a `get` reads them: present, absent, and after the transaction wrote or
/// deleted them.
pub fn rows_read_ahead_read_as_asked_and_follow_writes(store: &dyn Store) {
    let (event, offset) = (b"event-ahead".as_slice(), b"ahead/3".as_slice());
    store
        .write(&mut |txn| {
            txn.put(Table::Meta, b"ahead", b"one")?;
            put(txn, Table::EventLog, event, &1u32)?;
            put(txn, Table::Offsets, offset, &10i64)
        })
        .unwrap();
    store
        .write(&mut |txn| {
            let rows = [
                (Table::Meta, b"ahead".as_slice()),
                (Table::Meta, b"absent"),
                (Table::EventLog, event),
                (Table::Offsets, offset),
            ];
            txn.read_ahead(&rows)?;
            txn.read_ahead(&rows)?; // known rows are not read again
            assert_eq!(txn.get(Table::Meta, b"ahead")?, Some(b"one".to_vec()));
            assert_eq!(txn.get(Table::Meta, b"absent")?, None);
            assert_eq!(get::<u32>(txn, Table::EventLog, event)?, Some(1));
            assert_eq!(get::<i64>(txn, Table::Offsets, offset)?, Some(10));
            txn.put(Table::Meta, b"ahead", b"two")?;
            put(txn, Table::EventLog, event, &2u32)?;
            assert!(txn.delete(Table::Offsets, offset)?);
            assert_eq!(txn.get(Table::Meta, b"ahead")?, Some(b"two".to_vec()));
            assert_eq!(get::<u32>(txn, Table::EventLog, event)?, Some(2));
            assert_eq!(get::<i64>(txn, Table::Offsets, offset)?, None);
            txn.delete(Table::Meta, b"ahead")?;
            txn.delete(Table::EventLog, event).map(drop)
        })
        .unwrap();
}

/// `delete_many` removes the keys that are there, counts them, and leaves the others.
pub fn many_keys_are_deleted_at_once(store: &dyn Store) {
    let key = |seq: u64| seq.to_be_bytes().to_vec();
    store
        .write(&mut |txn| {
            for seq in 1000..1006u64 {
                put(txn, Table::Outbox, &key(seq), &record(seq))?;
            }
            Ok(())
        })
        .unwrap();
    let deleted = store
        .write_with(|txn| txn.delete_many(Table::Outbox, &[key(1001), key(1003), key(1999)]))
        .unwrap();
    assert_eq!(deleted, 2, "two of the three keys were there");
    let left: Vec<u64> = store
        .read_with(|txn| txn.range_from(Table::Outbox, &key(1000), 100))
        .unwrap()
        .iter()
        .map(|(k, _)| u64::from_be_bytes(k.as_slice().try_into().unwrap()))
        .collect();
    assert_eq!(left, vec![1000, 1002, 1004, 1005]);
    store
        .write_with(|txn| {
            txn.delete_many(
                Table::Outbox,
                &left.iter().map(|s| key(*s)).collect::<Vec<_>>(),
            )
        })
        .unwrap();
}

/// Keys come back in byte order (numeric for big-endian sequences), from the start key on.
pub fn range_scans_in_key_order_with_a_limit(store: &dyn Store) {
    store
        .write(&mut |txn| {
            for seq in [5u64, 1, 300, 3, 2, 4, 256] {
                put(txn, Table::Outbox, &seq.to_be_bytes(), &record(seq))?;
            }
            assert!(txn.delete(Table::Outbox, &3u64.to_be_bytes())?);
            assert!(!txn.delete(Table::Outbox, &3u64.to_be_bytes())?);
            for key in [&b"b"[..], b"a", b"ab", b"\xff", b"a\x00"] {
                txn.put(Table::Meta, key, key)?;
            }
            Ok(())
        })
        .unwrap();
    let (seqs, all, meta, first) = store
        .read_with(|txn| {
            let seqs = |rows: Vec<(Vec<u8>, Vec<u8>)>| -> Vec<u64> {
                rows.iter()
                    .map(|(k, _)| u64::from_be_bytes(k.as_slice().try_into().unwrap()))
                    .collect()
            };
            let some = seqs(txn.range_from(Table::Outbox, &2u64.to_be_bytes(), 2)?);
            let all = seqs(txn.range_from(Table::Outbox, &[], 100)?);
            let meta: Vec<Vec<u8>> = txn
                .range_from(Table::Meta, b"a", 100)?
                .into_iter()
                .map(|(k, _)| k)
                // The redb file's own row (its layout version).
                .filter(|k| k != super::redb_layout::KEY)
                .collect();
            let first = get::<Record>(txn, Table::Outbox, &256u64.to_be_bytes())?;
            Ok::<_, StoreError>((some, all, meta, first))
        })
        .unwrap();
    assert_eq!(seqs, vec![2, 4]);
    assert_eq!(all, vec![1, 2, 4, 5, 256, 300]);
    let expected: Vec<Vec<u8>> = [&b"a"[..], b"a\x00", b"ab", b"b", b"\xff"]
        .iter()
        .map(|k| k.to_vec())
        .collect();
    assert_eq!(meta, expected);
    assert_eq!(first, Some(record(256)));
    store
        .write(&mut |txn| {
            for (k, _) in txn.range_from(Table::Outbox, &[], 100)? {
                txn.delete(Table::Outbox, &k)?;
            }
            Ok(())
        })
        .unwrap();
}

/// Typed values read back as written, in every table that holds domain-independent values.
pub fn values_round_trip(store: &dyn Store) {
    store
        .write(&mut |txn| {
            put(txn, Table::Offsets, b"user.events/0", &42i64)?;
            put(txn, Table::Offsets, b"user.events/11", &-1i64)?;
            put(txn, Table::EventLog, b"event-1", &1u32)?;
            put(txn, Table::Parked, &7u64.to_be_bytes(), &record(7))
        })
        .unwrap();
    let got = store
        .read_with(|txn| {
            Ok::<_, StoreError>((
                get::<i64>(txn, Table::Offsets, b"user.events/0")?,
                get::<i64>(txn, Table::Offsets, b"user.events/11")?,
                get::<u32>(txn, Table::EventLog, b"event-1")?,
                get::<Record>(txn, Table::Parked, &7u64.to_be_bytes())?,
                txn.count(Table::Offsets)?,
            ))
        })
        .unwrap();
    assert_eq!(got, (Some(42), Some(-1), Some(1), Some(record(7)), 2));
}

/// The consumer's high waters (`consumer::process::HighWater`'s layout: seen_ms, sequence) read
/// back as written, in the byte order of their keys, including a producer id and a sequence
/// above 2^63; the offsets table does not see them.
pub fn high_waters_are_a_table_of_their_own(store: &dyn Store) {
    let offsets = |store: &dyn Store| store.read_with(|txn| txn.count(Table::Offsets)).unwrap();
    let before = offsets(store);
    let keys: [&[u8]; 3] = [
        b"user.events/0/42",
        b"user.events/0/18446744073709551615",
        b"user.events/11/7",
    ];
    store
        .write(&mut |txn| {
            put(txn, Table::HighWaters, keys[0], &(5i64, 9u64))?;
            put(txn, Table::HighWaters, keys[1], &(6i64, u64::MAX))?;
            put(txn, Table::HighWaters, keys[2], &(7i64, 0u64))
        })
        .unwrap();
    let (got, listed) = store
        .read_with(|txn| {
            Ok::<_, StoreError>((
                get::<(i64, u64)>(txn, Table::HighWaters, keys[1])?,
                txn.range_from(Table::HighWaters, b"user.events/0/", 10)?,
            ))
        })
        .unwrap();
    assert_eq!(got, Some((6, u64::MAX)));
    let listed: Vec<&[u8]> = listed.iter().map(|(k, _)| k.as_slice()).collect();
    assert_eq!(
        listed,
        [keys[1], keys[0], keys[2]],
        "byte order of the keys"
    );
    assert_eq!(offsets(store), before, "no high water among the offsets");
    let ranged = store
        .read_with(|txn| txn.range_from(Table::Offsets, b"", 100))
        .unwrap();
    assert_eq!(ranged.len() as u64, before, "nor in a range over them");
    let deleted = store
        .write_with(|txn| txn.delete(Table::HighWaters, keys[0]))
        .unwrap();
    assert!(deleted);
    let left = store.read_with(|txn| txn.count(Table::HighWaters)).unwrap();
    assert_eq!(left, 2);
}

/// A value that does not decode is a `Decode` error naming the table.
pub fn undecodable_values_are_typed_errors(store: &dyn Store) {
    store
        .write(&mut |txn| txn.put(Table::Meta, b"k", &[0xff; 3]))
        .unwrap();
    let err = store
        .read(&mut |txn| get::<String>(txn, Table::Meta, b"k").map(drop))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Decode { table: "meta", .. }),
        "{err}"
    );
}

/// `writers` threads append `each` outbox rows ([`WriteTxn::append_outbox`]), each
/// transaction with a row of its own beside it, while a reader takes snapshots: no snapshot may
/// show a sequence below the highest one an earlier snapshot showed unless that earlier one
/// showed it too (allocation order is commit order; gaps are allowed), and in the end every row
/// is there once.
pub fn outbox_appends_appear_in_commit_order(store: Arc<dyn Store>, writers: usize, each: u64) {
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    let done = Arc::new(AtomicBool::new(false));
    let reading = Arc::new(AtomicBool::new(false));
    let total = writers * usize::try_from(each).unwrap();
    let reader = {
        let (store, done, reading) = (Arc::clone(&store), Arc::clone(&done), Arc::clone(&reading));
        std::thread::spawn(move || {
            // Snapshots taken while the writers were at work: some rows, not all.
            let mut partial = 0u64;
            let mut before = std::collections::BTreeSet::<u64>::new();
            while !done.load(Relaxed) {
                let keys: std::collections::BTreeSet<u64> = store
                    .read_with(|txn| {
                        Ok::<_, StoreError>(
                            txn.range_from(Table::Outbox, &[], usize::MAX >> 1)?
                                .into_iter()
                                .map(|(k, _)| u64::from_be_bytes(k.as_slice().try_into().unwrap()))
                                .collect(),
                        )
                    })
                    .unwrap();
                let highest = before.last().copied().unwrap_or(0);
                let late: Vec<u64> = keys
                    .iter()
                    .filter(|k| **k < highest && !before.contains(k))
                    .copied()
                    .collect();
                assert!(
                    late.is_empty(),
                    "committed below {highest} after it: {late:?}"
                );
                assert!(before.is_subset(&keys), "a row disappeared");
                partial += u64::from(!keys.is_empty() && keys.len() < total);
                before = keys;
                reading.store(true, Relaxed);
            }
            partial
        })
    };
    // The writers start once the reader reads, so it sees them at work.
    while !reading.load(Relaxed) {
        std::thread::yield_now();
    }
    let threads: Vec<_> = (0..writers)
        .map(|writer| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..each {
                    store
                        .write(&mut |txn| {
                            let own = format!("suite.writer/{writer}/{i}");
                            put(txn, Table::Meta, own.as_bytes(), &i)?;
                            let value = postcard::to_allocvec(&record(i)).unwrap();
                            txn.append_outbox(&value)
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    done.store(true, Relaxed);
    let partial = reader.join().unwrap();
    assert!(
        partial >= 2,
        "the reader saw the writers at work {partial} times: the order was not watched"
    );
    let n = store.read_with(|txn| txn.count(Table::Outbox)).unwrap();
    assert_eq!(n, writers as u64 * each);
}
