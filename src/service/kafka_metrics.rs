//! What the Kafka side counts, before Kafka answers.
use std::sync::Arc;

use crate::{consumer::ConsumerMetrics, metrics::RenderMetrics, producer::ProducerMetrics};

/// What the Kafka side counts, made before it runs so that `/metrics` holds it from the
/// start; the producer and consumer count into it once Kafka answers.
#[derive(Debug, Clone)]
pub(super) struct KafkaMetrics {
    /// The producer's.
    pub(super) producer: Arc<ProducerMetrics>,
    /// The consumer's; `None` when the consumer is disabled.
    pub(super) consumer: Option<Arc<ConsumerMetrics>>,
}

impl KafkaMetrics {
    pub(super) fn new(consumer_enabled: bool) -> Self {
        Self {
            producer: Arc::default(),
            consumer: consumer_enabled.then(Arc::default),
        }
    }

    /// Each as `/metrics` renders it.
    pub(super) fn rendered(&self) -> Vec<Arc<dyn RenderMetrics>> {
        let mut all: Vec<Arc<dyn RenderMetrics>> = vec![self.producer.clone()];
        if let Some(c) = &self.consumer {
            all.push(c.clone());
        }
        all
    }
}
