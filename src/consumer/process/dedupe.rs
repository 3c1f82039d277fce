//! Dedupe state of one pass: a high-water sequence per (producer, partition) for records that
//! carry `ce_producerid` + `ce_sequence`, and a mark per record only for those that do not.
//!
//! A Kafka broker dedupes an idempotent producer the same way: it keeps the last sequence per
//! producer and partition, not one entry per record. Looking a record up is then a hash-map
//! probe instead of a store read and write per record, and the dedupe table holds one row per
//! producer and partition instead of one per record.
//!
//! # Why it is exact
//! A record is a duplicate when its sequence is at or below the high water of its producer on
//! its partition. That drops no new record as long as each producer's sequences reach a
//! partition in increasing order (gaps are fine). Our records do: a sequence is taken from one
//! store counter in the same transaction that appends the outbox row, and the outbox appends in
//! the same order, so allocation order = outbox order; the relay publishes rows in outbox order
//! and the producer keeps per-partition order across retries (later batches fail with a failed
//! one and are re-sent after it). A store backend must keep that guarantee: a backend whose
//! transactions can commit out of sequence order has to allocate the sequence at publish time
//! or serialize allocation with the append. Producers that do not keep the order (another
//! team's, a replayed dump) must not write these headers; records with only `ce_id` are marked
//! one by one.
//!
//! Records that do not decode (poison) do not move the high water: a garbage record cannot be
//! trusted to carry a real sequence. They get a mark of their own (`x/` keys), looked up only
//! when a record turns out to be poison.
//!
//! # Marks written before high waters existed
//! Earlier versions marked every record (`p/<producer>/<sequence>`). While such marks of a
//! producer remain (until pruned after the horizon), its records above the high water are also
//! looked up one by one, so a re-read of records handled before the upgrade is still skipped.
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::{
    event::{HeaderLookup, header},
    store::{self, ReadTxn, Result, Table, WriteTxn},
};

/// The stored high water of one producer on one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HighWater {
    /// When it last moved (ms since the epoch).
    pub seen_ms: i64,
    /// The highest sequence handled.
    pub sequence: u64,
}

/// How a record is deduped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// By producer id and sequence, against the high water.
    Sequence {
        /// `ce_producerid`.
        producer: u64,
        /// `ce_sequence`.
        sequence: u64,
    },
    /// By a mark of its own under this key (`e/<ce_id>`, or `p/...` headers that are not numbers).
    Mark(Vec<u8>),
}

impl Key {
    /// The key of a record, if it has any identity.
    pub fn of(headers: &impl HeaderLookup) -> Option<Self> {
        let number = |name: &str| headers.header(name).and_then(decimal);
        if let (Some(producer), Some(sequence)) =
            (number(header::PRODUCER_ID), number(header::SEQUENCE))
        {
            return Some(Self::Sequence { producer, sequence });
        }
        super::dedupe_key(headers).map(Self::Mark)
    }
}

/// The value of `digits`, ASCII decimal, as `u64::from_str` reads it (a leading `+` aside);
/// `None` for anything else or an overflow. Straight from the bytes: a UTF-8 check and
/// `str::parse` per header were about a tenth of the consumer loop's CPU.
fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        let d = d.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// The store key of the high water of `producer` on `topic`/`partition`, in the high-water
/// table (partition state committed with the partition's offset; the dedupe table holds marks,
/// which are pruned, while a high water is not: it is one row per producer id ever seen on the
/// partition, and a producer id is one per service instance).
pub fn high_water_key(topic: &str, partition: i32, producer: u64) -> Vec<u8> {
    format!("{topic}/{partition}/{producer}").into_bytes()
}

/// Lowers the high water of `producer` on `topic`/`partition` below `sequence`, so the records
/// from `sequence` on are handled again (an operator's replay); whether it moved.
pub fn lower_high_water(
    txn: &mut dyn WriteTxn,
    topic: &str,
    partition: i32,
    producer: u64,
    sequence: u64,
) -> Result<bool> {
    let key = high_water_key(topic, partition, producer);
    let Some(mut high) = store::get::<HighWater>(txn, Table::HighWaters, &key)? else {
        return Ok(false);
    };
    if high.sequence < sequence {
        return Ok(false);
    }
    match sequence.checked_sub(1) {
        Some(below) => {
            high.sequence = below;
            store::put(txn, Table::HighWaters, &key, &high)?;
        }
        None => {
            txn.delete(Table::HighWaters, &key)?;
        }
    }
    Ok(true)
}

/// The key of a per-record mark of the old format, `p/<producer>/<sequence>`.
fn legacy_key(producer: u64, sequence: u64) -> Vec<u8> {
    format!("p/{producer}/{sequence}").into_bytes()
}

/// The key of the mark of a poison record.
pub fn poison_key(producer: u64, sequence: u64) -> Vec<u8> {
    format!("x/{producer}/{sequence}").into_bytes()
}

#[derive(Debug)]
struct Entry {
    stored: Option<u64>,
    high: Option<u64>,
    /// Marks of the old format exist for this producer: look them up above the high water.
    legacy: bool,
}

/// The dedupe state of one pass over one partition. Loaded lazily per producer, written back
/// by [`Dedupe::finish`] in the pass's transaction.
#[derive(Debug)]
pub struct Dedupe<'a> {
    topic: &'a str,
    partition: i32,
    /// Each producer seen in this pass, in order of appearance, found through `index`.
    producers: Vec<(u64, Entry)>,
    index: HashMap<u64, usize>,
    /// Where the last lookup landed: consecutive records mostly come from one producer.
    last: usize,
}

impl<'a> Dedupe<'a> {
    /// Empty state for `topic`/`partition`.
    pub fn new(topic: &'a str, partition: i32) -> Self {
        Self {
            topic,
            partition,
            producers: Vec::new(),
            index: HashMap::new(),
            last: 0,
        }
    }

    fn entry(&mut self, txn: &dyn ReadTxn, producer: u64) -> Result<&mut Entry> {
        let hit = match self.producers.get(self.last) {
            Some((p, _)) if *p == producer => Some(self.last),
            _ => self.index.get(&producer).copied(),
        };
        let at = match hit {
            Some(at) => at,
            None => {
                let key = high_water_key(self.topic, self.partition, producer);
                let stored =
                    store::get::<HighWater>(txn, Table::HighWaters, &key)?.map(|h| h.sequence);
                let prefix = format!("p/{producer}/").into_bytes();
                let legacy = txn
                    .range_from(Table::Dedupe, &prefix, 1)?
                    .first()
                    .is_some_and(|(k, _)| k.starts_with(&prefix));
                let entry = Entry {
                    stored,
                    high: stored,
                    legacy,
                };
                self.producers.push((producer, entry));
                let at = self.producers.len() - 1;
                self.index.insert(producer, at);
                at
            }
        };
        self.last = at;
        // `at` is an index of `producers`: it came from the vector itself.
        Ok(&mut self.producers[at].1)
    }

    /// Whether the record with `key` was handled already.
    pub fn seen(&mut self, txn: &dyn ReadTxn, key: &Key) -> Result<bool> {
        match key {
            Key::Sequence { producer, sequence } => {
                let entry = self.entry(txn, *producer)?;
                if entry.high.is_some_and(|h| *sequence <= h) {
                    return Ok(true);
                }
                Ok(entry.legacy
                    && txn
                        .get(Table::Dedupe, &legacy_key(*producer, *sequence))?
                        .is_some())
            }
            Key::Mark(k) => Ok(txn.get(Table::Dedupe, k)?.is_some()),
        }
    }

    /// Records that the record with `key` was handled (or dead-lettered after its handler gave
    /// up). A high water moves in memory; a mark is written at once.
    pub fn handled(
        &mut self,
        txn: &mut dyn WriteTxn,
        key: &Key,
        now_ms: i64,
        event_id: Option<[u8; 16]>,
    ) -> Result<()> {
        match key {
            Key::Sequence { producer, sequence } => {
                let entry = self.entry(&*txn, *producer)?;
                entry.high = Some(entry.high.map_or(*sequence, |h| h.max(*sequence)));
                Ok(())
            }
            Key::Mark(k) => crate::consumer::prune::mark(txn, k, now_ms, event_id),
        }
    }

    /// For a poison record: whether it was dead-lettered already, else marks it (the high
    /// water does not move, see the module docs).
    pub fn poison(&mut self, txn: &mut dyn WriteTxn, key: &Key, now_ms: i64) -> Result<bool> {
        match key {
            Key::Sequence { producer, sequence } => {
                let k = poison_key(*producer, *sequence);
                if txn.get(Table::Dedupe, &k)?.is_some() {
                    return Ok(true);
                }
                crate::consumer::prune::mark(txn, &k, now_ms, None)?;
                Ok(false)
            }
            Key::Mark(k) => {
                crate::consumer::prune::mark(txn, k, now_ms, None)?;
                Ok(false)
            }
        }
    }

    /// Writes the high waters that moved.
    pub fn finish(self, txn: &mut dyn WriteTxn, now_ms: i64) -> Result<()> {
        for (producer, entry) in self.producers {
            if let Some(sequence) = entry.high
                && entry.stored != entry.high
            {
                let key = high_water_key(self.topic, self.partition, producer);
                let value = HighWater {
                    seen_ms: now_ms,
                    sequence,
                };
                store::put(txn, Table::HighWaters, &key, &value)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
