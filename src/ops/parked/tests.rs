use std::collections::BTreeMap;

use super::*;
use crate::store::RedbStore;

fn record(topic: &str, id: &str) -> OutboxRecord {
    OutboxRecord {
        topic: topic.to_owned(),
        key: Some(b"user-1".to_vec()),
        value: vec![1, 2, 3],
        headers: BTreeMap::from([
            (header::ID.to_owned(), id.as_bytes().to_vec()),
            (header::TYPE.to_owned(), b"user.registered".to_vec()),
        ]),
        created_ms: 1_764_000_000_000,
    }
}

/// A store with rows parked under `seqs` (a record each, `bad` one that does not decode) and
/// the outbox counter past them, as the relay leaves it.
fn parked_store(seqs: &[u64], bad: Option<u64>) -> (tempfile::TempDir, RedbStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    store
        .write_with(|txn| {
            for &seq in seqs {
                let value = if Some(seq) == bad {
                    vec![0xff; 3]
                } else {
                    postcard::to_allocvec(&record("user.events", &format!("id-{seq}"))).unwrap()
                };
                txn.put(Table::Parked, &seq.to_be_bytes(), &value)?;
            }
            crate::store::put(txn, Table::Meta, crate::store::counters::OUTBOX, &100u64)
        })
        .unwrap();
    (dir, store)
}

fn outbox_rows(store: &dyn Store) -> Vec<(u64, OutboxRecord)> {
    store
        .read_with(|txn| outbox::pending(txn, 0, 1000))
        .unwrap()
}

#[test]
fn requeued_rows_leave_the_parked_ones_for_the_end_of_the_outbox_with_their_headers() {
    let (_dir, store) = parked_store(&[3, 7, 9], None);
    requeue(&store, &[9, 3, 9]).unwrap();
    let rows = outbox_rows(&store);
    let seqs: Vec<u64> = rows.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        seqs,
        vec![100, 101],
        "new sequences, past every earlier row, each once"
    );
    assert_eq!(
        rows[0].1,
        record("user.events", "id-3"),
        "in the order written"
    );
    assert_eq!(rows[1].1, record("user.events", "id-9"));
    let left: Vec<u64> = list(&store).unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(left, vec![7]);
}

#[test]
fn a_requeue_that_names_a_missing_or_unreadable_row_moves_nothing() {
    let (_dir, store) = parked_store(&[3, 5], Some(5));
    let missing = requeue(&store, &[3, 4]).unwrap_err();
    assert!(
        matches!(missing, GroupCommandError::NotParked(4)),
        "{missing:?}"
    );
    let unreadable = requeue(&store, &[3, 5]).unwrap_err();
    assert!(
        matches!(unreadable, GroupCommandError::UnreadableParked(5)),
        "{unreadable:?}"
    );
    assert!(
        outbox_rows(&store).is_empty(),
        "row 3 moved by a failed requeue"
    );
    assert_eq!(list(&store).unwrap().len(), 2);
}

#[test]
fn the_listing_pages_through_every_row_and_names_the_unreadable_ones() {
    let seqs: Vec<u64> = (0..PAGE as u64 * 2 + 3).map(|i| i * 2).collect();
    let (_dir, store) = parked_store(&seqs, Some(4));
    let rows = list(&store).unwrap();
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), seqs);
    let text = format_list(&rows);
    assert!(text.contains("0\tuser.events\tuser-1\t"), "{text}");
    assert!(
        text.contains("\tuser.registered\tid-0\t2025-11-24T"),
        "{text}"
    );
    assert!(text.contains("4\t(does not decode)\t-\t3\t"), "{text}");
    assert!(
        text.ends_with(&format!("{} parked row(s)\n", seqs.len())),
        "{text}"
    );
}

#[test]
fn all_leaves_the_rows_that_do_not_decode_and_a_list_is_taken_in_order_once() {
    let (_dir, store) = parked_store(&[3, 5, 8], Some(5));
    let rows = list(&store).unwrap();
    let args = |all: bool, seq: Vec<u64>| RequeueArgs {
        common: StoreArgs {
            config: None,
            data_dir: None,
        },
        seq,
        all,
        execute: false,
    };
    assert_eq!(chosen(&rows, &args(true, vec![])).unwrap(), (vec![3, 8], 1));
    assert_eq!(
        chosen(&rows, &args(false, vec![8, 3, 8])).unwrap(),
        (vec![3, 8], 0)
    );
    assert!(matches!(
        chosen(&rows, &args(false, vec![5])),
        Err(GroupCommandError::UnreadableParked(5))
    ));
}

#[test]
fn a_listing_shows_others_bytes_escaped_and_cut() {
    assert_eq!(shown(b"user-1"), "user-1");
    assert_eq!(shown(b"a\tb\nc\x1b[31m"), "a\\tb\\nc\\u{1b}[31m");
    let long = shown(&[b'x'; 500]);
    assert_eq!(long.chars().count(), SHOWN + 1);
    assert!(long.ends_with('…'));
    assert_eq!(
        shown(&[b'y'; SHOWN]),
        "y".repeat(SHOWN),
        "no mark when nothing was cut"
    );
}
