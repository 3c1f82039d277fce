//! Producer errors. `Clone`, because one failed batch fans out to every record's caller.
use std::{sync::Arc, time::Duration};

use super::transport::{MetadataError, TransportError};
use crate::kafka::error_code::{ErrorCode, ResponseError};

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
    Fatal(Arc<TransportError>),
    /// The brokers do not know the topic (it was never created, or was deleted).
    #[error("topic {0} does not exist")]
    UnknownTopic(String),
    /// Looking up a topic's partitions failed.
    #[error("metadata for topic {topic}: {source}")]
    Metadata {
        /// The topic.
        topic: String,
        /// What failed.
        #[source]
        source: Arc<MetadataError>,
    },
    /// The record lacks an idempotency header: every record must arrive with both
    /// `ce_producerid` and `ce_sequence` (the outbox stamps them; see the module docs).
    #[error("record without the {header} header")]
    MissingIdentity {
        /// The missing header.
        header: &'static str,
    },
    /// The outcome of the record's batch has no entry for it (a bug in the producer).
    #[error("no outcome for record {index} of its batch")]
    NoOutcome {
        /// The record's place in its batch.
        index: usize,
    },
    /// The producer was closed before the record was accepted or delivered.
    #[error("producer closed")]
    Closed,
    /// Not sent: the time set by [`super::Producer::send_until`] had passed (the relay's lease
    /// may have ended and another instance may be publishing).
    #[error("not sent: the sender's lease ended")]
    LeaseEnded,
}

impl ProduceError {
    /// Whether the broker refused the record's batch for a timestamp out of its bounds
    /// (INVALID_TIMESTAMP): the same record with another timestamp may pass.
    pub fn refused_timestamp(&self) -> bool {
        matches!(self, Self::Fatal(e) if matches!(**e, TransportError::Refused(code) if code == ErrorCode::of(ResponseError::InvalidTimestamp)))
    }
}

/// `Result` with [`ProduceError`].
pub type Result<T, E = ProduceError> = std::result::Result<T, E>;
