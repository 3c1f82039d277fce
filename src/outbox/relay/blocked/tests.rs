use super::*;
use crate::store::{RedbStore, Store};

fn key(k: u8) -> Key {
    Some(vec![k])
}

#[test]
fn a_key_waits_behind_its_first_failed_row_until_that_row_is_gone() {
    let mut blocked = Blocked::default();
    blocked.failed("t", &key(1), 7);
    blocked.failed("t", &key(1), 9);
    assert!(
        !blocked.holds("t", &key(1), 7),
        "its first row is tried again"
    );
    assert!(blocked.holds("t", &key(1), 8));
    assert!(!blocked.holds("t", &key(2), 8), "another key goes on");
    assert!(
        !blocked.holds("u", &key(1), 8),
        "the same key of another topic too"
    );
    // An earlier failure becomes the row the key waits for.
    blocked.failed("t", &key(1), 5);
    assert!(blocked.holds("t", &key(1), 7));
    // A later row of the key gone changes nothing; its first row gone frees it.
    blocked.gone("t", &key(1), 7);
    assert!(blocked.holds("t", &key(1), 6));
    blocked.gone("t", &key(1), 5);
    assert!(!blocked.holds("t", &key(1), 6));
    assert_eq!(blocked.keys, 0);
    blocked.failed("t", &None, 3);
    assert!(
        blocked.holds("t", &None, 4),
        "unkeyed rows are one key per topic"
    );
    blocked.clear();
    assert!(!blocked.holds("t", &None, 4));
}

#[test]
fn a_read_passes_over_the_rows_that_wait_and_fills_its_round_with_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    // 3,000 rows of key 1 (a failing partition's), then 10 of key 2.
    store
        .write(&mut |txn| {
            for k in std::iter::repeat_n(1, 3_000).chain(std::iter::repeat_n(2, 10)) {
                let row = OutboxRecord {
                    topic: "t".into(),
                    key: key(k),
                    value: vec![k],
                    headers: Default::default(),
                    created_ms: 1,
                };
                crate::outbox::append(txn, &row)?;
            }
            Ok(())
        })
        .unwrap();
    let read = |from, blocked: &Blocked| {
        let mut out = None;
        store
            .read(&mut |txn| {
                out = Some(read_unblocked(txn, from, blocked)?);
                Ok(())
            })
            .unwrap();
        out.unwrap()
    };
    // Nothing waits: a round of the first rows.
    let all = read(0, &Blocked::default());
    assert_eq!(all.rows.len(), ROUND);
    assert!(all.more);
    assert_eq!(all.next, ROUND as u64);
    assert_eq!(all.skipped_from, None);
    // Key 1 waits behind row 0: that row, and every row of key 2 past the others.
    let mut blocked = Blocked::default();
    blocked.failed("t", &key(1), 0);
    let read = read(0, &blocked);
    let seqs: Vec<u64> = read.rows.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(
        seqs,
        [
            0, 3_000, 3_001, 3_002, 3_003, 3_004, 3_005, 3_006, 3_007, 3_008, 3_009
        ]
    );
    assert_eq!(read.skipped_from, Some(1));
    assert!(!read.more, "every row was looked at");
    assert_eq!(read.next, 3_010);
}
