//! What request handlers can see of the running service.
use std::sync::{
    Arc, OnceLock,
    atomic::{AtomicBool, Ordering},
};

use crate::{consumer::ConsumerMetrics, producer::ProducerMetrics, store::Store, users::Users};

/// Outbox backlog above which `/ready` answers 503, unless configured.
const DEFAULT_MAX_BACKLOG: u64 = 10_000;

/// Shared state of the HTTP front.
#[derive(Debug, Default)]
pub struct AppState {
    kafka_ready: AtomicBool,
    /// The store, once open.
    pub store: OnceLock<Arc<dyn Store>>,
    /// Producer metrics, once Kafka was reached.
    pub producer: OnceLock<Arc<ProducerMetrics>>,
    /// Consumer metrics, once the consumer runs.
    pub consumer: OnceLock<Arc<ConsumerMetrics>>,
    /// The user service, once the store is open.
    pub users: OnceLock<Arc<Users>>,
    /// Outbox backlog bound of `/ready` (0: the default).
    pub max_backlog: std::sync::atomic::AtomicU64,
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

    /// Outbox backlog above which the service is not ready.
    pub fn max_backlog(&self) -> u64 {
        match self.max_backlog.load(Ordering::Relaxed) {
            0 => DEFAULT_MAX_BACKLOG,
            n => n,
        }
    }

    /// Rows waiting in the outbox, if the store is open and readable.
    pub fn outbox_backlog(&self) -> Option<u64> {
        use crate::store::StoreExt;
        let store = self.store.get()?;
        store.read_with(crate::outbox::backlog).ok()
    }

    /// Every metric in the Prometheus text format.
    pub fn render_metrics(&self) -> String {
        let mut out = String::new();
        crate::metrics::render_value(
            &mut out,
            "usercenter_kafka_ready",
            "gauge",
            "1 when Kafka was reached and the topics exist.",
            u8::from(self.kafka_ready()),
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
        if let Some(p) = self.producer.get() {
            p.render(&mut out);
        }
        if let Some(c) = self.consumer.get() {
            c.render(&mut out);
        }
        out
    }
}
