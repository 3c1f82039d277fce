//! Keys whose rows wait. A row that failed (its partition unavailable past the delivery
//! timeout, a topic the broker does not have, a refusal) holds back the later rows of its key
//! (its topic and record key) until it is delivered or parked: per-key order, invariant 5.
//! Rows of every other key go on.
//!
//! Before, the relay went back to the failed row and read its rounds from there, and the rows
//! of a failing partition behind it took their places in every round: once more of them
//! waited than the rounds in flight read ([`super::DEPTH`] × [`super::ROUND`]), nothing
//! committed after them was read again, and one partition refused for good (an ACL missing on
//! `user.analytics`) stopped the relay for every topic. Now a read passes over the rows that
//! wait ([`read_unblocked`]): it hands over up to a round of the others, and only the first
//! row of each waiting key, which is tried again, scanning at most [`SCAN_ROWS`] rows.
//!
//! The producer still holds a partition after a failure
//! ([`crate::producer::Producer::hold_after_failures`]): rows of a key not known to wait yet
//! (read before the failure was reported) fail behind it, and are then known.
use std::{collections::HashMap, sync::Arc};

use super::{ROUND, ROUND_BYTES};
use crate::{
    outbox::{OutboxRecord, pending_within},
    store::{ReadTxn, Result},
};

/// Rows one read looks at, at most, passing over those that wait: past this many the rows
/// behind them wait too (a partition refused for hours, at a few thousand rows a minute).
pub(super) const SCAN_ROWS: usize = 64 * ROUND;

/// Keys known to wait, at most: past this many, the rows of a further failing key are held
/// back by the producer's hold alone, as before (they take places in the rounds).
const MAX_KEYS: usize = 100_000;

/// A record key (`None`: unkeyed rows, one key per topic).
type Key = Option<Vec<u8>>;

/// The first row still to publish of each key whose rows wait, by topic. Cloned into every
/// read (copy on write).
#[derive(Debug, Default, Clone)]
pub(super) struct Blocked {
    heads: Arc<HashMap<String, HashMap<Key, u64>>>,
    keys: usize,
}

impl Blocked {
    /// Row `seq` of `topic`/`key` failed: the key's later rows wait for it.
    pub(super) fn failed(&mut self, topic: &str, key: &Key, seq: u64) {
        if let Some(head) = self.head_mut(topic, key) {
            *head = (*head).min(seq);
            return;
        }
        if self.keys >= MAX_KEYS {
            return;
        }
        Arc::make_mut(&mut self.heads)
            .entry(topic.to_owned())
            .or_default()
            .insert(key.clone(), seq);
        self.keys += 1;
    }

    /// Row `seq` of `topic`/`key` is delivered or parked: when the key waited for it, its
    /// rows go again.
    pub(super) fn gone(&mut self, topic: &str, key: &Key, seq: u64) {
        if self.head(topic, key) != Some(seq) {
            return;
        }
        let heads = Arc::make_mut(&mut self.heads);
        if let Some(keys) = heads.get_mut(topic) {
            keys.remove(key);
            if keys.is_empty() {
                heads.remove(topic);
            }
        }
        self.keys -= 1;
    }

    /// Whether row `seq` of `topic`/`key` waits behind an earlier row of its key.
    pub(super) fn holds(&self, topic: &str, key: &Key, seq: u64) -> bool {
        self.head(topic, key).is_some_and(|head| seq > head)
    }

    /// Forgets every key (a new lease epoch starts from the oldest row).
    pub(super) fn clear(&mut self) {
        *self = Self::default();
    }

    fn head(&self, topic: &str, key: &Key) -> Option<u64> {
        self.heads.get(topic)?.get(key).copied()
    }

    fn head_mut(&mut self, topic: &str, key: &Key) -> Option<&mut u64> {
        // Only for a key there: a lookup alone must not copy the map.
        self.head(topic, key)?;
        Arc::make_mut(&mut self.heads).get_mut(topic)?.get_mut(key)
    }
}

/// What a read of the outbox found for the next round.
#[derive(Debug)]
pub(super) struct Scanned {
    /// Rows to hand over, in sequence order: none that waits behind its key's first row.
    pub rows: Vec<(u64, OutboxRecord)>,
    /// The read stopped at a bound (rows, bytes, scanned rows): more rows may be waiting.
    pub more: bool,
    /// Rows that do not decode, for the relay to park.
    pub undecodable: Vec<u64>,
    /// The sequence after the last row looked at: where the next read goes on.
    pub next: u64,
    /// The first row passed over because it waits: the relay reads again from there once the
    /// rounds handed over have settled.
    pub skipped_from: Option<u64>,
}

impl Scanned {
    /// Nothing read (the store could not be read): the next read starts at `from` again.
    pub(super) fn none(from: u64) -> Self {
        Self {
            rows: Vec::new(),
            more: false,
            undecodable: Vec::new(),
            next: from,
            skipped_from: None,
        }
    }
}

/// Up to [`ROUND`] rows from `from` on (about [`ROUND_BYTES`]), passing over the rows that
/// wait behind their key's first row in `blocked`, looking at [`SCAN_ROWS`] rows at most.
pub(super) fn read_unblocked(txn: &dyn ReadTxn, from: u64, blocked: &Blocked) -> Result<Scanned> {
    let mut out = Scanned::none(from);
    let (mut bytes, mut scanned) = (0usize, 0usize);
    loop {
        let chunk = pending_within(txn, out.next, ROUND - out.rows.len(), ROUND_BYTES - bytes)?;
        let last = chunk.rows.last().map(|(seq, _)| *seq);
        let last = last.max(chunk.undecodable.last().copied());
        out.undecodable.extend(chunk.undecodable);
        for (seq, row) in chunk.rows {
            scanned += 1;
            if blocked.holds(&row.topic, &row.key, seq) {
                out.skipped_from.get_or_insert(seq);
                continue;
            }
            bytes = bytes.saturating_add(size_of(&row));
            out.rows.push((seq, row));
        }
        let Some(last) = last else { break };
        out.next = last + 1;
        if !chunk.more {
            break;
        }
        if out.rows.len() >= ROUND || bytes >= ROUND_BYTES || scanned >= SCAN_ROWS {
            out.more = true;
            break;
        }
    }
    Ok(out)
}

/// About the bytes of `row` as stored.
fn size_of(row: &OutboxRecord) -> usize {
    let headers: usize = row.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
    row.topic.len() + row.key.as_ref().map_or(0, Vec::len) + row.value.len() + headers
}

#[cfg(test)]
mod tests;
