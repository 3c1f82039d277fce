use super::*;
use crate::store::{RedbStore, Store, StoreExt, Table};

#[test]
fn a_topic_waits_behind_its_first_failed_row_until_the_relay_reads_again_past_it() {
    let mut blocked = Blocked::default();
    blocked.failed("t", 7);
    blocked.failed("t", 9);
    assert!(!blocked.holds("t", 7), "its first row is tried again");
    assert!(blocked.holds("t", 8));
    assert!(!blocked.holds("u", 8), "another topic goes on");
    // An earlier failure becomes the row the topic waits for.
    blocked.failed("t", 5);
    assert!(blocked.holds("t", 7));
    // A later row of the topic gone changes nothing.
    blocked.gone("t", 7);
    blocked.free_passed_over();
    assert!(blocked.holds("t", 6));
    // Its first row gone: the topic still waits until the relay reads again from the rows it
    // passed over, then goes.
    blocked.gone("t", 5);
    assert!(blocked.holds("t", 6));
    blocked.free_passed_over();
    assert!(!blocked.holds("t", 6));
    // A first row gone, then an earlier one failed (read before the failure was known): the
    // topic waits for that one.
    blocked.failed("u", 4);
    blocked.gone("u", 4);
    blocked.failed("u", 2);
    blocked.free_passed_over();
    assert!(blocked.holds("u", 3));
    blocked.clear();
    assert!(!blocked.holds("u", 3));
}

/// A read that starts at or below a topic's first waiting row and goes past it without
/// finding it reports it gone; one that finds it, or starts after it, does not.
#[test]
fn a_read_reports_a_first_waiting_row_that_left_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    append_topics(&store, ["r", "r", "t", "r"].into_iter());
    let read = |from, blocked: &Blocked| {
        (store.read_with(|txn| read_unblocked(txn, from, blocked))).unwrap()
    };
    let mut blocked = Blocked::default();
    blocked.failed("r", 0);
    assert!(read(0, &blocked).vanished.is_empty(), "row 0 is there");
    store
        .write(&mut |txn| txn.delete(Table::Outbox, &0u64.to_be_bytes()).map(drop))
        .unwrap();
    let gone = read(0, &blocked);
    assert_eq!(gone.vanished, [("r".to_owned(), 0)]);
    assert_eq!(
        gone.skipped_from,
        Some(1),
        "its topic still waits in this read"
    );
    assert!(read(1, &blocked).vanished.is_empty(), "a read after it");
    // Reported gone, the topic goes at the next read from the rows passed over.
    blocked.gone_elsewhere(gone.vanished);
    assert!(blocked.free_passed_over());
    assert!(!blocked.holds("r", 1));
}

/// One row of each of `topics`, in order, appended to `store`.
fn append_topics(store: &RedbStore, topics: impl Iterator<Item = &'static str>) {
    let topics: Vec<&str> = topics.collect();
    store
        .write(&mut |txn| {
            for topic in &topics {
                let row = OutboxRecord {
                    topic: (*topic).into(),
                    key: Some(b"k".to_vec()),
                    value: b"v".to_vec(),
                    headers: Default::default(),
                    created_ms: 1,
                };
                crate::outbox::append(txn, &row)?;
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_read_passes_over_the_rows_that_wait_and_fills_its_round_with_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    // 3,000 rows of topic r (refused), then 1,010 of topic t.
    append_topics(
        &store,
        std::iter::repeat_n("r", 3_000).chain(std::iter::repeat_n("t", 1_010)),
    );
    let read = |from, blocked: &Blocked| {
        (store.read_with(|txn| read_unblocked(txn, from, blocked))).unwrap()
    };
    // Nothing waits: a round of the first rows.
    let all = read(0, &Blocked::default());
    assert_eq!(all.rows.len(), ROUND);
    assert!(all.more);
    assert_eq!(all.next, ROUND as u64);
    assert_eq!(all.skipped_from, None);
    // Topic r waits behind row 0: that row, then a round's worth of t's rows.
    let mut blocked = Blocked::default();
    blocked.failed("r", 0);
    let first = read(0, &blocked);
    let seqs: Vec<u64> = first.rows.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs.len(), ROUND);
    assert_eq!(seqs[..3], [0, 3_000, 3_001]);
    assert_eq!(first.skipped_from, Some(1));
    assert!(first.more, "stopped at a full round");
    assert_eq!(first.next, 3_999);
    let rest = read(first.next, &blocked);
    let seqs: Vec<u64> = rest.rows.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, (3_999..4_010).collect::<Vec<_>>());
    assert!(!rest.more, "every row was looked at");
}

#[test]
fn a_read_stops_after_a_bounded_amount_of_large_rows_passed_over() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    const MIB: usize = 1 << 20;
    let rows = SCAN_BYTES / MIB + 6;
    // Rows of 1 MiB of topic r (refused), then one of topic t.
    store
        .write(&mut |txn| {
            for i in 0..=rows {
                let topic = if i < rows { "r" } else { "t" };
                let row = OutboxRecord {
                    topic: topic.into(),
                    key: Some(b"k".to_vec()),
                    value: vec![b'v'; if i < rows { MIB } else { 1 }],
                    headers: Default::default(),
                    created_ms: 1,
                };
                crate::outbox::append(txn, &row)?;
            }
            Ok(())
        })
        .unwrap();
    let read = |from, blocked: &Blocked| {
        (store.read_with(|txn| read_unblocked(txn, from, blocked))).unwrap()
    };
    let mut blocked = Blocked::default();
    blocked.failed("r", 0);
    let first = read(0, &blocked);
    assert!(first.more, "stopped at the bound");
    let looked = usize::try_from(first.next).unwrap();
    assert!(
        looked <= SCAN_BYTES / MIB + 1,
        "looked at {looked} rows of 1 MiB"
    );
    let seqs: Vec<u64> = first.rows.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, [0], "the first waiting row alone");
    // The next read goes on from there, and reaches topic t's row.
    let rest = read(first.next, &blocked);
    let seqs: Vec<u64> = rest.rows.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, [rows as u64]);
}

#[test]
fn a_row_refused_for_its_timestamp_goes_untimed_until_it_is_gone() {
    let mut blocked = Blocked::default();
    assert!(!blocked.untimed(3));
    blocked.failed("t", 3);
    blocked.refused_timestamps(&[]);
    assert!(!blocked.untimed(3));
    blocked.refused_timestamps(&[4, 3]);
    assert!(blocked.untimed(3) && blocked.untimed(4));
    blocked.gone("t", 3);
    assert!(!blocked.untimed(3), "delivered");
    assert!(blocked.untimed(4));
    blocked.clear();
    assert!(!blocked.untimed(4), "a new lease epoch starts afresh");
}
