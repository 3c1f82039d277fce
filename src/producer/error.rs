//! Producer errors. `Clone`, because one failed batch fans out to every record's caller.
use std::{sync::Arc, time::Duration};

/// Why a record was not delivered.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProduceError {
    /// One record alone is larger than the broker accepts in a batch (or than the buffer).
    #[error("record of {size} bytes exceeds the limit of {limit} bytes")]
    RecordTooLarge {
        /// Encoded size of the record as a batch of one.
        size: usize,
        /// `max.message.bytes` (or the buffer size when smaller).
        limit: usize,
    },
    /// The buffer is full and the caller asked not to wait (`enqueue` with `on_buffer_full = "error"`).
    #[error("producer buffer full ({capacity} bytes)")]
    BufferFull {
        /// Configured buffer size.
        capacity: usize,
    },
    /// The delivery deadline passed before the broker acknowledged the record.
    #[error("not delivered within {deadline:?}: {last_error}")]
    Timeout {
        /// The configured delivery timeout.
        deadline: Duration,
        /// The last error seen while retrying, or `none`.
        last_error: String,
    },
    /// The broker refused the batch for a reason retrying cannot fix (authorization, invalid record...).
    #[error("broker refused the records: {0}")]
    Fatal(Arc<rskafka::client::error::Error>),
    /// The topic is unknown to the producer; call `Producer::prepare` or `send` first.
    #[error("topic {0} has no metadata yet (use Producer::prepare or send)")]
    UnknownTopic(String),
    /// Looking up a topic's partitions failed.
    #[error("metadata for topic {topic}: {reason}")]
    Metadata {
        /// The topic.
        topic: String,
        /// What failed.
        reason: String,
    },
    /// The record cannot be produced as it is (for example half of the idempotency headers).
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    /// The producer was closed before the record was accepted or delivered.
    #[error("producer closed")]
    Closed,
}

/// `Result` with [`ProduceError`].
pub type Result<T, E = ProduceError> = std::result::Result<T, E>;
