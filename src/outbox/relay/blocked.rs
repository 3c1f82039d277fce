//! Topics whose rows wait. A row that failed (its partition unavailable past the delivery
//! timeout, a topic the broker does not have, a refusal such as a missing ACL) holds back the
//! later rows of its topic until it is delivered or parked: per-key order (invariant 5) holds
//! within the topic, where every key of the row's partition waits anyway. The rows of every
//! other topic go on: one topic refused for good (an ACL missing on `user.analytics`) does not
//! stop `user.events`.
//!
//! A read passes over the rows that wait ([`read_unblocked`]), so they never fill the rounds in
//! flight ([`super::DEPTH`] × [`super::ROUND`]): it hands over up to a round of the others,
//! and only the first waiting row of each topic, which is tried again, looking at
//! [`SCAN_ROWS`] rows and [`SCAN_BYTES`] at most.
//!
//! A topic goes again once its first waiting row is delivered or parked, but only when the
//! relay next reads again from the first row a round failed or passed over
//! ([`Blocked::free_passed_over`]): a round still in flight may have passed over later rows of
//! the topic, and a read after them must not hand over rows that come after those.
//!
//! A first waiting row can also leave the outbox without this relay: an operator deletes it or
//! moves it to `outbox_parked`, or an earlier lease holder's delete of it commits late. A read
//! that starts at or below it and goes past it without finding it reports it
//! ([`Scanned::vanished`]), and its topic then goes as if the row had been delivered.
//!
//! The producer still holds a partition after a failure
//! ([`crate::producer::Producer::hold_after_failures`]): rows of a topic not known to wait yet
//! (read before the failure was reported) fail behind it when they are on its partition, and
//! their topic then waits.
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use tracing::warn;

use super::{ROUND, ROUND_BYTES};
use crate::{
    outbox::{OutboxRecord, pending_within},
    store::{ReadTxn, Result},
};

/// Rows one read looks at, at most, passing over those that wait: past this many the rows
/// behind them wait too (a topic refused for hours, at a few thousand rows a minute).
pub(super) const SCAN_ROWS: usize = 64 * ROUND;

/// Bytes of rows one read looks at, at most, those passed over included: rows that wait may
/// be large (dead letters of up to 512 KiB behind a refused dead-letter topic), and a read of
/// [`SCAN_ROWS`] of them would move gigabytes from the store every round.
pub(super) const SCAN_BYTES: usize = 8 * ROUND_BYTES;

/// The first row still to publish of each topic whose rows wait. Cloned into every read (copy
/// on write).
#[derive(Debug, Default, Clone)]
pub(super) struct Blocked {
    heads: Arc<HashMap<String, u64>>,
    /// Heads delivered or parked, whose topics go again at the next read from the first row
    /// passed over or failed.
    gone: Vec<(String, u64)>,
    /// Rows the broker refused for their timestamp, sent again without one (see
    /// [`Blocked::refused_timestamps`]) until delivered or parked.
    untimed: Arc<HashSet<u64>>,
}

impl Blocked {
    /// Row `seq` of `topic` failed: the topic's later rows wait for it.
    pub(super) fn failed(&mut self, topic: &str, seq: u64) {
        if self.heads.get(topic).is_some_and(|&head| head <= seq) {
            return;
        }
        Arc::make_mut(&mut self.heads).insert(topic.to_owned(), seq);
    }

    /// Row `seq` of `topic` is delivered or parked: when the topic waited for it, its rows go
    /// again from the next [`Blocked::free_passed_over`] on.
    pub(super) fn gone(&mut self, topic: &str, seq: u64) {
        if self.heads.get(topic) == Some(&seq) {
            self.gone.push((topic.to_owned(), seq));
        }
        if self.untimed.contains(&seq) {
            Arc::make_mut(&mut self.untimed).remove(&seq);
        }
    }

    /// The broker refused rows `seqs` for their timestamp (INVALID_TIMESTAMP): a row's commit
    /// time, which the record carries, is further ahead of the broker's clock than its
    /// `message.timestamp.after.max.ms` (Kafka 4 and Nisshi: one hour; a host whose clock runs
    /// fast), or older than the topic's `message.timestamp.before.max.ms` (an old backlog).
    /// Sent the same, it would be refused for ever and hold its topic; it goes again without a
    /// timestamp (-1, which no bound refuses). Its event's time is in `ce_time` all the same.
    /// The broker refuses a whole batch for one record, and the rows behind it on its
    /// partition fail with the same error: every one of them goes so (two rounds at most).
    pub(super) fn refused_timestamps(&mut self, seqs: &[u64]) {
        let Some(first) = seqs.iter().min() else {
            return;
        };
        warn!(
            rows = seqs.len(),
            first,
            "outbox: the broker refused rows for their timestamps (this host's clock ahead of the broker's by more than the topic's message.timestamp.after.max.ms, or rows older than its message.timestamp.before.max.ms); they go again without a timestamp, their events' time is in ce_time"
        );
        Arc::make_mut(&mut self.untimed).extend(seqs);
    }

    /// Whether row `seq` goes without a timestamp ([`Blocked::refused_timestamps`]).
    pub(super) fn untimed(&self, seq: u64) -> bool {
        self.untimed.contains(&seq)
    }

    /// The first waiting rows a read went past without finding (see [`Scanned::vanished`]):
    /// gone, as if delivered.
    pub(super) fn gone_elsewhere(&mut self, vanished: Vec<(String, u64)>) {
        for (topic, seq) in vanished {
            if self.gone.iter().any(|(t, s)| *t == topic && *s == seq) {
                continue; // delivered or parked by this relay, and noted so
            }
            warn!(
                topic,
                seq,
                "outbox: the row its topic waited for left the outbox without the relay (deleted or parked by hand, or by an earlier lease holder); the topic goes again"
            );
            self.gone(&topic, seq);
        }
    }

    /// Frees the topics whose first waiting row is gone: the relay reads again from the first
    /// row passed over (or failed), with nothing in flight. Returns whether it freed one.
    pub(super) fn free_passed_over(&mut self) -> bool {
        let mut freed = false;
        for (topic, seq) in std::mem::take(&mut self.gone) {
            // Still the row it waits for (no earlier row of it failed since).
            if self.heads.get(&topic) == Some(&seq) {
                Arc::make_mut(&mut self.heads).remove(&topic);
                freed = true;
            }
        }
        freed
    }

    /// Whether row `seq` of `topic` waits behind an earlier row of its topic.
    pub(super) fn holds(&self, topic: &str, seq: u64) -> bool {
        self.heads.get(topic).is_some_and(|&head| seq > head)
    }

    /// Forgets every topic (a new lease epoch starts from the oldest row).
    pub(super) fn clear(&mut self) {
        *self = Self::default();
    }
}

/// What a read of the outbox found for the next round.
#[derive(Debug)]
pub(super) struct Scanned {
    /// Rows to hand over, in sequence order: none that waits behind its topic's first row.
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
    /// The first waiting rows (topic, sequence) the read went past without finding: they left
    /// the outbox some other way.
    pub vanished: Vec<(String, u64)>,
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
            vanished: Vec::new(),
        }
    }
}

/// Up to [`ROUND`] rows from `from` on (about [`ROUND_BYTES`]), passing over the rows that
/// wait behind their topic's first row in `blocked`, looking at [`SCAN_ROWS`] rows and
/// [`SCAN_BYTES`] at most; read [`ROUND`] at a time.
pub(super) fn read_unblocked(txn: &dyn ReadTxn, from: u64, blocked: &Blocked) -> Result<Scanned> {
    let mut out = Scanned::none(from);
    // The first waiting rows met, for `vanished`.
    let mut heads_met = Vec::new();
    scan(txn, blocked, &mut out, &mut heads_met)?;
    out.vanished = (blocked.heads.iter())
        .filter(|&(_, &head)| (from..out.next).contains(&head) && !heads_met.contains(&head))
        .map(|(topic, &head)| (topic.clone(), head))
        .collect();
    Ok(out)
}

/// [`read_unblocked`]'s loop: fills `out` from `out.next` on, noting in `heads_met` each row
/// looked at that is a topic's first waiting row.
fn scan(
    txn: &dyn ReadTxn,
    blocked: &Blocked,
    out: &mut Scanned,
    heads_met: &mut Vec<u64>,
) -> Result<()> {
    let (mut bytes, mut scanned, mut looked_bytes) = (0usize, 0usize, 0usize);
    loop {
        let chunk = pending_within(txn, out.next, ROUND, ROUND_BYTES)?;
        // The rows and those that do not decode, in sequence order.
        let mut looked: Vec<(u64, Option<OutboxRecord>)> = chunk
            .rows
            .into_iter()
            .map(|(seq, row)| (seq, Some(row)))
            .collect();
        if !chunk.undecodable.is_empty() {
            looked.extend(chunk.undecodable.into_iter().map(|seq| (seq, None)));
            looked.sort_unstable_by_key(|(seq, _)| *seq);
        }
        for (seq, row) in looked {
            scanned += 1;
            out.next = seq + 1;
            if blocked.heads.values().any(|&head| head == seq) {
                heads_met.push(seq);
            }
            match row {
                None => out.undecodable.push(seq),
                Some(row) if blocked.holds(&row.topic, seq) => {
                    looked_bytes = looked_bytes.saturating_add(size_of(&row));
                    out.skipped_from.get_or_insert(seq);
                }
                Some(row) => {
                    let size = size_of(&row);
                    bytes = bytes.saturating_add(size);
                    looked_bytes = looked_bytes.saturating_add(size);
                    out.rows.push((seq, row));
                }
            }
            if out.rows.len() >= ROUND
                || bytes >= ROUND_BYTES
                || scanned >= SCAN_ROWS
                || looked_bytes >= SCAN_BYTES
            {
                out.more = true;
                return Ok(());
            }
        }
        if !chunk.more {
            return Ok(());
        }
    }
}

/// About the bytes of `row` as stored.
fn size_of(row: &OutboxRecord) -> usize {
    let headers: usize = row.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
    row.topic.len() + row.key.as_ref().map_or(0, Vec::len) + row.value.len() + headers
}

#[cfg(test)]
mod tests;
