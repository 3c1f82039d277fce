//! What the producer needs from Kafka, behind a small trait so unit tests can use a mock.
use std::{collections::HashMap, sync::Arc};

use parking_lot::Mutex;
use rskafka::{
    client::{
        Client,
        error::Error as ClientError,
        partition::{PartitionClient, UnknownTopicHandling},
    },
    record::Record,
};

use super::Codec;
use crate::future::BoxFuture;

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
    /// The metadata request failed.
    #[error("cannot list topics: {0}")]
    Client(#[from] ClientError),
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
    ) -> BoxFuture<'a, Result<Vec<i64>, ClientError>>;
}

/// The real transport: an rskafka [`Client`] and one cached [`PartitionClient`] per partition.
#[derive(Debug)]
pub struct RskafkaTransport {
    client: Arc<Client>,
    partitions: Mutex<HashMap<(String, i32), Arc<PartitionClient>>>,
}

impl RskafkaTransport {
    /// Wraps a connected client.
    pub fn new(client: Arc<Client>) -> Self {
        Self {
            client,
            partitions: Mutex::new(HashMap::new()),
        }
    }

    async fn partition(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Arc<PartitionClient>, ClientError> {
        let key = (topic.to_owned(), partition);
        if let Some(pc) = self.partitions.lock().get(&key) {
            return Ok(Arc::clone(pc));
        }
        let pc = Arc::new(
            self.client
                .partition_client(topic, partition, UnknownTopicHandling::Retry)
                .await?,
        );
        self.partitions.lock().insert(key, Arc::clone(&pc));
        Ok(pc)
    }
}

impl Transport for RskafkaTransport {
    fn partition_count<'a>(
        &'a self,
        topic: &'a str,
    ) -> BoxFuture<'a, Result<usize, MetadataError>> {
        Box::pin(async move {
            let topics = self.client.list_topics().await?;
            match topics.iter().find(|t| t.name == topic) {
                None => Err(MetadataError::UnknownTopic),
                Some(t) if t.partitions.is_empty() => Err(MetadataError::NoPartitions),
                Some(t) => Ok(t.partitions.len()),
            }
        })
    }

    fn produce<'a>(
        &'a self,
        topic: &'a str,
        partition: i32,
        records: Vec<Record>,
        codec: Codec,
    ) -> BoxFuture<'a, Result<Vec<i64>, ClientError>> {
        Box::pin(async move {
            let pc = self.partition(topic, partition).await?;
            pc.produce(records, codec.to_rskafka()).await
        })
    }
}
