//! The one async type shared by the producer and the consumer, in a module of its own so that
//! neither imports the other (nor `kafka`, which depends on `config`, which embeds both).
use std::{future::Future, pin::Pin};

/// A boxed, sendable future: what the small Kafka-facing traits (the producer's `Transport`,
/// the consumer's `PartitionSource`) return, so that tests can put mocks behind them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
