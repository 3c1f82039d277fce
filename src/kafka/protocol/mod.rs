//! The Kafka protocol layer under our own control: connections we open ourselves, the messages
//! rskafka lacks, and the idempotent produce path.
//!
//! rskafka keeps what it does well (metadata, fetch, topic admin, the producer without
//! idempotence). Its `unstable-fuzzing` feature makes its `messenger` and `protocol` modules
//! public, and that is the wire we build on: framing, correlation ids, ApiVersions negotiation,
//! SASL, and record batches that carry a producer id, epoch and base sequence. The messages it
//! lacks (InitProducerId and the classic group protocol) are not hand-written here: their types,
//! encoders and decoders come from the `kafka-protocol` crate (generated from Kafka's JSON message
//! specs) and travel over rskafka's messenger through one small generic adapter.
//!
//! ```text
//!   Call (our typed request, builds the kafka-protocol message for a version)
//!     │  adapter::Adapted<C>: rskafka RequestBody + WriteVersionedType
//!     ▼
//!   Connection ── rskafka Messenger ── TCP or TLS (the service's rustls config) ── broker
//!     ▲                 (ApiVersions: highest version both sides support; SASL)
//!     │  adapter::Answer<R>: rskafka ReadVersionedType, decoded by kafka-protocol
//!   Answer { version, body }
//! ```
//!
//! | module | owns |
//! |---|---|
//! | `connection` | one broker connection: TCP/TLS, `Messenger::new`, `sync_versions`, `do_sasl` |
//! | `adapter` | the [`Call`] trait and its bridge onto rskafka's messenger traits |
//! | `producer_id`, `coordinator`, `membership`, `offsets` | the typed requests |
//! | `fetch` | Fetch of one partition from its leader, records left raw for `kafka::records` |
//! | `cluster` | bootstrap, metadata (partition leaders) and a connection cache |
//! | `session` | the idempotent producer's id and epoch, shared by all partitions |
//! | `writer` | the idempotent partition writer: sequences, pipelining, retries |
mod adapter;
mod cluster;
mod connection;
mod coordinator;
mod fetch;
mod membership;
mod offsets;
mod producer_id;
mod session;
mod writer;

pub use adapter::{Answer, Call, CallError, decode_fuzz_input, decode_response};
pub use cluster::{Cluster, ClusterError};
pub use connection::{ConnectError, ConnectSettings, Connection};
pub use coordinator::{
    CoordinatorType, DescribeGroups, FindCoordinator, FoundCoordinator, ListGroups,
};
pub use fetch::{Fetch, FetchError, Fetched, PartitionFetcher, read_answer};
pub use membership::{Heartbeat, JoinGroup, LeaveGroup, SyncGroup};
pub use offsets::{CommittedOffset, OffsetCommit, OffsetFetch};
pub use producer_id::{InitProducerId, ProducerIdentity};
pub use session::{ProducerSession, SessionError};
pub use writer::{
    Delivered, PartitionWriter, WriteError, WriterConfig, produce_request, response_error,
};
