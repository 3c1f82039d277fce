//! The Kafka wire under our own control: one broker connection, and the typed requests.
//!
//! rskafka's `unstable-fuzzing` feature makes its `messenger` and `protocol` modules public, and
//! that is the wire we build on: framing, correlation ids, ApiVersions negotiation, SASL, and
//! record batches that carry a producer id, epoch and base sequence. Every other message is
//! not hand-written here: its types, encoders and decoders come from the `kafka-protocol` crate
//! (generated from Kafka's JSON message specs) and travel over rskafka's messenger through one
//! small generic adapter.
//!
//! ```text
//!   Call (our typed request, builds the kafka-protocol message for a version)
//!     │  adapter::Adapted<C>: rskafka RequestBody + WriteVersionedType
//!     ▼
//!   Connection ── rskafka Messenger ── TCP or TLS (rustls) ── broker
//!     ▲                 (ApiVersions: highest version both sides support; SASL)
//!     │  adapter::Answer<R>: rskafka ReadVersionedType, decoded by kafka-protocol
//!   Answer { version, body }
//! ```
//!
//! | module | owns |
//! |---|---|
//! | `connection` | one broker connection: TCP/TLS, `Messenger::new`, `sync_versions`, `do_sasl`; opened only by [`crate::kafka::Client`] |
//! | `adapter` | the [`Call`] trait and its bridge onto rskafka's messenger traits |
//! | `metadata`, `topics` | Metadata, CreateTopics, ListOffsets |
//! | `producer_id`, `coordinator`, `membership`, `offsets` | InitProducerId, the group requests, committed offsets |
//! | `produce` | Produce of encoded batches (`kafka::records::encode`): one partition's, or several partitions' in one request |
//! | `fetch` | Fetch of several partitions in one request, records left raw for `kafka::records` |
//! | `per_api` | a counter per Kafka API in a static table (the metrics by API) |
//! | `requests_sent` | the process's count of requests sent, by API (`usercenter_kafka_requests_total`) |
//! | `throttle` | broker quotas (KIP-219): a throttled connection sends nothing until the throttle is over; throttled answers counted by API |
mod adapter;
mod connection;
mod coordinator;
mod fetch;
mod membership;
mod metadata;
mod offsets;
mod per_api;
mod produce;
mod producer_id;
mod requests_sent;
mod throttle;
mod topics;

pub use adapter::{Answer, Call, CallError, decode_fuzz_input, decode_response};
pub use connection::{AnswerOrder, ConnectError, ConnectSettings, Connection};
pub use coordinator::{
    CoordinatorType, DescribeGroups, FindCoordinator, FoundCoordinator, ListGroups,
};
pub use fetch::{
    Fetch, FetchError, FetchPart, Fetched, PartitionData, classify as fetch_error, read_answer,
    read_partition, split_answer,
};
pub use membership::{Heartbeat, JoinGroup, LeaveGroup, SyncGroup};
pub use metadata::Metadata;
pub use offsets::{CommittedOffset, OffsetCommit, OffsetFetch};
pub use produce::{Produce, ProduceBatches};
pub use producer_id::{InitProducerId, ProducerIdentity};
pub use requests_sent::{render_kafka_request_metrics, sent};
pub use throttle::render_kafka_throttle_metrics;
pub use topics::{CreateTopic, ListOffset, OffsetQuery};

/// Kafka's `isolation_level` for read_committed, which Fetch and ListOffsets both ask: the
/// consumer never reads, nor starts past, another producer's unfinished transaction.
const READ_COMMITTED: i8 = 1;

/// Kafka's `isolation_level` for read_uncommitted: ListOffsets asks it for the high watermark
/// ([`OffsetQuery::HighWatermark`]).
const READ_UNCOMMITTED: i8 = 0;
