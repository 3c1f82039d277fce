//! The partition writer: one task per partition that writes batches under the
//! session's producer id and epoch with per-partition sequence numbers, up to `max_in_flight`
//! requests at a time, and keeps their order through retries, reconnects and broker restarts.
//!
//! ```text
//!  submit(records) ──► queue ──► task: assign sequence, build ProduceRequest (once)
//!                                  │  up to max_in_flight requests on the leader's connection,
//!                                  │  written in sequence order, answered in order
//!                                  ▼
//!                      answer per batch ──► Delivered / WriteError to its submitter
//! ```
//!
//! # Answers and what the writer does (see `request::classify`)
//! - success: delivered, with the base offset;
//! - DUPLICATE_SEQUENCE_NUMBER (46): delivered before, offset unknown (librdkafka and the Java
//!   client do the same; Nisshi's sqlite storage answers it for a resent batch, its memory
//!   storage answers success with the original offset instead);
//! - a retriable error or a lost connection: every request in flight is let finish, then the
//!   unacknowledged batches are resent in order, unchanged (same identity, same sequences),
//!   after a backoff, to the leader found in fresh metadata;
//! - OUT_OF_ORDER_SEQUENCE_NUMBER (45) behind an earlier failed batch: part of that retry (the
//!   gap is the earlier batch's), as the Java client does (librdkafka bumps the epoch here);
//! - OUT_OF_ORDER_SEQUENCE_NUMBER on the first unacknowledged batch, UNKNOWN_PRODUCER_ID (59),
//!   INVALID_PRODUCER_EPOCH (47), PRODUCER_FENCED (90, what Nisshi answers for a stale epoch):
//!   the broker's state and ours differ. As KIP-360 has it, once nothing is in flight the
//!   session renews the identity (InitProducerId with the current id and epoch) and every
//!   unacknowledged batch is renumbered from sequence 0 and resent in order. librdkafka raises a
//!   fatal error for a head-of-line out-of-order answer and the Java client fails that batch;
//!   we resend it, because per-key order outranks the rare duplicate this can cause (the batch
//!   may have been written before the broker lost its state), which the consumer's dedupe
//!   removes;
//! - any other error: that batch fails with it, and every batch behind it (in flight, waiting,
//!   or queued before the failure was seen) fails too ([`WriteError::Aborted`]), so a caller
//!   that retries them keeps their order; the next batch starts a renewed identity, since the
//!   failed sequence left a gap;
//! - a batch still unacknowledged after `delivery_timeout` fails the same way.
mod pipeline;
mod request;

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use rskafka::{client::partition::Compression, record::Record};
use tokio::sync::{mpsc, oneshot};

use super::session::{ProducerSession, SessionError};
use crate::kafka::{ClientError, error_code::ErrorCode, protocol::CallError};

pub use request::produce_request;

/// How a partition writer sends.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Produce requests in flight at once (Kafka allows at most 5 with idempotence).
    pub max_in_flight: usize,
    /// The batch compression.
    pub compression: Compression,
    /// How long the broker may wait for replication (the request's `timeout_ms`).
    pub broker_timeout_ms: i32,
    /// A batch not acknowledged this long after it was submitted fails.
    pub delivery_timeout: Duration,
    /// The first retry backoff; it doubles per failed round up to `max_backoff`.
    pub retry_backoff: Duration,
    /// The largest retry backoff.
    pub max_backoff: Duration,
    /// Batches waiting for the task (backpressure beyond that).
    pub queue: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 5,
            compression: Compression::NoCompression,
            broker_timeout_ms: 30_000,
            delivery_timeout: Duration::from_secs(120),
            retry_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            queue: 64,
        }
    }
}

/// A delivered batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// The offset of its first record; `None` when the broker answered
    /// DUPLICATE_SEQUENCE_NUMBER (written before, offset not reported).
    pub base_offset: Option<i64>,
    /// How many records it held.
    pub records: usize,
}

/// What went wrong on the way to delivering a batch, for [`WriteError::Timeout`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Cause {
    /// The broker answered this error code.
    #[error("the broker answered {0}")]
    Code(ErrorCode),
    /// The answer did not mention the partition.
    #[error("the answer did not mention the partition")]
    NotInAnswer,
    /// Nothing failed: the deadline passed before an answer came.
    #[error("no answer before the deadline")]
    NoAnswer,
    /// The request failed.
    #[error(transparent)]
    Call(#[from] CallError),
    /// No connection to the leader.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// No producer identity.
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// Why a batch was not delivered.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The broker refused the batch with a non-retriable error code (MESSAGE_TOO_LARGE, ...).
    #[error("the broker rejected the batch with {code}")]
    Rejected {
        /// Kafka's error code.
        code: ErrorCode,
    },
    /// Not acknowledged within the delivery timeout (it may or may not have been written).
    #[error("not delivered within {after:?}")]
    Timeout {
        /// The delivery timeout.
        after: Duration,
        /// The last failure seen.
        #[source]
        last: Arc<Cause>,
    },
    /// An earlier batch of the partition failed; this one was not sent (or not acknowledged)
    /// so that it does not overtake it.
    #[error("an earlier batch of the partition failed")]
    Aborted(#[source] Arc<WriteError>),
    /// The batch has no records.
    #[error("empty batch")]
    Empty,
    /// The batch could not be encoded (its codec failed).
    #[error("the batch could not be encoded")]
    Encode(#[source] Arc<std::io::Error>),
    /// The writer task has stopped.
    #[error("the partition writer has stopped")]
    Closed,
}

struct Submission {
    records: Vec<Record>,
    reply: oneshot::Sender<Reply>,
}

/// What a submitter gets back: the outcome and, for a batch the broker rejected or one aborted
/// behind it, its records,
/// so that a caller can split a batch too large for the broker without keeping a copy of
/// every batch it hands over.
#[derive(Debug)]
struct Reply {
    result: Result<Delivered, WriteError>,
    rejected: Option<Vec<Record>>,
}

impl From<Result<Delivered, WriteError>> for Reply {
    fn from(result: Result<Delivered, WriteError>) -> Self {
        Self {
            result,
            rejected: None,
        }
    }
}

/// The outcome of one submitted batch.
#[derive(Debug)]
pub struct Delivery(oneshot::Receiver<Reply>);

impl Delivery {
    /// The outcome, with the batch's records handed back when the broker rejected it
    /// ([`WriteError::Rejected`]) or it was aborted behind a rejected one
    /// ([`WriteError::Aborted`], not written); `None` for every other outcome.
    pub async fn settled(self) -> (Result<Delivered, WriteError>, Option<Vec<Record>>) {
        match self.0.await {
            Ok(reply) => (reply.result, reply.rejected),
            Err(_) => (Err(WriteError::Closed), None),
        }
    }
}

impl Future for Delivery {
    type Output = Result<Delivered, WriteError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.map_or(Err(WriteError::Closed), |reply| reply.result))
    }
}

/// The handle of one partition's writer task. Dropping it lets the task finish what was
/// submitted, then stop.
#[derive(Debug)]
pub struct PartitionWriter {
    queue: mpsc::Sender<Submission>,
    task: tokio::task::JoinHandle<()>,
}

impl PartitionWriter {
    /// Starts the writer of `topic`/`partition` under `session`'s identity. One writer per
    /// partition and session: a second one would start the same sequences again.
    pub fn spawn(
        session: Arc<ProducerSession>,
        topic: &str,
        partition: i32,
        config: WriterConfig,
    ) -> Self {
        let (queue, rx) = mpsc::channel(config.queue.max(1));
        let task = tokio::spawn(pipeline::run(pipeline::Pipeline::new(
            session, topic, partition, config, rx,
        )));
        Self { queue, task }
    }

    /// Queues `records` as one batch (waiting while the queue is full); the returned future
    /// resolves when the batch is delivered or has failed. Batches are written in the order
    /// they were queued.
    pub async fn submit(&self, records: Vec<Record>) -> Delivery {
        let (reply, rx) = oneshot::channel();
        if records.is_empty() {
            let _ = reply.send(Err(WriteError::Empty).into());
        } else if let Err(mpsc::error::SendError(s)) =
            self.queue.send(Submission { records, reply }).await
        {
            let _ = s.reply.send(Err(WriteError::Closed).into());
        }
        Delivery(rx)
    }

    /// Stops taking batches and waits until every queued one is resolved.
    pub async fn close(self) {
        drop(self.queue);
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests;
