//! Which broker to talk to: the bootstrap list, partition leaders from metadata, and one cached
//! [`Connection`] per broker address.
//!
//! A connection that failed is forgotten by whoever saw it fail ([`Cluster::forget`]); the next
//! request to that broker opens a new one.
use std::{collections::HashMap, sync::Arc};

use parking_lot::Mutex;

use crate::kafka::error_code::ErrorCode;

use super::{
    adapter::CallError,
    connection::{ConnectError, ConnectSettings, Connection},
};

/// Why no suitable connection could be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// Connecting to a broker failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The metadata request failed.
    #[error("metadata request failed")]
    Metadata(#[source] CallError),
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
}

/// The brokers of one cluster, reached with one set of connection settings.
#[derive(Debug)]
pub struct Cluster {
    bootstrap: Vec<String>,
    settings: ConnectSettings,
    connections: Mutex<HashMap<String, Arc<Connection>>>,
}

impl Cluster {
    /// A cluster reached through `bootstrap` (`host:port` each).
    pub fn new(bootstrap: Vec<String>, settings: ConnectSettings) -> Self {
        Self {
            bootstrap,
            settings,
            connections: Mutex::new(HashMap::new()),
        }
    }

    /// The same brokers and settings with connections of its own: a broker answers the requests
    /// of one connection in order, so a long-polling Fetch would hold back a group's heartbeats
    /// on a shared one.
    pub fn fresh(&self) -> Self {
        Self::new(self.bootstrap.clone(), self.settings.clone())
    }

    /// The connection settings.
    pub fn settings(&self) -> &ConnectSettings {
        &self.settings
    }

    /// The cached connection to `addr`, or a new one.
    pub async fn connection(&self, addr: &str) -> Result<Arc<Connection>, ConnectError> {
        if let Some(c) = self.connections.lock().get(addr) {
            return Ok(Arc::clone(c));
        }
        let fresh = Arc::new(Connection::connect(addr, &self.settings).await?);
        // Another task may have connected meanwhile: keep one.
        let mut connections = self.connections.lock();
        Ok(Arc::clone(
            connections.entry(addr.to_owned()).or_insert(fresh),
        ))
    }

    /// Drops `connection` from the cache (when a request on it failed), unless it was replaced.
    pub fn forget(&self, connection: &Arc<Connection>) {
        let mut connections = self.connections.lock();
        if connections
            .get(connection.addr())
            .is_some_and(|c| Arc::ptr_eq(c, connection))
        {
            connections.remove(connection.addr());
        }
    }

    /// Any working connection: a cached one, else the first bootstrap broker that answers.
    pub async fn any(&self) -> Result<Arc<Connection>, ClusterError> {
        if let Some(c) = self.connections.lock().values().next() {
            return Ok(Arc::clone(c));
        }
        let mut last = None;
        for addr in &self.bootstrap {
            match self.connection(addr).await {
                Ok(c) => return Ok(c),
                Err(e) => last = Some(e),
            }
        }
        Err(last.map_or(ClusterError::NoBootstrap, ClusterError::Connect))
    }

    /// A connection to the current leader of `topic`/`partition`, from fresh metadata.
    pub async fn leader(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Arc<Connection>, ClusterError> {
        let any = self.any().await?;
        let metadata = match any.metadata(&[topic]).await {
            Ok(m) => m,
            Err(e) => {
                if e.is_connection_lost() {
                    self.forget(&any);
                }
                return Err(ClusterError::Metadata(e));
            }
        };
        let no_leader = || ClusterError::NoLeader {
            topic: topic.to_owned(),
            partition,
        };
        let t = metadata
            .topics
            .iter()
            .find(|t| t.name.0 == topic)
            .ok_or_else(no_leader)?;
        if let Some(error) = &t.error {
            return Err(ClusterError::Topic {
                topic: topic.to_owned(),
                code: ErrorCode::from(error),
            });
        }
        let leader = t
            .partitions
            .iter()
            .find(|p| p.partition_index.0 == partition && p.error.is_none())
            .map(|p| p.leader_id.0)
            .ok_or_else(no_leader)?;
        let broker = metadata
            .brokers
            .iter()
            .find(|b| b.node_id.0 == leader)
            .ok_or_else(no_leader)?;
        let addr = format!("{}:{}", broker.host.0, broker.port.0);
        Ok(self.connection(&addr).await?)
    }
}
