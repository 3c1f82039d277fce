use super::*;
use crate::store::{RedbStore, Store};

fn record(topic: &str) -> OutboxRecord {
    OutboxRecord {
        topic: topic.into(),
        key: Some(b"k".to_vec()),
        value: b"v".to_vec(),
        headers: BTreeMap::new(),
        created_ms: 0,
    }
}

#[test]
fn rows_come_back_in_order_and_leave_when_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    store
        .write(&mut |txn| {
            for t in ["a", "b", "c"] {
                append(txn, &record(t))?;
            }
            Ok(())
        })
        .unwrap();
    let mut rows = Vec::new();
    store
        .read(&mut |txn| {
            rows = pending(txn, 0, 10)?;
            assert_eq!(backlog(txn)?, 3);
            Ok(())
        })
        .unwrap();
    let topics: Vec<&str> = rows.iter().map(|(_, r)| r.topic.as_str()).collect();
    assert_eq!(topics, ["a", "b", "c"]);
    assert_eq!(rows.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [0, 1, 2]);
    store
        .write(&mut |txn| txn.delete(Table::Outbox, &0u64.to_be_bytes()).map(drop))
        .unwrap();
    store
        .read(&mut |txn| {
            assert_eq!(pending(txn, 0, 10)?.len(), 2);
            Ok(())
        })
        .unwrap();
}

#[test]
fn event_sequences_count_up_inside_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        store
            .write(&mut |txn| {
                seen.push(next_event_sequence(txn)?);
                Ok(())
            })
            .unwrap();
    }
    assert_eq!(seen, [0, 1, 2]);
}

#[test]
fn the_oldest_row_is_the_next_to_publish() {
    use crate::store::StoreExt;
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    assert_eq!(store.read_with(oldest_created_ms).unwrap(), None);
    store
        .write(&mut |txn| {
            for (topic, created_ms) in [("a", 1_000), ("b", 2_000)] {
                append(
                    txn,
                    &OutboxRecord {
                        created_ms,
                        ..record(topic)
                    },
                )?;
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(store.read_with(oldest_created_ms).unwrap(), Some(1_000));
    store
        .write(&mut |txn| txn.delete(Table::Outbox, &0u64.to_be_bytes()).map(drop))
        .unwrap();
    assert_eq!(store.read_with(oldest_created_ms).unwrap(), Some(2_000));
}

/// A read says whether it stopped at a bound: the relay reads again at once after one that
/// did, and waits to be woken after one that did not.
#[test]
fn a_read_says_whether_more_rows_may_wait() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    store
        .write(&mut |txn| {
            for size in [600, 600, 600, 10] {
                append(
                    txn,
                    &OutboxRecord {
                        value: vec![1; size],
                        ..record("t")
                    },
                )?;
            }
            Ok(())
        })
        .unwrap();
    let read = |from, limit, max_bytes| {
        let mut got = (Vec::new(), false);
        store
            .read(&mut |txn| {
                let read = pending_within(txn, from, limit, max_bytes)?;
                got = (read.rows.iter().map(|(s, _)| *s).collect(), read.more);
                Ok(())
            })
            .unwrap();
        got
    };
    assert_eq!(
        read(0, 10, 1_000),
        (vec![0, 1], true),
        "stopped at the bytes"
    );
    assert_eq!(
        read(2, 10, 1_000),
        (vec![2, 3], false),
        "the last rows, under the bytes"
    );
    assert_eq!(
        read(0, 3, 10_000),
        (vec![0, 1, 2], true),
        "stopped at the rows"
    );
    assert_eq!(read(0, 10, 10_000), (vec![0, 1, 2, 3], false));
    assert_eq!(read(4, 10, 10_000), (vec![], false));
}

/// A row stamped without an event id gets one, stored with it, so that every publication of
/// the row carries the same; one it has stays.
#[test]
fn a_stamped_row_has_an_event_id_of_its_own_for_good() {
    use crate::store::StoreExt;
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let mut given = BTreeMap::new();
    given.insert(header::ID.to_owned(), b"source-id".to_vec());
    for headers in [BTreeMap::new(), given] {
        store
            .write(&mut |txn| {
                let mut row = OutboxRecord {
                    headers: headers.clone(),
                    ..record("t")
                };
                stamp(txn, 5, &mut row.headers)?;
                append(txn, &row)
            })
            .unwrap();
    }
    let stamped = store.read_with(|txn| pending(txn, 0, 10)).unwrap();
    let id = |i: usize| stamped[i].1.headers.get(header::ID).cloned().unwrap();
    assert!(uuid::Uuid::try_parse_ascii(&id(0)).is_ok());
    assert_eq!(id(1), b"source-id");
}
