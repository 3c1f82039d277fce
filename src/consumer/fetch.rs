//! Reading one partition, behind a small trait so the loop can be tested with a mock.
use std::sync::Arc;

use rskafka::{
    client::{
        Client,
        error::{Error as ClientError, ProtocolError},
        partition::{OffsetAt, PartitionClient, UnknownTopicHandling},
    },
    record::RecordAndOffset,
};

use crate::future::BoxFuture;

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The offset is no longer (or not yet) in the log.
    #[error("offset out of range")]
    OutOfRange,
    /// Anything else; retried with backoff.
    #[error(transparent)]
    Other(#[from] ClientError),
}

/// One partition of one topic.
pub trait PartitionSource: Send + Sync + 'static {
    /// Records from `offset` on (possibly some before it), up to about `max_bytes`, waiting up
    /// to `max_wait_ms` for any; and the partition's high watermark.
    fn fetch(
        &self,
        offset: i64,
        max_bytes: i32,
        max_wait_ms: i32,
    ) -> BoxFuture<'_, Result<(Vec<RecordAndOffset>, i64), FetchError>>;
    /// The earliest or the next (latest) offset.
    fn offset(&self, earliest: bool) -> BoxFuture<'_, Result<i64, FetchError>>;
}

/// The real source: an rskafka [`PartitionClient`].
#[derive(Debug)]
pub struct KafkaPartition(PartitionClient);

impl KafkaPartition {
    /// Connects to the leader of `topic`/`partition`.
    pub async fn connect(
        client: &Arc<Client>,
        topic: &str,
        partition: i32,
    ) -> Result<Self, ClientError> {
        client
            .partition_client(topic, partition, UnknownTopicHandling::Retry)
            .await
            .map(Self)
    }
}

fn classify(e: ClientError) -> FetchError {
    match e {
        ClientError::ServerError {
            protocol_error: ProtocolError::OffsetOutOfRange,
            ..
        } => FetchError::OutOfRange,
        e => FetchError::Other(e),
    }
}

impl PartitionSource for KafkaPartition {
    fn fetch(
        &self,
        offset: i64,
        max_bytes: i32,
        max_wait_ms: i32,
    ) -> BoxFuture<'_, Result<(Vec<RecordAndOffset>, i64), FetchError>> {
        Box::pin(async move {
            self.0
                .fetch_records(offset, 1..max_bytes, max_wait_ms)
                .await
                .map_err(classify)
        })
    }

    fn offset(&self, earliest: bool) -> BoxFuture<'_, Result<i64, FetchError>> {
        Box::pin(async move {
            let at = if earliest {
                OffsetAt::Earliest
            } else {
                OffsetAt::Latest
            };
            self.0.get_offset(at).await.map_err(classify)
        })
    }
}
