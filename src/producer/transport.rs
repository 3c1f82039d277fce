//! What the producer needs from Kafka, behind a small trait so unit tests can use a mock.
use rskafka::{client::error::Error as ClientError, record::Record};

use super::Codec;
use crate::future::BoxFuture;

/// A batch handed to a pipelining transport: resolves with its offsets once delivered.
pub type Pending = BoxFuture<'static, Result<Vec<i64>, TransportError>>;

/// Why a produce request did not deliver its batch.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// rskafka's answer (connection, protocol or broker error); the sender retries what is
    /// retriable.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The broker refuses the batch as too large: the sender splits it. A transport that owns
    /// the records once they are handed over (a pipelining one) hands them back in `records`,
    /// so that the sender need not keep a copy of every batch in flight.
    #[error("batch too large for the broker")]
    TooLarge {
        /// The broker's answer.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
        /// The batch, when the transport hands it back.
        records: Option<Vec<Record>>,
    },
    /// An earlier batch of the partition failed in a transport that pipelines, so this one was
    /// not written; its records come back so that the sender can send them again once it has
    /// dealt with the earlier one (split it, say).
    #[error("an earlier batch of the partition failed")]
    Behind {
        /// Why the earlier batch failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
        /// The batch.
        records: Vec<Record>,
    },
    /// A transport that retries by itself (the partition writer) did not get the batch
    /// acknowledged within the delivery timeout.
    #[error("not delivered within {after:?}: {last}")]
    Timeout {
        /// The delivery timeout.
        after: std::time::Duration,
        /// The last failure seen.
        last: String,
    },
    /// A final answer from a transport that retries by itself (the idempotent writer resends
    /// a batch with its sequence numbers under the delivery timeout): not retried again.
    #[error("not delivered")]
    Final(#[source] Box<dyn std::error::Error + Send + Sync>),
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

/// Produce requests and partition counts.
pub trait Transport: Send + Sync + 'static {
    /// Number of partitions of `topic` (at least one).
    fn partition_count<'a>(&'a self, topic: &'a str)
    -> BoxFuture<'a, Result<usize, MetadataError>>;

    /// Writes `records` to one partition with acks=all; the offsets in record order.
    fn produce<'a>(
        &'a self,
        topic: &'a str,
        partition: i32,
        records: Vec<Record>,
        codec: Codec,
    ) -> BoxFuture<'a, Result<Vec<i64>, TransportError>>;

    /// Produce requests the transport keeps in flight per partition. 1 (the default): the
    /// sender waits for each batch before it sends the next of that partition, the only way to
    /// keep per-key order through retries without broker sequence numbers. More: the sender
    /// hands over up to that many batches with [`Transport::enqueue`] and the transport keeps
    /// their order (the idempotent producer's sequences do).
    fn max_in_flight(&self) -> usize {
        1
    }

    /// Whether the transport retries by itself and hands a batch too large back (the partition
    /// writer does): the sender then hands batches over with [`Transport::enqueue`], even one
    /// at a time, and never copies them for a retry of its own. The default: when more than one
    /// request may be in flight.
    fn retries_itself(&self) -> bool {
        self.max_in_flight() > 1
    }

    /// Queues `records` behind the batches queued before for the same partition; the outer
    /// future resolves once queued, the inner once delivered. The default sends it at once and
    /// waits for the answer (for transports with [`Transport::max_in_flight`] 1).
    // The outer future is the queueing, the inner the delivery: yielding a future is the point.
    #[allow(clippy::async_yields_async)]
    fn enqueue<'a>(
        &'a self,
        topic: &'a str,
        partition: i32,
        records: Vec<Record>,
        codec: Codec,
    ) -> BoxFuture<'a, Pending> {
        Box::pin(async move {
            let result = self.produce(topic, partition, records, codec).await;
            Box::pin(std::future::ready(result)) as Pending
        })
    }
}
