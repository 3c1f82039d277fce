//! The process's one Kafka client: the bootstrap list, one metadata cache, and per broker one
//! connection for each [`Purpose`].
//!
//! ```text
//!   producer ─ Purpose::Produce ─┐
//!   consumer ─ Purpose::Fetch ───┤   Client ── connections: (broker address, purpose) → Connection
//!   group    ─ Purpose::Group ───┤     │        (at most 4 per broker, whatever the partitions)
//!   topics, offsets, metadata ───┘     └── metadata: brokers, controller, topics → partition leaders,
//!              Purpose::Admin                         group → coordinator address
//! ```
//!
//! A broker answers the requests of one connection in order, so a long-polling Fetch must not
//! share a connection with a group's heartbeats or a produce request: hence one connection per
//! purpose. [`Client::connection`] is the only place in the crate that opens a broker
//! connection.
//!
//! Metadata is cached per topic and asked again when it is older than [`METADATA_MAX_AGE`] or
//! after a caller saw the leader move ([`Client::invalidate`]). When no known broker answers,
//! the client bootstraps again from the configured list (as KIP-899 has it), so a cluster whose
//! brokers all changed address is found again.
mod admin;
mod appends;
mod fetch_lane;
mod metadata;
mod partition_fetcher;
mod pool;

use std::{collections::HashMap, sync::Arc, time::Duration};

use parking_lot::Mutex;

use super::{
    error_code::ErrorCode,
    protocol::{CallError, ConnectError, ConnectSettings, Connection},
};

pub use metadata::TopicMetadata;
pub use partition_fetcher::PartitionFetcher;

/// How old cached metadata of a topic may be before it is asked again.
pub const METADATA_MAX_AGE: Duration = Duration::from_secs(60);

/// How long a request a broker answers from memory at once (Metadata, ListOffsets,
/// FindCoordinator) may go unanswered before its connection counts as lost. One that has not
/// been answered after this went to a broker that went silent, and whoever waits on it (a
/// produce or fetch waiting for a leader, a partition's start offset, a member rejoining)
/// would otherwise wait out the client's request timeout, which must cover a JoinGroup's
/// whole rebalance: up to 305 s in `serve`.
pub(crate) const ANSWERED_AT_ONCE_WITHIN: Duration = Duration::from_secs(10);

/// What a connection is for: each has its own connection per broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Produce requests.
    Produce,
    /// Fetch requests (long-polling).
    Fetch,
    /// A consumer group's coordinator: JoinGroup, SyncGroup, Heartbeat, offsets.
    Group,
    /// Short requests: metadata, topics, log offsets, producer ids, group tooling, and a
    /// Fetch that does not wait (a fetch lane's prompt fetch).
    Admin,
}

/// Why the client could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Connecting to a broker failed (shared by every request that waited for the connect).
    #[error(transparent)]
    Connect(#[from] Arc<ConnectError>),
    /// A request failed (connection lost, timeout, undecodable answer).
    #[error(transparent)]
    Call(#[from] CallError),
    /// The bootstrap list is empty.
    #[error("no bootstrap brokers")]
    NoBootstrap,
    /// The metadata answered an error for the topic (UNKNOWN_TOPIC_OR_PARTITION, ...).
    #[error("metadata for topic {topic}: {code}")]
    Topic {
        /// The topic.
        topic: String,
        /// Kafka's error code.
        code: ErrorCode,
    },
    /// The topic has no such partition, or the partition has no leader right now.
    #[error("no leader for {topic}/{partition}")]
    NoLeader {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// The metadata names no controller, or one it does not list.
    #[error("the cluster names no controller")]
    NoController,
    /// The broker answered a request with an error code.
    #[error("{api} answered {code}")]
    Refused {
        /// The request.
        api: &'static str,
        /// Kafka's error code.
        code: ErrorCode,
    },
    /// The answer did not mention what was asked.
    #[error("{api} answer without what was asked")]
    Unanswered {
        /// The request.
        api: &'static str,
    },
}

impl ClientError {
    /// Whether the broker could not be reached or the connection broke (rather than an answer
    /// saying no).
    pub fn is_connection_lost(&self) -> bool {
        match self {
            Self::Connect(_) => true,
            Self::Call(e) => e.is_connection_lost(),
            _ => false,
        }
    }

    /// Whether the error says the topic does not exist.
    pub fn is_unknown_topic(&self) -> bool {
        matches!(self, Self::Topic { code, .. }
            if code.error() == Some(super::error_code::ResponseError::UnknownTopicOrPartition))
    }
}

/// The turn of one topic's leader lookups, and when the last one finished and whether it
/// succeeded.
type LeaderLookup = Arc<tokio::sync::Mutex<Option<(tokio::time::Instant, bool)>>>;

/// The Kafka client of one process. See the module docs.
#[derive(Debug)]
pub struct Client {
    bootstrap: Vec<String>,
    settings: ConnectSettings,
    connections: pool::Pool,
    metadata: Mutex<metadata::Cache>,
    lanes: Mutex<fetch_lane::Lanes>,
    /// Per topic, taken by a leader lookup the cache cannot answer, with when the last one
    /// finished and whether it succeeded: the callers that miss at once (every partition of a
    /// broker that died) share one Metadata request and its outcome.
    leader_lookups: Mutex<HashMap<String, LeaderLookup>>,
    /// Partitions appended to, for the fetch lanes and for other instances ([`appends`]).
    appends: appends::Appends,
}

impl Client {
    /// A client of the cluster reached through `bootstrap` (`host:port` each). Nothing is
    /// connected until the first request.
    pub fn new(bootstrap: Vec<String>, settings: ConnectSettings) -> Self {
        Self {
            bootstrap,
            settings,
            connections: pool::Pool::default(),
            metadata: Mutex::new(metadata::Cache::default()),
            lanes: Mutex::new(fetch_lane::Lanes::new()),
            leader_lookups: Mutex::new(HashMap::new()),
            appends: appends::Appends::new(),
        }
    }

    /// The connection settings.
    pub fn settings(&self) -> &ConnectSettings {
        &self.settings
    }

    /// The open connections, as (broker address, purpose): for tests and diagnostics.
    pub fn open_connections(&self) -> Vec<(String, Purpose)> {
        self.connections.open()
    }

    /// The cached connection to `addr` for `purpose`, or a new one: one connect at a time,
    /// which every request for it waits for ([`pool`]). The one place in the crate where a
    /// broker connection is opened.
    pub async fn connection(
        &self,
        addr: &str,
        purpose: Purpose,
    ) -> Result<Arc<Connection>, Arc<ConnectError>> {
        self.connections
            .connection(addr, purpose, &self.settings)
            .await
    }

    /// Drops `connection` from the pool (a request on it failed); the next request to that
    /// broker for that purpose opens a new one.
    pub fn forget(&self, connection: &Arc<Connection>) {
        self.connections.forget(connection);
    }

    /// Forgets `connection` when `error` says it is broken; hands the error back.
    pub fn failed(&self, connection: &Arc<Connection>, error: CallError) -> ClientError {
        if error.is_connection_lost() {
            self.forget(connection);
        }
        ClientError::Call(error)
    }

    /// Any working connection for `purpose`: an open one, else the first known broker that
    /// answers, else the first bootstrap broker that answers.
    pub async fn any(&self, purpose: Purpose) -> Result<Arc<Connection>, ClientError> {
        if let Some(c) = self.connections.any_open(purpose) {
            return Ok(c);
        }
        let known = self.metadata.lock().broker_addrs();
        let mut last = None;
        for addr in known.iter().chain(&self.bootstrap) {
            match self.connection(addr, purpose).await {
                Ok(c) => return Ok(c),
                Err(e) => last = Some(e),
            }
        }
        Err(last.map_or(ClientError::NoBootstrap, ClientError::Connect))
    }

    /// How long a request a broker answers at once may wait: [`ANSWERED_AT_ONCE_WITHIN`], or
    /// the client's request timeout when that is shorter.
    pub(crate) fn answered_at_once_within(&self) -> Duration {
        ANSWERED_AT_ONCE_WITHIN.min(self.settings.request_timeout)
    }

    /// Calls `call` on any broker (for requests any broker answers) with the admin connection.
    pub async fn call_any<C: super::protocol::Call>(
        &self,
        call: &C,
    ) -> Result<super::protocol::Answer<C::Response>, ClientError> {
        let c = self.any(Purpose::Admin).await?;
        c.call(call).await.map_err(|e| self.failed(&c, e))
    }

    /// [`Client::call_any`] for a request a broker answers at once: one not answered
    /// `within` counts its connection as lost, rather than waiting out the client's request
    /// timeout (which must cover a JoinGroup's whole rebalance, up to minutes).
    pub async fn call_any_within<C: super::protocol::Call>(
        &self,
        call: &C,
        within: std::time::Duration,
    ) -> Result<super::protocol::Answer<C::Response>, ClientError> {
        let c = self.any(Purpose::Admin).await?;
        c.call_within(call, within)
            .await
            .map_err(|e| self.failed(&c, e))
    }
}

#[cfg(test)]
mod tests;
