//! What the producer needs from Kafka: the seam below its one pipeline, where the unit tests'
//! [`super::mock`] stands in for the brokers.
//!
//! It is as low as the pipeline can go: a topic's partition count, the producer id and epoch
//! (and their renewal), and each partition's leader, which takes an encoded Produce request and
//! answers it. Everything above (batching, sequences, the in-flight window, retries, splitting,
//! holding) is the pipeline's own, and runs the same in the unit tests and in production.
use std::{sync::Arc, time::Duration};

use tokio::time::Instant;

use futures::future::BoxFuture;

use super::SessionError;
use crate::kafka::{
    ClientError,
    error_code::ErrorCode,
    protocol::{CallError, Produce, ProducerIdentity},
};

/// The broker's answer for the one partition of a Produce request: its error code (NONE:
/// written) and the base offset; `None` when the answer does not mention the partition.
pub type PartitionAnswer = Option<(ErrorCode, i64)>;

/// Why a batch failed for good on the broker's side, in [`super::ProduceError::Fatal`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The broker refused the batch with an error code a resend of the same bytes would get
    /// again (authorization, an invalid record, a Produce version it does not have, ...).
    #[error("the broker refused the batch with {0}")]
    Refused(ErrorCode),
    /// The batch could not be encoded (its codec failed).
    #[error("the batch could not be encoded")]
    Encode(#[source] std::io::Error),
}

/// Why a topic's partition count is not known.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// The brokers do not know the topic.
    #[error("topic does not exist")]
    UnknownTopic,
    /// The topic exists but lists no partitions.
    #[error("topic has no partitions")]
    NoPartitions,
    /// The metadata request of a transport of our own failed.
    #[error("cannot list topics")]
    Request(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Partition counts, the producer identity and the way to each partition's leader.
pub trait Transport: Send + Sync + 'static {
    /// Number of partitions of `topic` (at least one).
    fn partition_count<'a>(&'a self, topic: &'a str)
    -> BoxFuture<'a, Result<usize, MetadataError>>;

    /// The producer id and epoch to number batches under now ([`ProducerIdentity::NONE`]: no
    /// idempotence; the pipeline then keeps one request in flight per partition).
    fn identity(&self) -> ProducerIdentity;

    /// Produce requests a partition may keep in flight when it has a producer id (1 to 5).
    fn max_in_flight(&self) -> usize;

    /// The identity that replaces `stale`, which the broker no longer takes: the current one
    /// when another partition renewed it already, else a new one (KIP-360).
    fn renew(
        &self,
        stale: ProducerIdentity,
    ) -> BoxFuture<'_, Result<ProducerIdentity, SessionError>>;

    /// The leader of `topic`/`partition`, to send Produce requests to.
    fn leader(
        self: Arc<Self>,
        topic: Arc<str>,
        partition: i32,
    ) -> BoxFuture<'static, Result<Arc<dyn PartitionLeader>, ClientError>>;

    /// Forgets what is known of `topic`'s leaders (one of them may have moved).
    fn invalidate(&self, topic: &str);
}

/// One partition's leader, as the pipeline sends to it.
pub trait PartitionLeader: Send + Sync {
    /// Sends `request` (acks = all) and resolves with the answer for its partition. The request
    /// takes its place on the way to the broker when the future is first polled: requests whose
    /// futures are polled one after the other are written in that order. The caller gives up
    /// after `timeout`: a request not written by then is never written; nor is one not handed
    /// to the connection by `write_by` (the producer's
    /// [`send_until`](super::Producer::send_until), which says the bound's limit), which bounds
    /// only that, not the wait for the answer.
    fn produce<'a>(
        &'a self,
        request: &'a Produce,
        timeout: Duration,
        write_by: Option<Instant>,
    ) -> BoxFuture<'a, Result<PartitionAnswer, CallError>>;

    /// A request failed so that the way to the leader is broken (connection lost, no answer):
    /// the next lookup makes a new one.
    fn lost(&self);

    /// Whether the way to the leader is known broken before any request fails on it (the
    /// broker hung up the connection, say one idle past its `connections.max.idle.ms`): the
    /// pipeline looks the leader up again before it sends.
    fn is_closed(&self) -> bool;
}
