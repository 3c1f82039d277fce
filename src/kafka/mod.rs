//! Kafka: the process's one client and the protocol under it.
//!
//! | module | owns |
//! |---|---|
//! | [`client`] | [`Client`]: the bootstrap list, one metadata cache, one connection per broker and purpose; topics, log offsets, coordinators |
//! | [`protocol`] | one broker connection (TLS, SASL, ApiVersions) on rskafka's messenger, and the typed requests on kafka-protocol's messages |
//! | [`records`] | fetched record batches read without copying |
//! | [`group`] | the consumer group member: join, sync, heartbeat, assignors, offsets |
//! | [`security`] | rustls and SASL settings from certificate files and credentials |
//! | [`error_code`] | Kafka's error codes by name |
//! | [`retry`] | asking again with a growing pause, for a while |
//!
//! Nothing here knows the service's config, producer or consumer: `config` turns `[kafka]` into
//! [`protocol::ConnectSettings`], and the producer and consumer are built on [`Client`].
pub mod client;
pub mod error_code;
pub mod group;
pub mod protocol;
pub mod records;
pub mod retry;
pub mod security;
#[cfg(test)]
pub(crate) mod testing;

pub use client::{Client, ClientError, Purpose};
