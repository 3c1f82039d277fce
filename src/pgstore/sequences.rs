//! The store's two counters on PostgreSQL: database sequences, so that concurrent writers do not
//! conflict over a counter row (schema version 6; before it both were rows of `meta`, and every
//! two transactions that wrote an outbox row at once failed to serialize and ran again).
//!
//! - **Event sequences** (`ce_sequence`) only have to be unique: drawn from
//!   [`EVENT_SEQUENCE`] a block at a time and handed out from memory (`event_numbers`). A
//!   process that stops leaves the rest of its block as a gap.
//! - **Outbox sequences** must also appear in commit order, so that the relay, which reads rows
//!   in sequence order from where it left off, never later finds a smaller sequence committed
//!   behind it. A transaction keeps its outbox rows until it is about to commit
//!   (`WriteTxn::append_outbox` of `PgTxn`, `txn/writes.rs`), then takes the
//!   transaction-level advisory lock
//!   [`OUTBOX_LOCK`], numbers its rows from [`OUTBOX_SEQUENCE`] and inserts them; the lock is
//!   released only once its commit (or abort) is visible. The next transaction draws its
//!   numbers only after taking the lock, so a number is drawn after every smaller one was
//!   committed or given up (a gap). The lock is held from the statements that write the rows
//!   to the commit, not for the whole transaction:
//!   - up to [`NUMBERED_IN_PLACE`] rows: the lock, then one insert per row that draws its
//!     own number (statements run in order, so the numbers follow the rows), sent with
//!     `COMMIT` in one round trip ([`numbered_inserts`]);
//!   - more: the numbers are drawn in one statement ([`DRAW_OUTBOX_SEQUENCES`]) and the rows
//!     inserted under them a chunk at a time ([`outbox_inserts`]), one round trip more but far
//!     fewer statements.
use tokio_postgres::Transaction;

use super::{
    columns::{self, Param},
    layout::layout,
    rows,
};
use crate::store::{Result, StoreError, Table, counters};

/// The names of the two sequences, as literals for the statements below.
macro_rules! event_sequence {
    () => {
        "usercenter_event_seq"
    };
}
macro_rules! outbox_sequence {
    () => {
        "usercenter_outbox_seq"
    };
}

/// Where event sequences come from.
pub const EVENT_SEQUENCE: &str = event_sequence!();
/// Where outbox sequences come from, under [`OUTBOX_LOCK`].
pub const OUTBOX_SEQUENCE: &str = outbox_sequence!();
/// The advisory lock key that orders outbox sequences ("ucoutbox" in ASCII).
pub const OUTBOX_LOCK: i64 = 0x7563_6f75_7462_6f78;

/// The rows one `INSERT` of [`outbox_inserts`] may hold, largest first (7 parameters each, well
/// below the protocol's 65,535). A few sizes, not any: each connection keeps every statement
/// it prepared, one per distinct text, for its life, so an insert of any size up to 1,000 rows
/// would let a connection keep up to 1,000 statements (tens of MB of parameter types each way).
const INSERT_SIZES: [usize; 4] = [512, 64, 8, 1];

/// How many rows each insert of `n` rows takes, in order: as many of the largest of
/// [`INSERT_SIZES`] as fit, then of the next (at most 7 of each but the largest).
fn insert_sizes(mut n: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    for size in INSERT_SIZES {
        sizes.extend(std::iter::repeat_n(size, n / size));
        n %= size;
    }
    sizes
}

/// Outbox rows a transaction numbers one insert at a time ([`numbered_inserts`]); past this,
/// one draw and a few large inserts cost less than a statement per row.
pub const NUMBERED_IN_PLACE: usize = 32;

/// The statement that takes [`OUTBOX_LOCK`] (`$1`) until the transaction ends.
const LOCK_OUTBOX: &str = "SELECT pg_advisory_xact_lock($1)";

/// The statement (SQL and parameters) that takes [`OUTBOX_LOCK`] until the transaction ends,
/// as every transaction that writes outbox rows does first.
pub fn lock_outbox() -> (String, Vec<Param>) {
    (LOCK_OUTBOX.to_owned(), vec![Box::new(OUTBOX_LOCK) as Param])
}

/// The statements (SQL and parameters) that take [`OUTBOX_LOCK`] and then insert `values`
/// (encoded outbox records), one row each under the next number of [`OUTBOX_SEQUENCE`].
pub fn numbered_inserts(values: &[Vec<u8>]) -> Result<Vec<(String, Vec<Param>)>> {
    let insert = layout(Table::Outbox).insert_numbered(OUTBOX_SEQUENCE);
    let mut statements = vec![lock_outbox()];
    for value in values {
        statements.push((insert.clone(), rows::outbox_columns(Table::Outbox, value)?));
    }
    Ok(statements)
}

/// The statement that takes [`OUTBOX_LOCK`] (`$1`) and then draws `$2` numbers from
/// [`OUTBOX_SEQUENCE`]. The lock's row is joined to every output row, so no number is drawn
/// before the lock is held.
pub const DRAW_OUTBOX_SEQUENCES: &str = concat!(
    "SELECT nextval('",
    outbox_sequence!(),
    "') FROM (SELECT pg_advisory_xact_lock($1)) AS locked, generate_series(1, $2::bigint)"
);

/// The statement that draws `$1` event sequences (a block of `event_numbers`).
pub const DRAW_EVENT_SEQUENCES: &str = concat!(
    "SELECT nextval('",
    event_sequence!(),
    "') FROM generate_series(1, $1::bigint)"
);

/// The statements (SQL and parameters) that insert `values` (encoded outbox records) under the
/// sequences `seqs`, in order, a chunk of rows each.
pub fn outbox_inserts(seqs: &[i64], values: &[Vec<u8>]) -> Result<Vec<(String, Vec<Param>)>> {
    if seqs.len() != values.len() {
        return Err(StoreError::KeyFormat {
            table: "outbox",
            reason: "not as many sequences drawn as rows",
        });
    }
    let mut statements = Vec::new();
    let mut at = 0;
    for size in insert_sizes(seqs.len()) {
        let (seqs, values) = (&seqs[at..at + size], &values[at..at + size]);
        at += size;
        let mut params = Vec::new();
        for (seq, value) in seqs.iter().zip(values) {
            // A sequence is never negative (MINVALUE 0); `put_params` refuses keys above i64::MAX.
            let key = u64::try_from(*seq).unwrap_or(u64::MAX).to_be_bytes();
            params.extend(columns::put_params(Table::Outbox, &key, value)?);
        }
        statements.push((layout(Table::Outbox).insert(seqs.len()), params));
    }
    Ok(statements)
}

/// What `meta`'s counter row `name` holds (schema 5 and older), if it is there; a value that
/// does not decode counts as 0.
async fn meta_counter(
    txn: &Transaction<'_>,
    name: &[u8],
) -> Result<Option<u64>, tokio_postgres::Error> {
    let row = txn
        .query_opt("SELECT value FROM meta WHERE name = $1", &[&name])
        .await?;
    Ok(row.map(|r| {
        let value: Vec<u8> = r.get(0);
        postcard::from_bytes::<u64>(&value).unwrap_or(0)
    }))
}

/// A counter row's value after it moved to a sequence: bytes that do not decode as a number, so
/// that an older binary still running against the database fails its writes instead of
/// drawing numbers that the sequences hand out again.
pub const MOVED: &[u8] = &[0xff; 11];

/// The step of migration 6 after its SQL: starts each sequence where its `meta` counter (and,
/// for the outbox, every row still waiting or parked) left off, and marks the counter rows
/// [`MOVED`] where they were there.
pub async fn move_counters(txn: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    let waiting: i64 = txn
        .query_one(
            "SELECT greatest(
                 (SELECT coalesce(max(seq) + 1, 0) FROM outbox),
                 (SELECT coalesce(max(seq) + 1, 0) FROM outbox_parked))",
            &[],
        )
        .await?
        .get(0);
    for (name, sequence, floor) in [
        (counters::OUTBOX, OUTBOX_SEQUENCE, waiting),
        (counters::EVENT, EVENT_SEQUENCE, 0),
    ] {
        let counter = meta_counter(txn, name).await?;
        let next = i64::try_from(counter.unwrap_or(0))
            .unwrap_or(i64::MAX)
            .max(floor);
        if next > 0 {
            txn.execute(
                "SELECT setval($1::text::regclass, $2, false)",
                &[&sequence, &next],
            )
            .await?;
        }
        if counter.is_some() {
            txn.execute(
                "UPDATE meta SET value = $2 WHERE name = $1",
                &[&name, &MOVED],
            )
            .await?;
        }
        tracing::info!(sequence, next, "postgres: counter moved to a sequence");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moved_counter_does_not_decode_as_a_number() {
        assert!(postcard::from_bytes::<u64>(MOVED).is_err());
    }

    #[test]
    fn rows_are_inserted_in_chunks_under_their_sequences() {
        let seqs: Vec<i64> = (10..10 + 2_500).collect();
        let value = postcard::to_allocvec(&crate::outbox::OutboxRecord {
            topic: "t".into(),
            key: None,
            value: vec![1],
            headers: Default::default(),
            created_ms: 5,
        })
        .unwrap();
        let values = vec![value; seqs.len()];
        let statements = outbox_inserts(&seqs, &values).unwrap();
        let rows: Vec<usize> = statements
            .iter()
            .map(|(sql, params)| {
                assert_eq!(sql.matches("), (").count() + 1, params.len() / 7);
                params.len() / 7
            })
            .collect();
        // 2,500 = 4 × 512 + 7 × 64 + 4 × 1: statements of four sizes at most, whatever the
        // count, so that a connection's cache of prepared statements stays small.
        let mut expected = vec![512; 4];
        expected.extend([64; 7]);
        expected.extend([1; 4]);
        assert_eq!(rows, expected);
        assert!(outbox_inserts(&seqs[1..], &values).is_err());
        for n in 0..1_200 {
            let sizes = insert_sizes(n);
            assert_eq!(sizes.iter().sum::<usize>(), n);
            assert!(sizes.iter().all(|s| INSERT_SIZES.contains(s)));
            assert!(sizes.len() <= n / 512 + 21, "{n}: {sizes:?}");
        }
    }

    #[test]
    fn rows_numbered_in_place_follow_the_lock_one_insert_each() {
        let value = postcard::to_allocvec(&crate::outbox::OutboxRecord {
            topic: "t".into(),
            key: Some(vec![7]),
            value: vec![1],
            headers: Default::default(),
            created_ms: 5,
        })
        .unwrap();
        let statements = numbered_inserts(&[value.clone(), value]).unwrap();
        assert_eq!(statements.len(), 3);
        assert_eq!(statements[0].0, LOCK_OUTBOX);
        for (sql, params) in &statements[1..] {
            assert!(
                sql.contains(concat!("VALUES (nextval('", outbox_sequence!(), "'), $1,")),
                "{sql}"
            );
            assert_eq!(params.len(), 6, "every column but the sequence");
        }
    }
}
