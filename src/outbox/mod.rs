//! The outbox: records to publish, written in the same store transaction as the change that
//! caused them, and published by the [`relay`] through the producer layer.
//!
//! ```text
//! store txn { user row / consumer effects, outbox row (seq → OutboxRecord) }
//!                                   │
//! relay: read rows in sequence order ─► Producer::enqueue ─► ack ─► delete the rows
//! ```
//!
//! A row is deleted only after the broker acknowledged it, so a crash between the two publishes
//! it again: at least once. The records keep their `ce_producerid`/`ce_sequence`/`ce_id`
//! headers across such replays, so consumers drop the duplicates.
//!
//! # Identity
//! Every row carries `ce_producerid` (this instance's [`identity`]) and a `ce_sequence` taken
//! from ONE counter in the store, in the transaction that writes the row: an event takes it
//! with [`next_event_sequence`] (its envelope encodes it), every other row (consumer outputs,
//! dead letters) gets it from [`stamp`], which replaces whatever identity the row carried, and
//! its `ce_source` with ours: every record we publish names this instance in both. No
//! other counter exists, so no two records of one producer id share a dedupe key, and the
//! producer refuses records without both headers.
pub mod identity;
pub mod relay;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    event::{Envelope, Headers, header, set_identity},
    store::{self, ReadTxn, Result, Table, WriteTxn},
};

/// One record waiting to be published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRecord {
    /// Topic.
    pub topic: String,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub value: Vec<u8>,
    /// Headers.
    pub headers: BTreeMap<String, Vec<u8>>,
    /// When the row was written (milliseconds since the epoch).
    pub created_ms: i64,
}

/// Appends `record` to the outbox inside `txn`, under the next outbox sequence
/// ([`WriteTxn::append_outbox`]: allocated in commit order).
pub fn append(txn: &mut dyn WriteTxn, record: &OutboxRecord) -> Result<()> {
    let bytes = postcard::to_allocvec(record).map_err(|source| store::StoreError::Encode {
        table: Table::Outbox.name(),
        source,
    })?;
    txn.append_outbox(&bytes)
}

/// The next sequence number of this instance's producer id, from the store's one event
/// counter ([`WriteTxn::next_event_sequence`]), taken inside `txn` so that it is committed
/// together with the row that uses it: a replay of the row keeps the same number.
pub fn next_event_sequence(txn: &mut dyn WriteTxn) -> Result<u64> {
    txn.next_event_sequence()
}

/// Gives a row's `headers` this instance's identity: `producer_id` and the next sequence, in
/// `txn`, and `ce_source` `/usercenter/<producer_id>`. Any `ce_producerid`/`ce_sequence`/
/// `ce_source` already there (a dead letter's copy of the poison record's headers, an output
/// derived from another producer's event) is replaced: the row is a new record of ours, and
/// its source and its dedupe key name the same producer. A row without a `ce_id` (the dead
/// letter of a batch that cannot be read, of a record that had none) gets one here, stored
/// with it: every publication of the row is then the same record to a consumer, which dedupes
/// by `ce_id` first (one made when it is sent would differ on each retry).
pub fn stamp(txn: &mut dyn WriteTxn, producer_id: u64, headers: &mut Headers) -> Result<u64> {
    let seq = next_event_sequence(txn)?;
    set_identity(headers, producer_id, seq);
    headers.insert(
        header::SOURCE.to_owned(),
        Envelope::source_of(producer_id).into_bytes(),
    );
    if headers.get(header::ID).is_none_or(Vec::is_empty) {
        let id = uuid::Uuid::now_v7().hyphenated().to_string().into_bytes();
        headers.insert(header::ID.to_owned(), id);
    }
    Ok(seq)
}

/// Up to `limit` rows from sequence `from` on, in order.
pub fn pending(txn: &dyn ReadTxn, from: u64, limit: usize) -> Result<Vec<(u64, OutboxRecord)>> {
    Ok(pending_within(txn, from, limit, usize::MAX)?.rows)
}

/// Rows [`pending_within`] read.
#[derive(Debug)]
pub struct Pending {
    /// In sequence order.
    pub rows: Vec<(u64, OutboxRecord)>,
    /// The read stopped at its limit of rows or of bytes: more rows may be waiting.
    pub more: bool,
    /// The sequences of rows among them that do not decode as a record (a layout another
    /// version wrote, an edit by hand): left out of `rows`, for the relay to park.
    pub undecodable: Vec<u64>,
}

impl Pending {
    /// No rows, and none known to wait.
    pub fn none() -> Self {
        Self {
            rows: Vec::new(),
            more: false,
            undecodable: Vec::new(),
        }
    }
}

/// Up to `limit` rows from sequence `from` on, in order, ending with the one whose size brings
/// theirs to `max_bytes` or past (at least one row when any is waiting;
/// [`ReadTxn::range_within`]): a backlog of dead letters of 512 KiB each is read a few at a
/// time, not a thousand.
pub fn pending_within(
    txn: &dyn ReadTxn,
    from: u64,
    limit: usize,
    max_bytes: usize,
) -> Result<Pending> {
    let read = txn.range_within(Table::Outbox, &from.to_be_bytes(), limit, max_bytes)?;
    // The backend measures a row by at most its length as read.
    let bytes = read
        .iter()
        .map(|(_, v)| v.len())
        .fold(0, usize::saturating_add);
    let more = read.len() >= limit || bytes >= max_bytes;
    let mut out = Vec::with_capacity(read.len());
    let mut undecodable = Vec::new();
    for (k, v) in read {
        let seq = k
            .as_slice()
            .try_into()
            .map(u64::from_be_bytes)
            .map_err(|_| store::StoreError::KeyLength {
                table: Table::Outbox.name(),
                len: k.len(),
            })?;
        match postcard::from_bytes(&v) {
            Ok(record) => out.push((seq, record)),
            Err(_) => undecodable.push(seq),
        }
    }
    Ok(Pending {
        rows: out,
        more,
        undecodable,
    })
}

/// Rows waiting to be published.
pub fn backlog(txn: &dyn ReadTxn) -> Result<u64> {
    txn.count(Table::Outbox)
}

/// Rows parked: the relay could never publish them as they are.
pub fn parked(txn: &dyn ReadTxn) -> Result<u64> {
    txn.count(Table::Parked)
}

/// When the oldest row waiting (the next one the relay publishes) was written, in milliseconds
/// since the epoch; `None` when the outbox is empty.
pub fn oldest_created_ms(txn: &dyn ReadTxn) -> Result<Option<i64>> {
    Ok(pending(txn, 0, 1)?.first().map(|(_, r)| r.created_ms))
}

#[cfg(test)]
mod tests;
