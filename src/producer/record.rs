//! The record a caller hands the producer, and the Kafka record it becomes.
use chrono::{DateTime, Utc};
use rskafka::record::Record;

use super::{ProduceError, Result};
use crate::event::{Headers, header, set_identity};

/// A record to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord {
    /// Topic.
    pub topic: String,
    /// Key; its partition is the configured [`Partitioner`](super::Partitioner)'s choice,
    /// records without one spread.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub value: Vec<u8>,
    /// Headers; must hold `ce_producerid` and `ce_sequence` (see [`Self::with_identity`]); the
    /// producer adds `ce_id` when absent.
    pub headers: Headers,
    /// Create time; now when `None`.
    pub timestamp: Option<DateTime<Utc>>,
}

impl ProducerRecord {
    /// A record with a key and value and no headers.
    pub fn new(topic: impl Into<String>, key: Option<Vec<u8>>, value: Vec<u8>) -> Self {
        Self {
            topic: topic.into(),
            key,
            value,
            headers: Headers::new(),
            timestamp: None,
        }
    }

    /// The record with `ce_producerid` and `ce_sequence` set, for callers that publish without
    /// the outbox (load tests, benchmarks): they must never repeat a sequence for a producer id.
    pub fn with_identity(mut self, producer_id: u64, sequence: u64) -> Self {
        set_identity(&mut self.headers, producer_id, sequence);
        self
    }
}

/// The rskafka record of `r`. Refuses a record without both `ce_producerid` and `ce_sequence`:
/// without them consumers have no dedupe key that survives a replay.
pub(super) fn to_record(r: ProducerRecord) -> Result<Record> {
    let mut headers = r.headers;
    for name in [header::PRODUCER_ID, header::SEQUENCE] {
        if !headers.contains_key(name) {
            return Err(ProduceError::MissingIdentity { header: name });
        }
    }
    if !headers.contains_key(header::ID) {
        let id = uuid::Uuid::now_v7().hyphenated().to_string().into_bytes();
        headers.insert(header::ID.to_owned(), id);
    }
    Ok(Record {
        key: r.key,
        value: Some(r.value),
        headers,
        timestamp: r.timestamp.unwrap_or_else(Utc::now),
    })
}
