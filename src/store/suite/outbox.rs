//! The suite's checks of the outbox tables' reads.
use super::{Record, record};
use crate::store::{Store, StoreError, StoreExt, Table, put};

/// [`crate::store::ReadTxn::range_within`] on the outbox: a read ends with the row whose size
/// reaches the budget, the first row is read whatever its size, the row limit still holds, and
/// the rows read are the rows written.
pub fn outbox_rows_are_read_within_a_byte_budget(store: &dyn Store) {
    let sizes = [100usize, 1_000, 50_000, 10, 10, 10];
    let written: Vec<Record> = sizes
        .iter()
        .zip(10u64..)
        .map(|(&size, seq)| {
            let mut r = record(seq);
            r.2 = vec![7; size];
            r
        })
        .collect();
    store
        .write(&mut |txn| {
            for (r, seq) in written.iter().zip(10u64..) {
                put(txn, Table::Outbox, &seq.to_be_bytes(), r)?;
            }
            Ok(())
        })
        .unwrap();
    let read = |from: u64, limit: usize, max_bytes: usize| -> Vec<Record> {
        store
            .read_with(|txn| {
                let rows =
                    txn.range_within(Table::Outbox, &from.to_be_bytes(), limit, max_bytes)?;
                Ok::<_, StoreError>(rows)
            })
            .unwrap()
            .iter()
            .map(|(_, v)| postcard::from_bytes(v).unwrap())
            .collect()
    };
    assert_eq!(read(10, 100, usize::MAX), written);
    assert_eq!(read(10, 100, 1), written[..1]);
    assert_eq!(
        read(10, 100, 0),
        written[..1],
        "the first row whatever the budget"
    );
    assert_eq!(read(10, 100, 500), written[..2]);
    assert_eq!(read(10, 100, 2_000), written[..3]);
    assert_eq!(read(10, 2, usize::MAX), written[..2]);
    assert_eq!(read(12, 100, 1), written[2..3]);
    assert_eq!(read(13, 100, 100_000), written[3..]);
    store
        .write(&mut |txn| {
            for seq in 10u64..16 {
                txn.delete(Table::Outbox, &seq.to_be_bytes())?;
            }
            Ok(())
        })
        .unwrap();
}
