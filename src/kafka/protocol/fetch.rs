//! Fetch for one partition through our protocol layer, its record set kept as raw bytes for
//! the zero-copy reader ([`crate::kafka::records`]) instead of rskafka's allocating decoder.
//!
//! Versions 4 to 12: read_uncommitted, topics by name (13 and later name them by topic id),
//! no fetch sessions. [`PartitionFetcher`] keeps the leader's connection and finds the leader
//! again after a leader change or a lost connection.
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::{
    messages::{
        FetchRequest, FetchResponse, TopicName,
        fetch_request::{FetchPartition, FetchTopic},
    },
    protocol::StrBytes,
};
use parking_lot::Mutex;
use rskafka::protocol::api_key::ApiKey;

use super::{
    adapter::{Call, CallError},
    cluster::{Cluster, ClusterError},
    connection::Connection,
};
use crate::kafka::{
    error_code::{ErrorCode, ResponseError},
    records::{self, FetchedRecord, RecordsError},
};

/// A Fetch of one partition from one offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The first offset wanted.
    pub offset: i64,
    /// About how many bytes of records to return at most.
    pub max_bytes: i32,
    /// How long the broker may wait for records.
    pub max_wait_ms: i32,
}

impl Call for Fetch {
    type Request = FetchRequest;
    type Response = FetchResponse;
    const KEY: ApiKey = ApiKey::Fetch;
    const VERSIONS: (i16, i16) = (4, 12);
    const FIRST_FLEXIBLE: i16 = 12;

    fn build(&self, _version: i16) -> FetchRequest {
        let partition = FetchPartition::default()
            .with_partition(self.partition)
            .with_fetch_offset(self.offset)
            .with_partition_max_bytes(self.max_bytes);
        let topic = FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(self.topic.clone())))
            .with_partitions(vec![partition]);
        FetchRequest::default()
            .with_max_wait_ms(self.max_wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(self.max_bytes)
            .with_isolation_level(0)
            .with_topics(vec![topic])
    }
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The offset is not in the log (any more, or yet).
    #[error("offset out of range")]
    OutOfRange,
    /// The leader moved or the connection was lost; the next fetch asks for the leader again.
    #[error("partition leader changed or unreachable ({})", code.map_or("connection lost".to_owned(), |c| c.to_string()))]
    LeaderChanged {
        /// Kafka's error code; `None` for a lost connection.
        code: Option<ErrorCode>,
    },
    /// The broker answered another error for the partition or the request.
    #[error("fetch answered {0}")]
    Broker(ErrorCode),
    /// The answer did not name the partition.
    #[error("fetch answer without the partition")]
    Missing,
    /// No leader connection.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The request failed.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The record set did not decode.
    #[error(transparent)]
    Records(#[from] RecordsError),
}

/// Fetched records and the partition's high watermark.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetched {
    /// The records of the complete batches, in offset order.
    pub records: Vec<FetchedRecord>,
    /// The high watermark.
    pub high_watermark: i64,
}

/// Fetches one partition from its leader.
#[derive(Debug)]
pub struct PartitionFetcher {
    cluster: Arc<Cluster>,
    topic: String,
    partition: i32,
    leader: Mutex<Option<Arc<Connection>>>,
}

impl PartitionFetcher {
    /// A fetcher of `topic`/`partition`; it connects to the leader on its first fetch.
    pub fn new(cluster: Arc<Cluster>, topic: &str, partition: i32) -> Self {
        Self {
            cluster,
            topic: topic.to_owned(),
            partition,
            leader: Mutex::new(None),
        }
    }

    /// Records from `offset` on, up to about `max_bytes`, waiting up to `max_wait_ms`.
    pub async fn fetch(
        &self,
        offset: i64,
        max_bytes: i32,
        max_wait_ms: i32,
    ) -> Result<Fetched, FetchError> {
        let cached = self.leader.lock().clone();
        let leader = match cached {
            Some(c) => c,
            None => {
                let c = self.cluster.leader(&self.topic, self.partition).await?;
                *self.leader.lock() = Some(Arc::clone(&c));
                c
            }
        };
        let call = Fetch {
            topic: self.topic.clone(),
            partition: self.partition,
            offset,
            max_bytes,
            max_wait_ms,
        };
        let answer = match leader.call(&call).await {
            Ok(a) => a,
            Err(e) => {
                if e.is_connection_lost() {
                    self.cluster.forget(&leader);
                    self.leader.lock().take();
                    return Err(FetchError::LeaderChanged { code: None });
                }
                return Err(e.into());
            }
        };
        let result = read_answer(answer.body, self.partition, max_bytes);
        if let Err(FetchError::LeaderChanged { .. }) = &result {
            self.leader.lock().take();
        }
        result
    }
}

/// The records and high watermark of `partition` in `response`.
pub fn read_answer(
    response: FetchResponse,
    partition: i32,
    max_bytes: i32,
) -> Result<Fetched, FetchError> {
    if let Some(code) = ErrorCode::failure(response.error_code) {
        return Err(classify(code));
    }
    let data = response
        .responses
        .into_iter()
        .flat_map(|t| t.partitions)
        .find(|p| p.partition_index == partition)
        .ok_or(FetchError::Missing)?;
    if let Some(code) = ErrorCode::failure(data.error_code) {
        return Err(classify(code));
    }
    let raw = data.records.unwrap_or_else(Bytes::new);
    // A batch decompresses to at most a generous multiple of what was asked for.
    let cap = usize::try_from(max_bytes).unwrap_or(0).max(1 << 20) * 16;
    Ok(Fetched {
        records: records::read(&raw, cap)?,
        high_watermark: data.high_watermark,
    })
}

fn classify(code: ErrorCode) -> FetchError {
    match code.error() {
        Some(ResponseError::OffsetOutOfRange) => FetchError::OutOfRange,
        _ if code.leader_moved() => FetchError::LeaderChanged { code: Some(code) },
        _ => FetchError::Broker(code),
    }
}

#[cfg(test)]
mod tests;
