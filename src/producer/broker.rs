//! The producer's transport to the brokers: one [`ProducerSession`] (producer id and epoch) and
//! one [`PartitionWriter`] per partition, which numbers batches, keeps up to `max_in_flight` of
//! them in flight and resends them unchanged until the broker acknowledges them (see
//! `producer::writer` for every answer it handles).
//!
//! ```text
//!  producer sender (per partition) ─ enqueue ─► PartitionWriter ─► leader (seq n, n+k, ...)
//!           ▲ in order                          (retries keep the sequence: the broker
//!           └──── offsets / final error ◄────── drops a batch it already has)
//! ```
//!
//! With `enable_idempotence = false`, or when the brokers give no producer id, the same writers
//! run under producer id −1 with one request in flight per partition: a retry then cannot
//! overtake the batch behind it, and the consumer's dedupe removes the duplicate a lost
//! acknowledgement can cause.
use std::{collections::HashMap, sync::Arc, time::Duration};

use parking_lot::Mutex;
use rskafka::record::Record;
use tracing::{info, warn};

use super::{
    Codec, MetadataError, Pending, ProducerConfig, Transport, TransportError,
    session::ProducerSession,
    writer::{PartitionWriter, WriteError, WriterConfig},
};
use crate::{
    future::BoxFuture,
    kafka::{Client, error_code::ResponseError, protocol::ProducerIdentity},
};

/// The transport to the brokers. See the module docs.
#[derive(Debug)]
pub struct BrokerTransport {
    session: Arc<ProducerSession>,
    writer: WriterConfig,
    writers: Mutex<HashMap<(String, i32), Arc<PartitionWriter>>>,
}

impl BrokerTransport {
    /// The transport `producer` asks for on `client`: idempotent (a producer id from
    /// InitProducerId, up to `max_in_flight` requests per partition) unless it is turned off or
    /// no broker hands out a producer id; then producer id −1 and one request in flight.
    pub async fn connect(client: Arc<Client>, producer: &ProducerConfig) -> Self {
        let mut writer = WriterConfig {
            max_in_flight: producer.max_in_flight.clamp(1, 5),
            compression: producer.compression.to_rskafka(),
            broker_timeout_ms: i32::try_from(producer.request_timeout_ms).unwrap_or(i32::MAX),
            delivery_timeout: Duration::from_millis(producer.delivery_timeout_ms),
            retry_backoff: Duration::from_millis(producer.retry_backoff_ms),
            max_backoff: Duration::from_millis(producer.retry_backoff_max_ms),
            ..WriterConfig::default()
        };
        let session = if producer.enable_idempotence {
            match ProducerSession::start(Arc::clone(&client)).await {
                Ok(session) => Some(session),
                Err(error) => {
                    warn!(%error, "no idempotent producer (the brokers gave no producer id): one request in flight per partition");
                    None
                }
            }
        } else {
            None
        };
        let session = session.unwrap_or_else(|| {
            writer.max_in_flight = 1;
            ProducerSession::anonymous(client)
        });
        let id = session.identity();
        info!(
            producer_id = id.id,
            epoch = id.epoch,
            max_in_flight = writer.max_in_flight,
            "producer transport"
        );
        Self {
            session: Arc::new(session),
            writer,
            writers: Mutex::new(HashMap::new()),
        }
    }

    /// The producer id and epoch batches are written under now ([`ProducerIdentity::NONE`]
    /// without idempotence).
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
        WriteError::Aborted(source) if records.is_some() => TransportError::Behind {
            source: Box::new(WriteError::Aborted(source)),
            records: records.unwrap_or_default(),
        },
        WriteError::Timeout { after, last } => TransportError::Timeout {
            after,
            last: last.to_string(),
        },
        e => TransportError::Final(Box::new(e)),
    }
}

impl Transport for BrokerTransport {
    fn partition_count<'a>(
        &'a self,
        topic: &'a str,
    ) -> BoxFuture<'a, Result<usize, MetadataError>> {
        Box::pin(async move {
            match self.session.client().partition_count(topic).await {
                Ok(0) => Err(MetadataError::NoPartitions),
                Ok(n) => Ok(n),
                Err(e) if e.is_unknown_topic() => Err(MetadataError::UnknownTopic),
                Err(e) => Err(MetadataError::Request(Box::new(e))),
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

    fn retries_itself(&self) -> bool {
        true
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
