//! The store's two counters as rows of [`Table::Meta`]: what [`WriteTxn::next_event_sequence`]
//! and [`WriteTxn::append_outbox`] do on a backend that has nothing better (redb).
//!
//! Each is read and rewritten inside the writing transaction, so it is committed together with
//! the row that used it and an aborted transaction gives its numbers back. On a backend whose
//! write transactions run one at a time (redb), that also makes the outbox's allocation order
//! its commit order. A backend with concurrent writers replaces both (the PostgreSQL store
//! uses database sequences, and allocates outbox numbers at commit under a lock).
use super::{Result, Table, WriteTxn};

/// The next outbox sequence.
pub const OUTBOX: &[u8] = b"outbox.next_seq";
/// The next event sequence (`ce_sequence` of every record we publish).
pub const EVENT: &[u8] = b"producer.next_seq";

/// Takes the next number of the counter in the `meta` row `name`.
pub fn next<T: WriteTxn + ?Sized>(txn: &mut T, name: &[u8]) -> Result<u64> {
    let n: u64 = super::get(txn, Table::Meta, name)?.unwrap_or(0);
    super::put(txn, Table::Meta, name, &(n + 1))?;
    Ok(n)
}

/// Writes `value` to the outbox under the next outbox sequence (big-endian).
pub fn append_outbox<T: WriteTxn + ?Sized>(txn: &mut T, value: &[u8]) -> Result<()> {
    let seq = next(txn, OUTBOX)?;
    txn.put(Table::Outbox, &seq.to_be_bytes(), value)
}
