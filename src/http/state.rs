//! What request handlers can see of the running service. Built complete before the HTTP front
//! starts: the store and the user service are open by then, and the producer and consumer
//! metrics exist from the start (the producer and consumer, created once Kafka answers, count
//! into these same objects). The one thing that changes later is whether Kafka was reached.
use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use crate::{consumer::ConsumerMetrics, producer::ProducerMetrics, store::Store, users::Users};

/// Shared state of the HTTP front.
#[derive(Debug)]
pub struct AppState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The user service over the store.
    pub users: Arc<Users>,
    /// What the producer counts; hand it to the producer when Kafka answers.
    pub producer: Arc<ProducerMetrics>,
    /// What the consumer counts, when the consumer is enabled.
    pub consumer: Option<Arc<ConsumerMetrics>>,
    /// Outbox backlog above which `/ready` answers 503.
    pub max_backlog: u64,
    kafka_ready: AtomicBool,
}

impl AppState {
    /// State over an open `store` and `users`, with fresh producer metrics, and consumer
    /// metrics when `consumer_enabled`. Kafka starts out not ready.
    pub fn new(
        store: Arc<dyn Store>,
        users: Arc<Users>,
        max_backlog: u64,
        consumer_enabled: bool,
    ) -> Self {
        Self {
            store,
            users,
            producer: Arc::default(),
            consumer: consumer_enabled.then(Arc::default),
            max_backlog,
            kafka_ready: AtomicBool::new(false),
        }
    }

    /// Marks the Kafka side (topics, producer, consumer) started, or not.
    pub fn set_kafka_ready(&self, ready: bool) {
        self.kafka_ready.store(ready, Ordering::Release);
    }

    /// Whether Kafka was reached, the topics exist and the producer and consumer run.
    pub fn kafka_ready(&self) -> bool {
        self.kafka_ready.load(Ordering::Acquire)
    }

    /// Rows waiting in the outbox, if the outbox is readable.
    pub fn outbox_backlog(&self) -> Option<u64> {
        use crate::store::StoreExt;
        self.store.read_with(crate::outbox::backlog).ok()
    }

    /// Every metric in the Prometheus text format. The producer and consumer metrics are
    /// listed once those run, i.e. once Kafka was reached.
    pub fn render_metrics(&self) -> String {
        let mut out = String::new();
        let kafka_ready = self.kafka_ready();
        crate::metrics::render_value(
            &mut out,
            "usercenter_kafka_ready",
            "gauge",
            "1 when Kafka was reached and the topics exist.",
            u8::from(kafka_ready),
        );
        if let Some(backlog) = self.outbox_backlog() {
            crate::metrics::render_value(
                &mut out,
                "usercenter_outbox_backlog",
                "gauge",
                "Outbox rows waiting to be published.",
                backlog,
            );
        }
        crate::metrics::render_value(
            &mut out,
            "usercenter_sessions_pruned_total",
            "counter",
            "Expired sessions removed.",
            self.users.sessions_pruned(),
        );
        if kafka_ready {
            self.producer.render(&mut out);
            if let Some(c) = &self.consumer {
                c.render(&mut out);
            }
        }
        out
    }
}
