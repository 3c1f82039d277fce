//! Why the service could not start, or stopped.
use std::{net::SocketAddr, path::PathBuf};

use crate::{kafka, store::StoreError, users::UserError};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The data directory could not be created.
    #[error("store.data_dir {}: {source}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The store could not be opened.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The store failed for good while the service ran
    /// ([`Store::failed`](crate::store::Store::failed)): the service
    /// stopped, so that its supervisor starts it again, which opens the store again.
    #[error("the store failed and cannot be used until it is opened again: {0}")]
    StoreFailed(String),
    /// The Kafka pipeline failed for good while the service ran: the outbox relay or a task of
    /// the consumer ended early, or the Kafka TLS files could no longer be read. The service
    /// stopped, so that its supervisor starts it again.
    #[error("the Kafka pipeline failed: {0}")]
    PipelineFailed(String),
    /// A second ctrl-c or SIGTERM came while the service stopped: it stopped at once.
    #[error("stopped at once by a second signal; the shutdown was not finished")]
    Interrupted,
    /// The producer id file could not be read or created.
    #[error("producer identity in {}: {source}", path.display())]
    Identity {
        /// The data directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The user service could not start (store or admin account).
    #[error("users: {0}")]
    Users(UserError),
    /// The Kafka TLS settings cannot be used (checked before anything starts).
    #[error("{0}")]
    KafkaSecurity(#[from] kafka::security::SecurityError),
    /// An HTTP listener could not be bound.
    #[error("{field} {addr}: {source}")]
    Bind {
        /// The setting that names the address (`http.listen`, `http.ops_listen`).
        field: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}
