//! Dedupe state of one partition's batches: a mark per handled record, under the record's own identity.
//!
//! # What the dedupe trusts, and why
//! A record's headers are whatever its producer wrote. Anyone who can write to the topic can
//! copy our `ce_producerid` (every event carries it) and choose any `ce_sequence`, and a mirror
//! or a replay tool may write a real event again under another producer id. So a record is
//! skipped as a duplicate only because *a record with the same identity* was handled (or
//! dead-lettered) before, within the dedupe horizon:
//! - its `ce_id` (`u/<uuid>`, or `e/<ce_id>` when it is not a UUID), whatever producer id or
//!   sequence it carries, so the same event is applied at most once however many producers
//!   wrote it;
//! - without a `ce_id`, its `ce_producerid`/`ce_sequence` pair as text (`p/<producer>/<sequence>`);
//! - either one past 2 KiB (a foreign writer's): `h/` and the SHA-256 of that key, which the
//!   store's primary keys can hold.
//!
//! A foreign or forged record can therefore suppress at most records that carry its own
//! identity: it is handled, dead-lettered, or skipped as a true duplicate, and nothing it says
//! about sequences moves anything for other records. A dedupe key derived from a number the
//! writer picks (a high-water sequence per producer) would not hold: one record with a huge
//! sequence would mark every later record of that producer as seen.
//!
//! The price is one store read and one write per record, in the batch's transaction. Our event
//! ids are UUIDs of version 7, which begin with their time: the marks of new records go to the
//! end of the table, where the pages are already in hand, instead of all over it (with random
//! ids, `perf consume` ran 4-5× slower). Marks are pruned after
//! `consumer.dedupe_horizon_secs` (`consumer::prune`), each with the event-log entry of its
//! event id.
//!
//! Records that do not decode (poison) get marks of their own per partition
//! (`x/<topic>/<partition>/<key>`): a copy on the same partition is dead-lettered once, and
//! each partition's copy reaches the dead-letter topic, since each is a record of its own.
use serde::{Deserialize, Serialize};

use crate::{
    consumer::prune,
    event::HeaderLookup,
    store::{ReadTxn, Result, Table, WriteTxn},
};

/// A row of the high-water table, which earlier versions used to dedupe by sequence. Nothing
/// reads it any more; the type stays as the table's layout (the PostgreSQL store keeps its
/// columns typed) until the table is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HighWater {
    /// When it last moved (ms since the epoch).
    pub seen_ms: i64,
    /// The highest sequence handled.
    pub sequence: u64,
}

/// The store key of a high-water row: `<topic>/<partition>/<producer>`.
pub fn high_water_key(topic: &str, partition: i32, producer: u64) -> Vec<u8> {
    format!("{topic}/{partition}/{producer}").into_bytes()
}

/// How a record is deduped: the key of its mark in the dedupe table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(Vec<u8>);

impl Key {
    /// The key of a record, if it has any identity ([`super::dedupe_key`]).
    pub fn of(headers: &impl HeaderLookup) -> Option<Self> {
        super::dedupe_key(headers).map(Self)
    }

    /// The mark's key in the dedupe table.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The key of the mark of a poison record with `key` on `topic`/`partition`.
pub fn poison_key(topic: &str, partition: i32, key: &Key) -> Vec<u8> {
    let mut k = format!("x/{topic}/{partition}/").into_bytes();
    k.extend_from_slice(key.as_bytes());
    k
}

/// The dedupe of the batches of one partition.
#[derive(Debug, Clone, Copy)]
pub struct Dedupe<'a> {
    topic: &'a str,
    partition: i32,
}

impl<'a> Dedupe<'a> {
    /// The dedupe of `topic`/`partition`.
    pub fn new(topic: &'a str, partition: i32) -> Self {
        Self { topic, partition }
    }

    /// Whether a record with `key` was handled already (on any partition).
    pub fn seen(&self, txn: &dyn ReadTxn, key: &Key) -> Result<bool> {
        Ok(txn.get(Table::Dedupe, key.as_bytes())?.is_some())
    }

    /// Records that the record with `key` was handled. The event id is in a `u/` key: pruning the mark prunes its event-log entry.
    pub fn handled(&self, txn: &mut dyn WriteTxn, key: &Key, now_ms: i64) -> Result<()> {
        prune::mark(txn, key.as_bytes(), now_ms, None)
    }

    /// For a poison record: whether a copy of it was dead-lettered from this partition
    /// already, else marks it.
    pub fn poison(&self, txn: &mut dyn WriteTxn, key: &Key, now_ms: i64) -> Result<bool> {
        let k = poison_key(self.topic, self.partition, key);
        if txn.get(Table::Dedupe, &k)?.is_some() {
            return Ok(true);
        }
        prune::mark(txn, &k, now_ms, None)?;
        Ok(false)
    }
}

#[cfg(test)]
mod tests;
