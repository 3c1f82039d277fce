//! Reading one partition, behind a small trait so the loop can be tested with a mock.
//!
//! Records come through the client's fetch lanes ([`PartitionFetcher`]: the partitions of one
//! broker in one Fetch) and the zero-copy batch reader ([`crate::kafka::records`]); log offsets
//! through [`Client::log_offset`].
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::kafka::{
    Client, ClientError,
    client::PartitionFetcher,
    error_code::ResponseError,
    protocol::{self, Fetched, OffsetQuery},
};

/// Why reading the partition failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The offset is no longer (or not yet) in the log.
    #[error("offset out of range")]
    OutOfRange,
    /// A log offset could not be read; retried with backoff.
    #[error(transparent)]
    Offset(#[from] ClientError),
    /// Our Fetch failed (a leader change is found again on the next fetch); retried with backoff.
    #[error(transparent)]
    Fetch(protocol::FetchError),
}

/// One partition of one topic.
pub trait PartitionSource: Send + Sync + 'static {
    /// Records from `offset` on (possibly some before it), up to about `max_bytes`, waiting up
    /// to `max_wait_ms` for any; where the batches read end, and the partition's offsets.
    fn fetch(
        &self,
        offset: i64,
        max_bytes: i32,
        max_wait_ms: i32,
    ) -> BoxFuture<'_, Result<Fetched, SourceError>>;
    /// The offset `query` asks for: the earliest, the last stable offset (where a
    /// read_committed consumer's log ends) or the high watermark.
    fn offset(&self, query: OffsetQuery) -> BoxFuture<'_, Result<i64, SourceError>>;
}

/// The real source: the client's fetch lane for records, ListOffsets for log offsets.
#[derive(Debug)]
pub struct KafkaPartition {
    client: Arc<Client>,
    topic: String,
    partition: i32,
    fetcher: PartitionFetcher,
}

impl KafkaPartition {
    /// `topic`/`partition` through `client` (its leader is found on the first fetch).
    pub fn new(client: &Arc<Client>, topic: &str, partition: i32) -> Self {
        Self {
            client: Arc::clone(client),
            topic: topic.to_owned(),
            partition,
            fetcher: PartitionFetcher::new(Arc::clone(client), topic, partition),
        }
    }
}

impl PartitionSource for KafkaPartition {
    fn fetch(
        &self,
        offset: i64,
        max_bytes: i32,
        max_wait_ms: i32,
    ) -> BoxFuture<'_, Result<Fetched, SourceError>> {
        Box::pin(async move {
            match self.fetcher.fetch(offset, max_bytes, max_wait_ms).await {
                Ok(f) => Ok(f),
                Err(protocol::FetchError::OutOfRange) => Err(SourceError::OutOfRange),
                Err(e) => Err(SourceError::Fetch(e)),
            }
        })
    }

    fn offset(&self, query: OffsetQuery) -> BoxFuture<'_, Result<i64, SourceError>> {
        Box::pin(async move {
            match self
                .client
                .log_offset(&self.topic, self.partition, query)
                .await
            {
                Ok(offset) => Ok(offset),
                Err(ClientError::Refused { code, .. })
                    if code.error() == Some(ResponseError::OffsetOutOfRange) =>
                {
                    Err(SourceError::OutOfRange)
                }
                Err(e) => Err(SourceError::Offset(e)),
            }
        })
    }
}
