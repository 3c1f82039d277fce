//! Connecting to Kafka and preparing the service's topics.
//!
//! rskafka retries connection failures for ever by default; here every start-up step runs under
//! the configured `kafka.connect_timeout_secs` so a wrong address fails with a clear error.
//! TLS and SASL come from [`security`]. [`protocol`] holds our own connections, the messages
//! rskafka lacks and the idempotent produce path; [`error_code`] names Kafka's error codes.
pub mod error_code;
pub mod group;
mod idempotent;
pub mod protocol;
pub mod records;
pub mod security;
mod topics;

use std::{sync::Arc, time::Duration};

use rskafka::{
    BackoffConfig,
    client::{Client, ClientBuilder},
};

use crate::config::KafkaConfig;

pub use idempotent::{IdempotentError, IdempotentTransport};
pub use topics::{ensure_topic, ensure_topics};

/// A Kafka step that failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum KafkaError {
    /// The configuration (from the environment) is invalid.
    #[error("Kafka settings: {0}")]
    Settings(String),
    /// The TLS settings cannot be used (a missing or unusable certificate or key file).
    #[error(transparent)]
    Security(#[from] security::SecurityError),
    /// The bootstrap brokers did not answer a metadata request in time.
    #[error("cannot reach Kafka at {brokers}: {source}")]
    Connect {
        /// The bootstrap list, comma-separated.
        brokers: String,
        /// rskafka's error.
        source: Arc<rskafka::client::error::Error>,
    },
    /// Listing topics failed.
    #[error("cannot list topics: {0}")]
    ListTopics(Arc<rskafka::client::error::Error>),
    /// Creating a topic failed.
    #[error("cannot create topic {topic}: {source}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// rskafka's error.
        source: Arc<rskafka::client::error::Error>,
    },
}

/// Connects to the bootstrap brokers, giving up after `connect_timeout_secs`.
pub async fn connect(config: &KafkaConfig) -> Result<Client, KafkaError> {
    let deadline = Duration::from_secs(config.connect_timeout_secs);
    let backoff = BackoffConfig {
        init_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_secs(2),
        base: 2.0,
        deadline: Some(deadline),
    };
    let mut builder = ClientBuilder::new(config.brokers.clone())
        .client_id(config.client_id.as_str())
        .backoff_config(backoff);
    if let Some(tls) = security::tls_config(config)? {
        builder = builder.tls_config(tls);
    }
    if let Some(sasl) = security::sasl_config(config) {
        builder = builder.sasl_config(sasl);
    }
    builder.build().await.map_err(|source| KafkaError::Connect {
        brokers: config.brokers.join(","),
        source: Arc::new(source),
    })
}
