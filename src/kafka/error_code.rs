//! Kafka's error codes by name, in one place.
//!
//! A broker answers with an `i16` per request, topic or partition; [`ErrorCode`] wraps it so
//! that code matches on names ([`ResponseError`], kafka-protocol's table generated from Kafka's
//! own), logs and errors say `UNKNOWN_MEMBER_ID (25)` rather than `25`, and whether a code is
//! worth retrying comes from that one table ([`ErrorCode::is_retriable`]). The few groups of
//! codes that the protocol layer acts on alike (the leader moved, the coordinator moved) are
//! named here too.
use std::fmt;

pub use kafka_protocol::error::ResponseError;

/// The error code of a Kafka answer; `0` is success.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ErrorCode(i16);

impl ErrorCode {
    /// Success.
    pub const NONE: Self = Self(0);

    /// The code as it was on the wire.
    pub const fn new(code: i16) -> Self {
        Self(code)
    }

    /// The code of a named error.
    pub const fn of(error: ResponseError) -> Self {
        Self(error.code())
    }

    /// The wire value `code` as a failure: `None` when it says success.
    pub const fn failure(code: i16) -> Option<Self> {
        if code == 0 { None } else { Some(Self(code)) }
    }

    /// The wire value.
    pub const fn get(self) -> i16 {
        self.0
    }

    /// Whether the answer succeeded.
    pub const fn is_ok(self) -> bool {
        self.0 == 0
    }

    /// The named error; `None` for success. A code newer than kafka-protocol's table is
    /// `ResponseError::Unknown(code)`.
    pub const fn error(self) -> Option<ResponseError> {
        ResponseError::try_from_code(self.0)
    }

    /// Whether Kafka's table calls the error retriable (a code it does not know is not).
    pub const fn is_retriable(self) -> bool {
        match self.error() {
            Some(e) => e.is_retriable(),
            None => false,
        }
    }

    /// Whether the code says the partition's leader moved, is being elected, or cannot serve
    /// it from here (a failed log directory, KAFKA_STORAGE_ERROR, after which the controller
    /// moves the leadership; a replica not available): look the leader up again and retry, as
    /// Kafka's clients do.
    pub const fn leader_moved(self) -> bool {
        matches!(
            self.error(),
            Some(
                ResponseError::UnknownTopicOrPartition
                    | ResponseError::LeaderNotAvailable
                    | ResponseError::NotLeaderOrFollower
                    | ResponseError::FencedLeaderEpoch
                    | ResponseError::UnknownLeaderEpoch
                    | ResponseError::KafkaStorageError
                    | ResponseError::ReplicaNotAvailable
            )
        )
    }

    /// Whether the code says the group's coordinator moved or is not ready: look it up again.
    pub const fn coordinator_moved(self) -> bool {
        matches!(
            self.error(),
            Some(
                ResponseError::CoordinatorLoadInProgress
                    | ResponseError::CoordinatorNotAvailable
                    | ResponseError::NotCoordinator
            )
        )
    }
}

impl From<i16> for ErrorCode {
    fn from(code: i16) -> Self {
        Self(code)
    }
}

impl From<ResponseError> for ErrorCode {
    fn from(error: ResponseError) -> Self {
        Self::of(error)
    }
}

impl From<&rskafka::protocol::error::Error> for ErrorCode {
    fn from(error: &rskafka::protocol::error::Error) -> Self {
        Self(rskafka::protocol::primitives::Int16::from(Some(*error)).0)
    }
}

/// `UNKNOWN_MEMBER_ID (25)`, `NONE (0)`, or `error code 1234` for a code outside the table.
impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.error() {
            None => f.write_str("NONE (0)"),
            Some(ResponseError::Unknown(code)) => write!(f, "error code {code}"),
            Some(e) => {
                // The variant's name, `UnknownMemberId`, as Kafka spells it: UNKNOWN_MEMBER_ID.
                let camel = format!("{e:?}");
                for (i, c) in camel.chars().enumerate() {
                    if c.is_ascii_uppercase() && i > 0 {
                        f.write_str("_")?;
                    }
                    write!(f, "{}", c.to_ascii_uppercase())?;
                }
                write!(f, " ({})", self.0)
            }
        }
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests;
