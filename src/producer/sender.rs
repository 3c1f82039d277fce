//! One task per partition: takes closed batches in order and splits a batch the broker finds
//! too large. Batches go to a transport that retries by itself (the brokers' one, through the
//! partition writer) handed over by [`pipelined`]; to any other (the unit tests' mock) one
//! produce at a time (so per-key order survives retries), retried here under the batch's
//! delivery deadline.
use std::{sync::Arc, time::Duration};

use rskafka::{client::error::Error as ClientError, record::Record};
use tokio::time::Instant;
use tracing::{debug, warn};

mod pipelined;

use super::{
    ProduceError, Result, Shared, TransportError,
    accumulator::{Batch, PartitionQueue},
    delivery::Outcome,
};
use crate::{
    future::BoxFuture,
    kafka::{
        error_code::{ErrorCode, ResponseError},
        records::size::batch_len,
    },
};

/// Runs until the queue is closed and drained.
pub(crate) async fn run(shared: Arc<Shared>, topic: Arc<str>, queue: Arc<PartitionQueue>) {
    if shared.transport.retries_itself() {
        let depth = shared.transport.max_in_flight().max(1);
        return pipelined::run(&shared, &topic, &queue, depth).await;
    }
    while let Some(batch) = queue.next_batch().await {
        if let Some(error) = queue.held() {
            fail_batch(&shared, &queue, batch, &error);
            continue;
        }
        if let Some(error) = send_batch(&shared, &topic, &queue, batch).await {
            // The batches behind a failed one must not overtake it: a caller that retries the
            // failed records (the outbox relay does) would put them after later ones of the
            // same keys. They fail with it, and their callers retry them in order.
            fail_behind(&shared, &queue, &error);
        }
    }
}

/// Fails every batch queued behind a failed one and, when the producer holds partitions,
/// those that come later until it is released.
pub(super) fn fail_behind(shared: &Shared, queue: &PartitionQueue, error: &ProduceError) {
    if shared.hold.load(std::sync::atomic::Ordering::Acquire) {
        queue.hold(error.clone());
    }
    for later in queue.take_pending() {
        fail_batch(shared, queue, later, error);
    }
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

/// Sends one batch; returns the first error when any of it was not delivered.
async fn send_batch(
    shared: &Shared,
    topic: &str,
    queue: &PartitionQueue,
    mut batch: Batch,
) -> Option<ProduceError> {
    let records = std::mem::take(&mut batch.records);
    let n = records.len();
    let outcome = deliver(shared, topic, queue.partition, records, batch.deadline).await;
    settle(shared, topic, queue, batch, n, outcome)
}

/// Counts and logs the outcome of `batch` of `n` records (handed over already), frees its
/// buffer space and resolves its callers; returns the first retriable error when any of it
/// was not delivered.
pub(super) fn settle(
    shared: &Shared,
    topic: &str,
    queue: &PartitionQueue,
    batch: Batch,
    n: usize,
    outcome: Outcome,
) -> Option<ProduceError> {
    let Batch {
        bytes,
        cost,
        created,
        slot,
        ..
    } = batch;
    let m = &shared.metrics;
    match &outcome {
        Outcome::Delivered(_) => {
            m.records_sent.add(n as u64);
            m.bytes_sent.add(bytes as u64);
            m.batches_sent.add(1);
            m.batch_records.observe(n as f64);
            m.latency.observe(created.elapsed().as_secs_f64());
        }
        Outcome::Failed(e) => {
            warn!(topic, partition = queue.partition, records = n, error = %e, "records not delivered");
            error_counter(shared, e).add(n as u64);
        }
        Outcome::Mixed(results) => {
            for result in results {
                match result {
                    Ok(_) => m.records_sent.add(1),
                    Err(e) => {
                        warn!(topic, partition = queue.partition, error = %e, "record not delivered");
                        error_counter(shared, e).add(1);
                    }
                }
            }
        }
    }
    shared.release(cost);
    // Any record of the batch not delivered for a reason that may pass (in a mixed outcome
    // too) stops the batches behind it.
    let failed = first_error(&outcome);
    slot.send_replace(Some(Arc::new(outcome)));
    queue.completed(n);
    failed
}

fn error_counter<'a>(shared: &'a Shared, e: &ProduceError) -> &'a crate::metrics::Counter {
    let m = &shared.metrics;
    match e {
        ProduceError::Timeout { .. } => &m.errors_timeout,
        ProduceError::RecordTooLarge { .. } => &m.errors_too_large,
        _ => &m.errors_fatal,
    }
}

/// Delivers `records`, splitting on `MessageTooLarge` until single records remain.
pub(super) fn deliver<'a>(
    shared: &'a Shared,
    topic: &'a str,
    partition: i32,
    records: Vec<Record>,
    deadline: Instant,
) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        match produce_with_retries(shared, topic, partition, &records, deadline).await {
            Ok(offsets) => Outcome::Delivered(offsets),
            Err(Attempt::TooLarge) if records.len() > 1 => {
                shared.metrics.splits.add(1);
                let mut left = records;
                let right = left.split_off(left.len() / 2);
                let (na, nb) = (left.len(), right.len());
                debug!(
                    topic,
                    partition,
                    left = left.len(),
                    right = right.len(),
                    "batch too large: split"
                );
                // Left first, then right: order within the partition is kept. A right half
                // sent after a failed left one would overtake it when the caller retries.
                let a = deliver(shared, topic, partition, left, deadline).await;
                let b = match first_error(&a) {
                    Some(e) => Outcome::Failed(e),
                    None => deliver(shared, topic, partition, right, deadline).await,
                };
                merge(a, na, b, nb)
            }
            Err(Attempt::TooLarge) => {
                let size = batch_len(&records);
                Outcome::Failed(ProduceError::RecordTooLarge {
                    size,
                    limit: shared.config.max_message_bytes,
                })
            }
            Err(Attempt::Failed(e)) => Outcome::Failed(e),
        }
    })
}

/// The first error of `outcome` that a caller may retry, if any: records behind it must not
/// be sent before it. A record too large for the broker never will be, so it blocks nothing.
fn first_error(outcome: &Outcome) -> Option<ProduceError> {
    let retriable = |e: &ProduceError| !matches!(e, ProduceError::RecordTooLarge { .. });
    match outcome {
        Outcome::Delivered(_) => None,
        Outcome::Failed(e) => retriable(e).then(|| e.clone()),
        Outcome::Mixed(results) => results
            .iter()
            .find_map(|r| r.as_ref().err().filter(|e| retriable(e)).cloned()),
    }
}

fn expand(outcome: Outcome, n: usize) -> Vec<Result<i64>> {
    match outcome {
        Outcome::Delivered(offsets) => offsets.into_iter().map(Ok).collect(),
        Outcome::Failed(e) => vec![Err(e); n],
        Outcome::Mixed(results) => results,
    }
}

fn merge(a: Outcome, na: usize, b: Outcome, nb: usize) -> Outcome {
    match (a, b) {
        (Outcome::Delivered(mut x), Outcome::Delivered(y)) => {
            x.extend(y);
            Outcome::Delivered(x)
        }
        (a, b) => {
            let mut all = expand(a, na);
            all.extend(expand(b, nb));
            Outcome::Mixed(all)
        }
    }
}

enum Attempt {
    TooLarge,
    Failed(ProduceError),
}

/// One batch, retried with exponential backoff and jitter until `deadline`.
async fn produce_with_retries(
    shared: &Shared,
    topic: &str,
    partition: i32,
    records: &[Record],
    deadline: Instant,
) -> Result<Vec<i64>, Attempt> {
    let cfg = &shared.config;
    let mut backoff = Duration::from_millis(cfg.retry_backoff_ms);
    let max_backoff = Duration::from_millis(cfg.retry_backoff_max_ms);
    let request_timeout = Duration::from_millis(cfg.request_timeout_ms);
    let mut last_error = String::from("none");
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(Attempt::Failed(ProduceError::Timeout {
                deadline: Duration::from_millis(cfg.delivery_timeout_ms),
                last_error,
            }));
        }
        let limit = request_timeout.min(deadline - now);
        let attempt = shared
            .transport
            .produce(topic, partition, records.to_vec(), cfg.compression);
        let n = records.len();
        match tokio::time::timeout(limit, attempt).await {
            Ok(Ok(offsets)) if offsets.len() == n => return Ok(offsets),
            Ok(Ok(offsets)) => {
                let e = TransportError::Client(ClientError::InvalidResponse(format!(
                    "{} offsets for {n} records",
                    offsets.len()
                )));
                return Err(Attempt::Failed(ProduceError::Fatal(Arc::new(e))));
            }
            Ok(Err(e)) => match classify(&e) {
                Class::TooLarge => return Err(Attempt::TooLarge),
                Class::Fatal => return Err(Attempt::Failed(final_error(e))),
                Class::Retry => last_error = e.to_string(),
            },
            Err(_) => last_error = format!("no answer within {limit:?}"),
        }
        if Instant::now() >= deadline {
            continue; // the top of the loop reports the timeout
        }
        shared.metrics.retries.add(1);
        debug!(topic, partition, error = %last_error, ?backoff, "produce failed, retrying");
        let pause = jitter(backoff).min(deadline.saturating_duration_since(Instant::now()));
        tokio::time::sleep(pause).await;
        backoff = (backoff * 2).min(max_backoff);
    }
}

/// The producer's error for a transport error that is not retried: a transport's own
/// delivery timeout stays a timeout.
pub(super) fn final_error(e: TransportError) -> ProduceError {
    match e {
        TransportError::Timeout { after, last } => ProduceError::Timeout {
            deadline: after,
            last_error: last,
        },
        e => ProduceError::Fatal(Arc::new(e)),
    }
}

/// 50%–100% of `d`, so that many partitions retrying at once spread out.
fn jitter(d: Duration) -> Duration {
    let r = uuid::Uuid::new_v4().as_u128() as u64 % 1000;
    d / 2 + d * (r as u32) / 2000
}

#[derive(Debug, PartialEq, Eq)]
enum Class {
    Retry,
    TooLarge,
    Fatal,
}

fn classify(e: &TransportError) -> Class {
    let e = match e {
        TransportError::Client(e) => e,
        TransportError::TooLarge { .. } => return Class::TooLarge,
        // The transport retried by itself, under the same deadline.
        TransportError::Final(_)
        | TransportError::Timeout { .. }
        | TransportError::Behind { .. } => return Class::Fatal,
    };
    match e {
        ClientError::ServerError { protocol_error, .. } => {
            // Kafka's own table of retriable codes, by name (`kafka::error_code`).
            let code = ErrorCode::from(protocol_error);
            match code.error() {
                Some(ResponseError::MessageTooLarge | ResponseError::RecordListTooLarge) => {
                    Class::TooLarge
                }
                _ if code.is_retriable() || code.leader_moved() => Class::Retry,
                _ => Class::Fatal,
            }
        }
        ClientError::InvalidResponse(_) => Class::Fatal,
        // Connection loss, I/O, request errors, timeouts.
        _ => Class::Retry,
    }
}

#[cfg(test)]
mod tests;
