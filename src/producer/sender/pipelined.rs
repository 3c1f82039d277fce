//! The sender of one partition when the transport pipelines (the idempotent producer): up to
//! `depth` batches handed over in queue order, their answers taken in the same order.
//!
//! The transport keeps the order on the wire (broker sequence numbers: a resent batch is
//! dropped by the broker if it landed before, and one behind it cannot land before it). Here
//! the rule of the sequential sender holds too: when a batch fails, every batch behind it
//! fails as well (those in flight come back aborted by the writer, those still queued are
//! failed here), so a caller that retries them keeps their order.
use std::collections::VecDeque;

use super::{Outcome, deliver, fail_batch, fail_behind, final_error, settle};
use crate::producer::{
    Pending, ProduceError, Shared, TransportError,
    accumulator::{Batch, PartitionQueue},
};

struct InFlight {
    batch: Batch,
    n: usize,
    pending: Pending,
}

/// Runs until the queue is closed and drained.
pub(super) async fn run(shared: &Shared, topic: &str, queue: &PartitionQueue, depth: usize) {
    let mut inflight: VecDeque<InFlight> = VecDeque::new();
    let mut closed = false;
    loop {
        if closed && inflight.is_empty() {
            return;
        }
        let room = !closed && inflight.len() < depth;
        tokio::select! {
            biased;
            result = async {
                match inflight.front_mut() {
                    Some(f) => f.pending.as_mut().await,
                    None => std::future::pending().await,
                }
            }, if !inflight.is_empty() => {
                let Some(front) = inflight.pop_front() else { continue };
                if let Some(error) = finish(shared, topic, queue, front, result).await {
                    // Everything behind the failed batch fails with it, in order.
                    while let Some(next) = inflight.pop_front() {
                        let result = next.pending.await;
                        let (batch, n) = (next.batch, next.n);
                        let outcome = match result {
                            Ok(offsets) if offsets.len() == n => Outcome::Delivered(offsets),
                            _ => Outcome::Failed(error.clone()),
                        };
                        settle(shared, topic, queue, batch, n, outcome);
                    }
                    fail_behind(shared, queue, &error);
                }
            }
            batch = queue.next_batch(), if room => match batch {
                None => closed = true,
                Some(batch) if queue.held().is_some() => {
                    if let Some(error) = queue.held() {
                        fail_batch(shared, queue, batch, &error);
                    }
                }
                Some(mut batch) => {
                    let records = std::mem::take(&mut batch.records);
                    let n = records.len();
                    // Handed over, not copied: a batch too large comes back with its answer.
                    let pending = shared
                        .transport
                        .enqueue(topic, queue.partition, records, shared.config.compression)
                        .await;
                    inflight.push_back(InFlight { batch, n, pending });
                }
            },
        }
    }
}

/// Settles the front batch with its answer; a batch the broker finds too large is split and
/// delivered piece by piece. Returns the first error when any of it was not delivered.
async fn finish(
    shared: &Shared,
    topic: &str,
    queue: &PartitionQueue,
    f: InFlight,
    result: Result<Vec<i64>, TransportError>,
) -> Option<ProduceError> {
    let InFlight { batch, n, .. } = f;
    let outcome = match result {
        Ok(offsets) if offsets.len() == n => Outcome::Delivered(offsets),
        Ok(offsets) => Outcome::Failed(ProduceError::Fatal(std::sync::Arc::new(
            TransportError::Client(rskafka::client::error::Error::InvalidResponse(format!(
                "{} offsets for {n} records",
                offsets.len()
            ))),
        ))),
        // A pipelining transport retries by itself: only a batch too large is worked on here,
        // split from the records the transport hands back (one that hands none back gets the
        // batch failed below: the sender keeps no copy).
        Err(TransportError::TooLarge {
            records: Some(records),
            ..
        }) => deliver(shared, topic, queue.partition, records, batch.deadline).await,
        // Aborted behind an earlier batch that is dealt with by now (this is the front batch:
        // a failure ahead of it would have failed it in `run`), typically one split above:
        // its records go out again, after that batch's pieces.
        Err(TransportError::Behind { records, .. }) => {
            deliver(shared, topic, queue.partition, records, batch.deadline).await
        }
        Err(e) => Outcome::Failed(final_error(e)),
    };
    settle(shared, topic, queue, batch, n, outcome)
}

#[cfg(test)]
mod tests;
