//! What request handlers can see of the running service.
use std::sync::atomic::{AtomicBool, Ordering};

/// Shared state of the HTTP front.
#[derive(Debug, Default)]
pub struct AppState {
    kafka_ready: AtomicBool,
}

impl AppState {
    /// Marks Kafka reachable and the topics present (or not).
    pub fn set_kafka_ready(&self, ready: bool) {
        self.kafka_ready.store(ready, Ordering::Release);
    }

    /// Whether Kafka was reached and the topics exist.
    pub fn kafka_ready(&self) -> bool {
        self.kafka_ready.load(Ordering::Acquire)
    }
}
