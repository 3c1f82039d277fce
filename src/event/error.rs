//! Why a record is not a valid event.

/// A record that does not decode into an [`super::Envelope`]. The consumer sends such records
/// to the dead-letter topic with this error's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A required header is absent.
    #[error("missing header {name}")]
    MissingHeader {
        /// Header name.
        name: &'static str,
    },
    /// A header is present but its value is malformed.
    #[error("header {name}: {reason}")]
    BadHeader {
        /// Header name.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// `ce_specversion` is not `1.0`.
    #[error("unsupported CloudEvents spec version {0:?}")]
    SpecVersion(String),
    /// `ce_type` names no event of ours.
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    /// `ce_dataversion` is newer than this binary understands.
    #[error("unsupported data version {found} (this build reads up to {supported})")]
    DataVersion {
        /// Version in the record.
        found: u16,
        /// Highest version this build reads.
        supported: u16,
    },
    /// `content-type` is neither postcard nor JSON.
    #[error("unsupported content-type {0:?}")]
    ContentType(String),
    /// The record has no value.
    #[error("record has no value")]
    MissingValue,
    /// A text field of the data, or `ce_requestid`, is longer than any event of ours holds
    /// ([`super::MAX_TEXT`], [`super::MAX_REQUEST_ID`]).
    #[error("{field} is {bytes} bytes, more than the {most} an event may hold")]
    TooLong {
        /// The field (or header) name.
        field: &'static str,
        /// Its length.
        bytes: usize,
        /// The most it may be.
        most: usize,
    },
    /// The value does not decode as the data of its event type.
    #[error("{content_type} value of {event_type}: {reason}")]
    Value {
        /// `ce_type` of the record.
        event_type: &'static str,
        /// Encoding tried.
        content_type: &'static str,
        /// The decoder's message.
        reason: String,
    },
}

/// An event that could not be encoded (a serializer refused it; not expected for our types).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode {event_type} as {content_type}: {reason}")]
pub struct EncodeError {
    /// Event type.
    pub event_type: &'static str,
    /// Encoding tried.
    pub content_type: &'static str,
    /// The serializer's message.
    pub reason: String,
}
