//! Fetch of several partitions in one request, each partition's record set kept as raw bytes
//! for the zero-copy reader ([`crate::kafka::records`]) instead of rskafka's allocating decoder.
//!
//! Versions 4 to 10: read_committed, topics by name (13 and later name them by topic id), no
//! fetch sessions, and from the leader only: version 11 sends the client's rack, with which a
//! broker's `replica.selector.class` may answer a partition with nothing but a
//! `preferred_read_replica` to fetch from instead, which a client that fetches from leaders
//! only would take for an empty answer and ask again for good (12 adds the check of a
//! leader epoch's divergence, which this client does not make: `docs/operations.md`, unclean
//! leader election). Read committed, the broker answers nothing past the last stable offset
//! (where the first open transaction begins) and names the aborted transactions, whose
//! batches the reader leaves out: records of a transaction that another producer aborted or
//! has not finished are never handled. `kafka::client`'s fetch lanes gather the partitions of
//! one broker into one request.
use std::{collections::HashMap, sync::Arc};

pub use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::{
    messages::{
        FetchRequest, FetchResponse, TopicName,
        fetch_request::{FetchPartition, FetchTopic},
    },
    protocol::StrBytes,
};
use rskafka::protocol::api_key::ApiKey;

use super::{READ_COMMITTED, adapter::Call};
use crate::kafka::{
    ClientError,
    error_code::{ErrorCode, ResponseError},
    records::{self, Aborted, FetchedRecord, RecordsError},
};

/// The most a Fetch asks for in all (Kafka's default `fetch.max.bytes`, 50 MiB); a broker
/// still returns a first batch larger than its partition's share.
pub const MAX_FETCH_BYTES: i32 = 50 << 20;

/// One partition to fetch, from one offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPart {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The first offset wanted.
    pub offset: i64,
    /// About how many bytes of records to return at most for it.
    pub max_bytes: i32,
}

/// A Fetch of several partitions of one broker, each from its own offset, in one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    /// The partitions (each at most once).
    pub parts: Vec<FetchPart>,
    /// How long the broker may wait for records.
    pub max_wait_ms: i32,
}

impl Call for Fetch {
    type Request = FetchRequest;
    type Response = FetchResponse;
    const KEY: ApiKey = ApiKey::Fetch;
    /// At most 10: see the module's comment (no follower fetching).
    const VERSIONS: (i16, i16) = (4, 10);
    const FIRST_FLEXIBLE: i16 = 12;
    const CLIENT_THROTTLES_FROM: i16 = 8;

    fn throttle_ms(response: &Self::Response) -> i32 {
        response.throttle_time_ms
    }

    fn build(&self, _version: i16) -> FetchRequest {
        let mut topics: Vec<FetchTopic> = Vec::new();
        for part in &self.parts {
            let partition = FetchPartition::default()
                .with_partition(part.partition)
                .with_fetch_offset(part.offset)
                .with_partition_max_bytes(part.max_bytes);
            match topics.iter_mut().find(|t| t.topic.0.as_str() == part.topic) {
                Some(t) => t.partitions.push(partition),
                None => topics.push(
                    FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(part.topic.clone())))
                        .with_partitions(vec![partition]),
                ),
            }
        }
        // At most Kafka's default `fetch.max.bytes`: the sum over many partitions would
        // otherwise ask for an answer past the frame limit we read (100 MiB), which poisons
        // the connection, and the same Fetch would be asked for again and again.
        let max_bytes = self
            .parts
            .iter()
            .fold(0i32, |sum, p| sum.saturating_add(p.max_bytes))
            .min(MAX_FETCH_BYTES);
        FetchRequest::default()
            .with_max_wait_ms(self.max_wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(max_bytes)
            .with_isolation_level(READ_COMMITTED)
            .with_topics(topics)
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
    /// The answer did not name the partition and said the client is throttled: Kafka answers
    /// a Fetch over a quota with no partitions and mutes the connection for the throttle's
    /// time. Asked again at once: the connection holds the next request until the throttle
    /// is over.
    #[error("fetch throttled by the broker's quota")]
    Throttled,
    /// The broker answered the partition without error but with unknown offsets: Nisshi does
    /// so when its storage did not read them in time (`FetchService::unknown_offsets`). Asked
    /// again, like a failed request; taken for an offset past the log end, it would reset
    /// the consumer to the earliest offset.
    #[error("fetch answered the partition without its offsets")]
    OffsetsUnknown,
    /// No leader, or the request failed.
    #[error(transparent)]
    Client(#[from] Arc<ClientError>),
    /// The record set did not decode.
    #[error("{error}")]
    Records {
        /// Why.
        #[source]
        error: RecordsError,
        /// The partition's high watermark in the same answer.
        high_watermark: i64,
        /// Its last stable offset, as [`Fetched::last_stable_offset`].
        last_stable_offset: i64,
    },
}

/// Fetched records, where the reading may go on, and the partition's offsets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetched {
    /// The records of the complete batches, in offset order, without control batches and
    /// aborted transactions.
    pub records: Vec<FetchedRecord>,
    /// The offset after the last complete batch, records or not
    /// ([`records::RecordSet::next_offset`]).
    pub next_offset: Option<i64>,
    /// The batch the records stopped at because it cannot be read, if any
    /// ([`records::Unreadable`]).
    pub unreadable: Option<records::Unreadable>,
    /// The high watermark.
    pub high_watermark: i64,
    /// The last stable offset: a read_committed Fetch returns nothing at or past it (the high
    /// watermark when no transaction is open, or when the broker does not say).
    pub last_stable_offset: i64,
}

/// The answer split by partition: (topic, partition) → its data; or the request's own error
/// code. A partition the answer names twice is left out (its fetch fails as unanswered and is
/// asked again): a broker names each once, so the answer was damaged on the way (one bit of
/// another partition's index), and either entry may hold the other partition's records.
pub fn split_answer(
    response: FetchResponse,
) -> Result<HashMap<(String, i32), PartitionData>, ErrorCode> {
    if let Some(code) = ErrorCode::failure(response.error_code) {
        return Err(code);
    }
    let mut parts = HashMap::new();
    let mut twice = Vec::new();
    for t in response.responses {
        let topic = t.topic.0.to_string();
        for p in t.partitions {
            let key = (topic.clone(), p.partition_index);
            if parts.insert(key.clone(), p).is_some() {
                twice.push(key);
            }
        }
    }
    for key in twice {
        parts.remove(&key);
    }
    Ok(parts)
}

/// What `response` (any topic) holds for `partition` ([`Fetched`]): one partition's
/// [`split_answer`] and [`read_partition`].
pub fn read_answer(
    response: FetchResponse,
    partition: i32,
    from: i64,
    max_bytes: i32,
) -> Result<Fetched, FetchError> {
    let data = split_answer(response)
        .map_err(classify)?
        .into_iter()
        .find(|((_, p), _)| *p == partition)
        .map(|(_, d)| d)
        .ok_or(FetchError::Missing)?;
    read_partition(data, from, max_bytes)
}

/// What one partition's data, the answer to a Fetch from `from`, holds ([`Fetched`]): the
/// records of its complete batches, where they end, and the partition's offsets. Its batches
/// must lie from `from` to its high watermark ([`records::Bounds`]).
pub fn read_partition(
    data: PartitionData,
    from: i64,
    max_bytes: i32,
) -> Result<Fetched, FetchError> {
    if let Some(code) = ErrorCode::failure(data.error_code) {
        return Err(classify(code));
    }
    if data.high_watermark < 0 {
        return Err(FetchError::OffsetsUnknown);
    }
    let raw = data.records.unwrap_or_default();
    // A batch decompresses to at most a generous multiple of what was asked for.
    let cap = usize::try_from(max_bytes).unwrap_or(0).max(1 << 20) * 16;
    let aborted: Vec<Aborted> = (data.aborted_transactions.iter().flatten())
        .map(|a| Aborted {
            producer_id: a.producer_id.0,
            first_offset: a.first_offset,
        })
        .collect();
    let last_stable_offset = match data.last_stable_offset {
        lso if (0..data.high_watermark).contains(&lso) => lso,
        _ => data.high_watermark,
    };
    let bounds = records::Bounds {
        from,
        end: data.high_watermark,
    };
    let set =
        records::read_within(&raw, cap, &aborted, bounds).map_err(|error| FetchError::Records {
            error,
            high_watermark: data.high_watermark,
            last_stable_offset,
        })?;
    Ok(Fetched {
        records: set.records,
        next_offset: set.next_offset,
        unreadable: set.unreadable,
        high_watermark: data.high_watermark,
        last_stable_offset,
    })
}

/// The error a code in a Fetch answer stands for.
pub fn classify(code: ErrorCode) -> FetchError {
    match code.error() {
        Some(ResponseError::OffsetOutOfRange) => FetchError::OutOfRange,
        _ if code.leader_moved() => FetchError::LeaderChanged { code: Some(code) },
        _ => FetchError::Broker(code),
    }
}

#[cfg(test)]
mod tests;
