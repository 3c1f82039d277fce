//! The producer's transport with broker-level idempotence: one [`ProducerSession`] (producer
//! id and epoch from InitProducerId) and one [`PartitionWriter`] per partition, which numbers
//! batches, keeps up to `max_in_flight` of them in flight and resends them unchanged until the
//! broker acknowledges them (see `protocol::writer` for every answer it handles).
//!
//! ```text
//!  producer sender (per partition) ─ enqueue ─► PartitionWriter ─► leader (seq n, n+k, ...)
//!           ▲ in order                          (retries keep the sequence: the broker
//!           └──── offsets / final error ◄────── drops a batch it already has)
//! ```
//!
//! It lives here rather than in `producer` because it speaks the protocol layer, which reads
//! the Kafka settings of `config`; the producer only knows the [`Transport`] trait.
use std::{collections::HashMap, sync::Arc, time::Duration};

use parking_lot::Mutex;
use rskafka::record::Record;

use super::error_code::ResponseError;
use super::protocol::{
    Cluster, ConnectSettings, PartitionWriter, ProducerIdentity, ProducerSession, SessionError,
    WriteError, WriterConfig,
};
use crate::{
    config::KafkaConfig,
    future::BoxFuture,
    producer::{Codec, MetadataError, Pending, ProducerConfig, Transport, TransportError},
};

/// Why the idempotent transport could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdempotentError {
    /// The TLS settings cannot be used.
    #[error(transparent)]
    Security(#[from] super::security::SecurityError),
    /// No producer id: no broker answered InitProducerId, or it refused.
    #[error("no idempotent producer id")]
    Session(#[from] SessionError),
}

/// The idempotent [`Transport`]. See the module docs.
#[derive(Debug)]
pub struct IdempotentTransport {
    session: Arc<ProducerSession>,
    writer: WriterConfig,
    writers: Mutex<HashMap<(String, i32), Arc<PartitionWriter>>>,
}

impl IdempotentTransport {
    /// Connects to `kafka`'s brokers and obtains a producer id.
    pub async fn connect(
        kafka: &KafkaConfig,
        producer: &ProducerConfig,
    ) -> Result<Self, IdempotentError> {
        let settings = ConnectSettings::from_config(kafka)?;
        let cluster = Arc::new(Cluster::new(kafka.brokers.clone(), settings));
        let session = Arc::new(ProducerSession::start(cluster).await?);
        Ok(Self {
            session,
            writer: WriterConfig {
                max_in_flight: producer.max_in_flight.clamp(1, 5),
                compression: producer.compression.to_rskafka(),
                broker_timeout_ms: i32::try_from(producer.request_timeout_ms).unwrap_or(i32::MAX),
                delivery_timeout: Duration::from_millis(producer.delivery_timeout_ms),
                retry_backoff: Duration::from_millis(producer.retry_backoff_ms),
                max_backoff: Duration::from_millis(producer.retry_backoff_max_ms),
                ..WriterConfig::default()
            },
            writers: Mutex::new(HashMap::new()),
        })
    }

    /// The producer id and epoch batches are written under now.
    pub fn identity(&self) -> ProducerIdentity {
        self.session.identity()
    }

    fn writer(&self, topic: &str, partition: i32, codec: Codec) -> Arc<PartitionWriter> {
        let mut writers = self.writers.lock();
        let writer = writers
            .entry((topic.to_owned(), partition))
            .or_insert_with(|| {
                let config = WriterConfig {
                    compression: codec.to_rskafka(),
                    ..self.writer.clone()
                };
                Arc::new(PartitionWriter::spawn(
                    Arc::clone(&self.session),
                    topic,
                    partition,
                    config,
                ))
            });
        Arc::clone(writer)
    }
}

/// The offsets of a delivered batch of `n` records; −1 each when the broker answered
/// DUPLICATE_SEQUENCE_NUMBER (written before, its offset not reported).
fn offsets(base: Option<i64>, n: usize) -> Vec<i64> {
    match base {
        Some(base) => (base..base + n as i64).collect(),
        None => vec![-1; n],
    }
}

/// The transport's error for `e`; `records` is the batch handed back with a rejection.
fn transport_error(e: WriteError, records: Option<Vec<Record>>) -> TransportError {
    match e {
        // The sender splits such a batch.
        WriteError::Rejected { code }
            if matches!(
                code.error(),
                Some(ResponseError::MessageTooLarge | ResponseError::RecordListTooLarge)
            ) =>
        {
            TransportError::TooLarge {
                source: Box::new(e),
                records,
            }
        }
        e => TransportError::Final(Box::new(e)),
    }
}

impl Transport for IdempotentTransport {
    fn partition_count<'a>(
        &'a self,
        topic: &'a str,
    ) -> BoxFuture<'a, Result<usize, MetadataError>> {
        Box::pin(async move {
            let cluster = self.session.cluster();
            let request = |e: Box<dyn std::error::Error + Send + Sync>| MetadataError::Request(e);
            let connection = cluster.any().await.map_err(|e| request(Box::new(e)))?;
            let metadata = match connection.metadata(&[topic]).await {
                Ok(m) => m,
                Err(e) => {
                    if e.is_connection_lost() {
                        cluster.forget(&connection);
                    }
                    return Err(request(Box::new(e)));
                }
            };
            let t = metadata
                .topics
                .iter()
                .find(|t| t.name.0 == topic)
                .ok_or(MetadataError::UnknownTopic)?;
            match &t.error {
                Some(rskafka::protocol::error::Error::UnknownTopicOrPartition) => {
                    Err(MetadataError::UnknownTopic)
                }
                Some(e) => Err(request(Box::new(*e))),
                None if t.partitions.is_empty() => Err(MetadataError::NoPartitions),
                None => Ok(t.partitions.len()),
            }
        })
    }

    fn produce<'a>(
        &'a self,
        topic: &'a str,
        partition: i32,
        records: Vec<Record>,
        codec: Codec,
    ) -> BoxFuture<'a, Result<Vec<i64>, TransportError>> {
        Box::pin(async move {
            let pending = self.enqueue(topic, partition, records, codec).await;
            pending.await
        })
    }

    fn max_in_flight(&self) -> usize {
        self.writer.max_in_flight
    }

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
            let n = records.len();
            let delivery = self.writer(topic, partition, codec).submit(records).await;
            Box::pin(async move {
                let (result, rejected) = delivery.settled().await;
                result
                    .map(|d| offsets(d.base_offset, n))
                    .map_err(|e| transport_error(e, rejected))
            }) as Pending
        })
    }
}

#[cfg(test)]
mod tests;
