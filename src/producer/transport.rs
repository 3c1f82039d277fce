//! What the producer needs from Kafka, behind a small trait so unit tests can use a mock.
use std::{collections::HashMap, future::Future, pin::Pin, sync::Arc};

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

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Produce requests and partition counts.
pub trait Transport: Send + Sync + 'static {
    /// Number of partitions of `topic`.
    fn partition_count<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<usize, String>>;

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
    fn partition_count<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<usize, String>> {
        Box::pin(async move {
            let topics = self.client.list_topics().await.map_err(|e| e.to_string())?;
            topics
                .iter()
                .find(|t| t.name == topic)
                .map(|t| t.partitions.len())
                .filter(|n| *n > 0)
                .ok_or_else(|| "topic does not exist".to_owned())
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
