//! What handling a run of records will read, asked of the store ahead in one round trip
//! where the store has round trips.
use super::{FetchedRecord, MAX_HEADERS, RecordHandler, key_of};
use crate::store::{ReadTxn, Result, Table};

/// Records whose reads go to the store together ([`read_ahead`]).
pub const READ_AHEAD: usize = 64;

/// Reads ahead, in one round trip where the store has round trips, what handling `records`
/// (those from `next_offset` on) will read: each one's dedupe mark and the rows its handler
/// names ([`RecordHandler::reads`]), with `also`.
pub fn read_ahead(
    txn: &dyn ReadTxn,
    handler: &dyn RecordHandler,
    records: &[FetchedRecord],
    next_offset: i64,
    also: &[(Table, &[u8])],
) -> Result<()> {
    let mut owned: Vec<(Table, Vec<u8>)> = Vec::new();
    let looked_into =
        |r: &&FetchedRecord| r.offset >= next_offset && r.headers.len() <= MAX_HEADERS;
    for r in records.iter().filter(looked_into) {
        if let Some(key) = key_of(r) {
            owned.push((Table::Dedupe, key.as_bytes().to_vec()));
        }
        owned.extend(handler.reads(r));
    }
    let rows: Vec<(Table, &[u8])> = also
        .iter()
        .copied()
        .chain(owned.iter().map(|(table, key)| (*table, key.as_slice())))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    txn.read_ahead(&rows)
}
