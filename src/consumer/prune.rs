//! Pruning of the consumer's memory: dedupe marks older than `consumer.dedupe_horizon_secs`,
//! and with each mark the event-log entry of its event.
//!
//! A mark says "this record was handled", so that a copy of it (producer retry, outbox replay,
//! a re-read after an offset reset) is skipped. Copies arrive within a bounded window after
//! the first: a mark older than that window protects nothing and only makes the store grow.
//! The horizon must therefore be longer than any redelivery window: the retention of the
//! events topic (an offset reset to earliest re-reads all of it) plus the longest Kafka outage
//! during which an outbox row may be sent again. A copy that arrives after its mark was
//! pruned is applied a second time.
//!
//! Each mark stores the time it was written ([`Mark`]); its key holds the id of its event
//! (`u/<uuid>`, see `process::dedupe_key`; marks of earlier versions store it in the value).
//! The event log (event id → times applied) has no time of its own; its entry goes with the
//! mark of the record that applied it. Pruning scans the dedupe table in key order, [`BATCH`] keys per
//! store transaction, so that the consumer's passes interleave with it.
use std::{sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::ConsumerMetrics;
use crate::store::{self, ReadTxn, Result, Store, StoreExt, Table, WriteTxn};

/// Dedupe keys looked at per store transaction.
pub const BATCH: usize = 1_000;

/// The value of a dedupe mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// When the record was handled (ms since the epoch).
    pub seen_ms: i64,
    /// Its event id (`ce_id` as a UUID), whose event-log entry goes with the mark.
    pub event_id: Option<[u8; 16]>,
}

impl Mark {
    /// Decodes a stored mark; marks written before the event id was kept are a bare time.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        match postcard::take_from_bytes::<Self>(bytes) {
            Ok((mark, [])) => Some(mark),
            _ => postcard::from_bytes::<i64>(bytes).ok().map(|seen_ms| Self {
                seen_ms,
                event_id: None,
            }),
        }
    }
}

/// Rows removed by a prune.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Dedupe marks.
    pub marks: u64,
    /// Event-log entries.
    pub event_log: u64,
}

/// Removes, among up to `limit` marks from key `start` on, those seen before `cutoff_ms`, with
/// their event-log entries. Returns what it removed and the key to go on from (none at the end).
pub fn prune_batch(
    txn: &mut dyn WriteTxn,
    start: &[u8],
    cutoff_ms: i64,
    limit: usize,
) -> Result<(Pruned, Option<Vec<u8>>)> {
    let rows = txn.range_from(Table::Dedupe, start, limit)?;
    let next = (rows.len() == limit)
        .then(|| rows.last().map(|(k, _)| [k.as_slice(), &[0]].concat()))
        .flatten();
    let mut pruned = Pruned::default();
    for (key, value) in rows {
        // An undecodable mark (corruption) is old by definition: it protects nothing readable.
        let mark = Mark::decode(&value);
        if mark.is_some_and(|m| m.seen_ms >= cutoff_ms) {
            continue;
        }
        txn.delete(Table::Dedupe, &key)?;
        pruned.marks += 1;
        let id = mark
            .and_then(|m| m.event_id)
            .or_else(|| crate::consumer::process::event_id_of_mark(&key));
        if let Some(id) = id
            && txn.delete(Table::EventLog, &id)?
        {
            pruned.event_log += 1;
        }
    }
    Ok((pruned, next))
}

/// Prunes everything seen before `cutoff_ms`, one transaction per [`BATCH`] keys; ends after
/// the batch in hand once `cancel` fires (a pass over a large table must not hold up a stop).
pub fn prune(store: &dyn Store, cutoff_ms: i64, cancel: &CancellationToken) -> Result<Pruned> {
    let mut total = Pruned::default();
    let mut start = Vec::new();
    loop {
        if cancel.is_cancelled() {
            return Ok(total);
        }
        let (pruned, next) = store.write_with(|txn| prune_batch(txn, &start, cutoff_ms, BATCH))?;
        total.marks += pruned.marks;
        total.event_log += pruned.event_log;
        match next {
            Some(key) => start = key,
            None => return Ok(total),
        }
    }
}

/// Rows left in the dedupe table and the event log.
pub fn sizes(txn: &dyn ReadTxn) -> Result<(u64, u64)> {
    Ok((txn.count(Table::Dedupe)?, txn.count(Table::EventLog)?))
}

/// Writes the dedupe mark of `key`, seen at `now_ms`, for the event `event_id`.
pub fn mark(
    txn: &mut dyn WriteTxn,
    key: &[u8],
    now_ms: i64,
    event_id: Option<[u8; 16]>,
) -> Result<()> {
    let mark = Mark {
        seen_ms: now_ms,
        event_id,
    };
    store::put(txn, Table::Dedupe, key, &mark)
}

/// Prunes at start and every `interval` until `cancel`, counting into `metrics`.
pub async fn run(
    store: Arc<dyn Store>,
    horizon: Duration,
    interval: Duration,
    metrics: Arc<ConsumerMetrics>,
    cancel: CancellationToken,
) {
    loop {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let cutoff_ms =
            now_ms.saturating_sub(i64::try_from(horizon.as_millis()).unwrap_or(i64::MAX));
        let s = Arc::clone(&store);
        let stop = cancel.clone();
        let result = tokio::task::spawn_blocking(move || {
            let pruned = prune(&*s, cutoff_ms, &stop)?;
            // Not counted on the way out: a count of a large table (PostgreSQL) takes a while.
            if stop.is_cancelled() {
                return Ok(None);
            }
            let sizes = s.read_with(sizes)?;
            Ok::<_, store::StoreError>(Some((pruned, sizes)))
        })
        .await;
        if cancel.is_cancelled() {
            return;
        }
        match result {
            Ok(Ok(None)) => return,
            Ok(Ok(Some((pruned, (marks, event_log))))) => {
                metrics.pruned_marks.add(pruned.marks);
                metrics.pruned_event_log.add(pruned.event_log);
                metrics
                    .dedupe_marks
                    .set(i64::try_from(marks).unwrap_or(i64::MAX));
                metrics
                    .event_log_entries
                    .set(i64::try_from(event_log).unwrap_or(i64::MAX));
                debug!(?pruned, marks, event_log, "consumer: pruned dedupe marks");
            }
            Ok(Err(error)) => warn!(%error, "consumer: pruning dedupe marks failed"),
            Err(error) => warn!(%error, "consumer: pruning task failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = cancel.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests;
