//! Reading one partition, behind a small trait so the loop can be tested with a mock.
//!
//! Records come through our own Fetch ([`PartitionFetcher`]) and zero-copy batch reader
//! ([`crate::kafka::records`]): rskafka's fetch decoding built an owned record and a header map
//! per record, most of the consumer loop's CPU. Offsets (ListOffsets) stay on rskafka. Without
//! our protocol layer's connections (a consumer started without a [`Cluster`]) records come
//! from rskafka and are converted.
use std::sync::Arc;

use rskafka::{
    client::{
        Client,
        error::{Error as ClientError, ProtocolError},
        partition::{OffsetAt, PartitionClient, UnknownTopicHandling},
    },
    record::RecordAndOffset,
};

use crate::{
    future::BoxFuture,
    kafka::{
        protocol::{self, Cluster, PartitionFetcher},
        records::FetchedRecord,
    },
};

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The offset is no longer (or not yet) in the log.
    #[error("offset out of range")]
    OutOfRange,
    /// Anything else; retried with backoff.
    #[error(transparent)]
    Other(#[from] ClientError),
    /// Our Fetch failed (a leader change is found again on the next fetch); retried with backoff.
    #[error(transparent)]
    Fetch(protocol::FetchError),
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
    ) -> BoxFuture<'_, Result<(Vec<FetchedRecord>, i64), FetchError>>;
    /// The earliest or the next (latest) offset.
    fn offset(&self, earliest: bool) -> BoxFuture<'_, Result<i64, FetchError>>;
}

/// The real source: our Fetch for records, an rskafka [`PartitionClient`] for offsets.
#[derive(Debug)]
pub struct KafkaPartition {
    client: PartitionClient,
    fetcher: Option<PartitionFetcher>,
}

impl KafkaPartition {
    /// Connects to the leader of `topic`/`partition`; records are fetched through `cluster`'s
    /// connections when there is one.
    pub async fn connect(
        client: &Arc<Client>,
        cluster: Option<&Arc<Cluster>>,
        topic: &str,
        partition: i32,
    ) -> Result<Self, ClientError> {
        let client = client
            .partition_client(topic, partition, UnknownTopicHandling::Retry)
            .await?;
        Ok(Self {
            client,
            fetcher: cluster.map(|c| PartitionFetcher::new(Arc::clone(c), topic, partition)),
        })
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

/// An rskafka record as ours (the path without a [`Cluster`]).
fn converted(r: RecordAndOffset) -> FetchedRecord {
    FetchedRecord::from_parts(
        r.offset,
        r.record.timestamp.timestamp_millis(),
        r.record.key,
        r.record.value,
        &r.record.headers,
    )
}

impl PartitionSource for KafkaPartition {
    fn fetch(
        &self,
        offset: i64,
        max_bytes: i32,
        max_wait_ms: i32,
    ) -> BoxFuture<'_, Result<(Vec<FetchedRecord>, i64), FetchError>> {
        Box::pin(async move {
            let Some(fetcher) = &self.fetcher else {
                let (records, high) = self
                    .client
                    .fetch_records(offset, 1..max_bytes, max_wait_ms)
                    .await
                    .map_err(classify)?;
                return Ok((records.into_iter().map(converted).collect(), high));
            };
            match fetcher.fetch(offset, max_bytes, max_wait_ms).await {
                Ok(f) => Ok((f.records, f.high_watermark)),
                Err(protocol::FetchError::OutOfRange) => Err(FetchError::OutOfRange),
                Err(e) => Err(FetchError::Fetch(e)),
            }
        })
    }

    fn offset(&self, earliest: bool) -> BoxFuture<'_, Result<i64, FetchError>> {
        Box::pin(async move {
            let at = if earliest {
                OffsetAt::Earliest
            } else {
                OffsetAt::Latest
            };
            self.client.get_offset(at).await.map_err(classify)
        })
    }
}
