//! The batches a partition's pipeline took from its queue and owes an outcome, and their
//! settling: metrics, the buffer space given back, the delivery reports resolved.
//!
//! A batch is sent as one piece, or as several after splits; its outcome is whole once every
//! piece has one, and its records' outcomes are in record order whatever the order in which
//! the pieces ended.
use std::{collections::VecDeque, sync::Arc};

use tracing::{debug, warn};

use crate::producer::{
    ProduceError, Shared,
    accumulator::{Batch, PartitionQueue},
    delivery::Outcome,
};

/// One batch owed an outcome.
#[derive(Debug)]
struct Owed {
    serial: u64,
    /// The batch, its records taken out (they are in its pieces' requests).
    batch: Batch,
    /// Records it held.
    n: usize,
    /// Records without an outcome yet.
    open: usize,
    /// The outcomes of its pieces that ended: index of the first record, records, outcome.
    parts: Vec<(usize, usize, Outcome)>,
}

/// The batches owed an outcome, oldest first.
#[derive(Debug, Default)]
pub(super) struct Unsettled {
    batches: VecDeque<Owed>,
    next_serial: u64,
}

impl Unsettled {
    /// Adds `batch` of `n` records; returns the serial its pieces name it by.
    pub(super) fn push(&mut self, batch: Batch, n: usize) -> u64 {
        let serial = self.next_serial;
        self.next_serial += 1;
        self.batches.push_back(Owed {
            serial,
            batch,
            n,
            open: n,
            parts: Vec::new(),
        });
        serial
    }

    /// Records `outcome` for `count` records from index `first` of batch `serial`; returns the
    /// batch, its record count and its whole outcome once every record has one.
    pub(super) fn record(
        &mut self,
        serial: u64,
        first: usize,
        count: usize,
        outcome: Outcome,
    ) -> Option<(Batch, usize, Outcome)> {
        let at = self.batches.iter().position(|b| b.serial == serial)?;
        let owed = &mut self.batches[at];
        owed.parts.push((first, count, outcome));
        owed.open = owed.open.saturating_sub(count);
        if owed.open > 0 {
            return None;
        }
        let owed = self.batches.remove(at)?;
        Some((owed.batch, owed.n, merge(owed.parts)))
    }
}

/// The outcome of a whole batch from those of its pieces.
pub(super) fn merge(mut parts: Vec<(usize, usize, Outcome)>) -> Outcome {
    if parts.len() == 1
        && let Some((_, _, outcome)) = parts.pop()
    {
        return outcome;
    }
    parts.sort_by_key(|(first, _, _)| *first);
    if parts
        .iter()
        .all(|(_, _, o)| matches!(o, Outcome::Delivered(_)))
    {
        let mut offsets = Vec::new();
        for (_, _, outcome) in parts {
            if let Outcome::Delivered(o) = outcome {
                offsets.extend(o);
            }
        }
        return Outcome::Delivered(offsets);
    }
    let mut all = Vec::new();
    for (_, count, outcome) in parts {
        match outcome {
            Outcome::Delivered(offsets) => all.extend(offsets.into_iter().map(Ok)),
            Outcome::Failed(e) => all.extend(std::iter::repeat_n(Err(e), count)),
            Outcome::Mixed(results) => all.extend(results),
        }
    }
    Outcome::Mixed(all)
}

/// Counts and logs the outcome of `batch` of `n` records (taken out already), frees its
/// buffer space and resolves its callers.
pub(super) fn settle(
    shared: &Shared,
    topic: &str,
    queue: &PartitionQueue,
    batch: Batch,
    n: usize,
    outcome: Outcome,
) {
    let Batch {
        bytes,
        cost,
        created,
        slot,
        ..
    } = batch;
    let m = &shared.metrics;
    let partition = queue.partition;
    match &outcome {
        Outcome::Delivered(_) => {
            m.records_sent.add(n as u64);
            m.bytes_sent.add(bytes as u64);
            m.batches_sent.add(1);
            m.batch_records.observe(n as f64);
            m.latency.observe(created.elapsed().as_secs_f64());
        }
        // The relay's lease ended with them unsent: routine at a hand-over, and the next
        // holder sends them.
        Outcome::Failed(e @ ProduceError::LeaseEnded) => {
            debug!(topic, partition, records = n, error = %e, "records not sent");
            error_counter(shared, e).add(n as u64);
        }
        Outcome::Failed(e) => {
            warn!(topic, partition, records = n, error = %e, "records not delivered");
            error_counter(shared, e).add(n as u64);
        }
        Outcome::Mixed(results) => {
            for result in results {
                match result {
                    Ok(_) => m.records_sent.add(1),
                    Err(e) => {
                        warn!(topic, partition, error = %e, "record not delivered");
                        error_counter(shared, e).add(1);
                    }
                }
            }
        }
    }
    shared.release(cost);
    slot.send_replace(Some(Arc::new(outcome)));
    queue.completed(n);
}

/// Resolves a batch that was never sent with `error`.
pub(super) fn fail_batch(
    shared: &Shared,
    queue: &PartitionQueue,
    batch: Batch,
    error: &ProduceError,
) {
    let n = batch.records.len();
    error_counter(shared, error).add(n as u64);
    shared.release(batch.cost);
    batch
        .slot
        .send_replace(Some(Arc::new(Outcome::Failed(error.clone()))));
    queue.completed(n);
}

fn error_counter<'a>(shared: &'a Shared, e: &ProduceError) -> &'a crate::metrics::Counter {
    let m = &shared.metrics;
    match e {
        ProduceError::Timeout { .. } => &m.errors_timeout,
        ProduceError::RecordTooLarge { .. } => &m.errors_too_large,
        ProduceError::LeaseEnded => &m.errors_lease_ended,
        _ => &m.errors_fatal,
    }
}
