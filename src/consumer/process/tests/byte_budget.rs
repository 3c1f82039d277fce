//! A transaction applies no further record once the rows it wrote pass
//! [`MAX_BYTES_PER_TRANSACTION`]: the batch goes on from there in the next one, and every
//! record is applied once across the parts.
use super::*;

#[test]
fn a_transaction_stops_once_its_rows_pass_the_byte_budget() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    // Each registration's output carries its 8,000-byte name: a little over 8 KB of rows.
    const NAME: usize = 8_000;
    let name = "n".repeat(NAME);
    let n = 1_500;
    let events: Vec<Envelope> = (0..n).map(|i| event(i, &name)).collect();
    let batch = records(&events, 0);
    let first = run(&store, &batch, &input(0));
    let applied = first.next_offset as usize;
    assert!(first.more, "{applied} records of 12 MB in one transaction");
    assert_eq!(first.handled as usize, applied);
    // It stops at the first record past the budget, not before.
    assert!(
        (applied - 1) * NAME < MAX_BYTES_PER_TRANSACTION,
        "stopped before the budget: {applied}"
    );
    assert!(
        applied * (NAME + 512) >= MAX_BYTES_PER_TRANSACTION,
        "went on past the budget: {applied}"
    );
    let mut out = first;
    let mut parts = 1;
    while out.more {
        out = run(&store, &batch, &input(out.next_offset));
        parts += 1;
    }
    assert_eq!((out.next_offset, parts), (n as i64, 2));
    for e in &events {
        assert_eq!(count(&store, e), 1, "each applied once across the parts");
    }
}
