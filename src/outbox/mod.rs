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
//! dead letters) gets it from [`stamp`], which replaces whatever identity the row carried. No
//! other counter exists, so no two records of one producer id share a dedupe key, and the
//! producer refuses records without both headers.
pub mod identity;
pub mod relay;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    event::{Headers, set_identity},
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

const NEXT_SEQ: &[u8] = b"outbox.next_seq";
const PRODUCER_SEQ: &[u8] = b"producer.next_seq";

/// Appends `record` to the outbox inside `txn`; returns its outbox sequence.
pub fn append(txn: &mut dyn WriteTxn, record: &OutboxRecord) -> Result<u64> {
    let seq: u64 = store::get(&*txn, Table::Meta, NEXT_SEQ)?.unwrap_or(0);
    store::put(txn, Table::Outbox, &seq.to_be_bytes(), record)?;
    store::put(txn, Table::Meta, NEXT_SEQ, &(seq + 1))?;
    Ok(seq)
}

/// The next sequence number of this instance's producer id, from the one counter, taken inside
/// `txn` so that it is committed together with the row that uses it (a replay keeps the same
/// number, and an aborted transaction gives it back).
pub fn next_event_sequence(txn: &mut dyn WriteTxn) -> Result<u64> {
    let seq: u64 = store::get(&*txn, Table::Meta, PRODUCER_SEQ)?.unwrap_or(0);
    store::put(txn, Table::Meta, PRODUCER_SEQ, &(seq + 1))?;
    Ok(seq)
}

/// Gives a row's `headers` this instance's identity: `producer_id` and the next sequence, in
/// `txn`. Any `ce_producerid`/`ce_sequence` already there (a dead letter's copy of the poison
/// record's headers, whole or half) is replaced: the row is a new record of ours.
pub fn stamp(txn: &mut dyn WriteTxn, producer_id: u64, headers: &mut Headers) -> Result<u64> {
    let seq = next_event_sequence(txn)?;
    set_identity(headers, producer_id, seq);
    Ok(seq)
}

/// Up to `limit` rows from sequence `from` on, in order.
pub fn pending(txn: &dyn ReadTxn, from: u64, limit: usize) -> Result<Vec<(u64, OutboxRecord)>> {
    let mut out = Vec::new();
    for (k, v) in txn.range_from(Table::Outbox, &from.to_be_bytes(), limit)? {
        let seq = k
            .as_slice()
            .try_into()
            .map(u64::from_be_bytes)
            .map_err(|_| store::StoreError::KeyLength {
                table: Table::Outbox.name(),
                len: k.len(),
            })?;
        let record = postcard::from_bytes(&v).map_err(|source| store::StoreError::Decode {
            table: Table::Outbox.name(),
            source,
        })?;
        out.push((seq, record));
    }
    Ok(out)
}

/// Rows waiting to be published.
pub fn backlog(txn: &dyn ReadTxn) -> Result<u64> {
    txn.count(Table::Outbox)
}

#[cfg(test)]
mod tests {
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
}
