//! What request handlers can see of the running service. Built complete before the HTTP front
//! starts: the store and the user service are open by then, and the Kafka side's metrics
//! exist from the start (`service` makes them; the producer and consumer, created once Kafka
//! answers, count into these same objects, which the front renders without knowing whose they
//! are). The one thing that changes later is whether Kafka was reached. The HTTP request
//! metrics are counted here too, by route template ([`route`]).
mod route;

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use super::OutboxReading;
use crate::{
    metrics::{
        self, RenderMetrics,
        http_requests::{HttpMetrics, InFlight},
    },
    store::{Store, StoreExt, WriteConflicts},
    users::Users,
    version,
};

/// Shared state of the HTTP front.
#[derive(Debug)]
pub struct AppState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The user service over the store.
    pub users: Arc<Users>,
    /// What the Kafka side counts (the producer, and the consumer when it is enabled), shown
    /// once Kafka was reached.
    kafka_metrics: Vec<Arc<dyn RenderMetrics>>,
    /// Outbox backlog above which `/ready` answers 503.
    pub max_backlog: u64,
    /// HTTP requests by route, method and status; their durations; those in flight.
    pub http: HttpMetrics,
    kafka_ready: AtomicBool,
    /// The outbox gauges `/ready` and `/metrics` show, read once for all callers.
    pub(super) outbox_gauges: super::outbox_gauges::OutboxGauges,
    /// The proxies whose `X-Forwarded-For` names the client (`http.trusted_proxies`).
    pub(super) trusted_proxies: super::TrustedProxies,
}

impl AppState {
    /// State over an open `store` and `users`, showing `kafka_metrics` once Kafka is ready.
    /// Kafka starts out not ready.
    pub(crate) fn new(
        store: Arc<dyn Store>,
        users: Arc<Users>,
        max_backlog: u64,
        kafka_metrics: Vec<Arc<dyn RenderMetrics>>,
    ) -> Self {
        Self {
            store,
            users,
            kafka_metrics,
            max_backlog,
            http: HttpMetrics::default(),
            kafka_ready: AtomicBool::new(false),
            outbox_gauges: super::outbox_gauges::OutboxGauges::default(),
            trusted_proxies: super::TrustedProxies::default(),
        }
    }

    /// The same, believing the `X-Forwarded-For` of the proxies in `proxies`.
    #[must_use]
    pub fn with_trusted_proxies(mut self, proxies: super::TrustedProxies) -> Self {
        self.trusted_proxies = proxies;
        self
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
        self.store.read_with(crate::outbox::backlog).ok()
    }

    /// Starts counting a request for `method` and `path` (labelled by its route template);
    /// finish the returned guard with the response status.
    pub fn begin_request(&self, method: &hyper::Method, path: &str) -> InFlight<'_> {
        self.http.begin(route::template(path), method.as_str())
    }

    /// Every metric in the Prometheus text format: the build, the process, HTTP and the outbox
    /// always; the Kafka side's (producer, consumer) once those run, i.e. once Kafka was reached.
    pub fn render_metrics(&self) -> String {
        self.render_metrics_with(Self::read_outbox(&*self.store))
    }

    /// The outbox gauges' values; `None` when the store cannot be read. A store read: it
    /// blocks.
    pub fn read_outbox(store: &dyn crate::store::Store) -> Option<OutboxReading> {
        store
            .read_with(|txn| {
                Ok::<_, crate::store::StoreError>(OutboxReading {
                    backlog: crate::outbox::backlog(txn)?,
                    oldest_ms: crate::outbox::oldest_created_ms(txn)?,
                    parked: crate::outbox::parked(txn)?,
                })
            })
            .ok()
    }

    /// [`AppState::render_metrics`] with the outbox gauges' values read already (`None`: left
    /// out, the store did not answer).
    pub fn render_metrics_with(&self, outbox: Option<OutboxReading>) -> String {
        let mut out = String::new();
        let name = "usercenter_build_info";
        let help = "Always 1; the labels say which build this is.";
        metrics::render_header(&mut out, name, "gauge", help);
        let labels = [
            ("version", version::VERSION),
            ("commit", version::COMMIT),
            ("target", version::TARGET),
        ];
        metrics::render_sample(&mut out, name, &labels, 1);
        // Not Linux, or no /proc: no process metrics rather than made-up ones.
        if let Ok(process) = metrics::proc_stats::read_stats() {
            process.render(&mut out);
        }
        self.http.render(&mut out);
        crate::users::render_hashing_metrics(&mut out);
        crate::kafka::protocol::render_kafka_request_metrics(&mut out);
        crate::kafka::protocol::render_kafka_throttle_metrics(&mut out);
        let kafka_ready = self.kafka_ready();
        metrics::render_value(
            &mut out,
            "usercenter_kafka_ready",
            "gauge",
            "1 once Kafka was reached, the topics exist and the producer has its id (or gave up asking for one); 0 again after the Kafka pipeline failed.",
            u8::from(kafka_ready),
        );
        if let Some(outbox) = outbox {
            render_outbox(&mut out, outbox);
        }
        crate::metrics::render_value(
            &mut out,
            "usercenter_sessions_pruned_total",
            "counter",
            "Expired sessions removed.",
            self.users.sessions_pruned(),
        );
        if let Some(conflicts) = self.store.write_conflicts() {
            render_write_conflicts(&mut out, conflicts);
        }
        if kafka_ready {
            for m in &self.kafka_metrics {
                m.render(&mut out);
            }
        }
        out
    }
}

/// The store's write conflicts (PostgreSQL: serialization failures and deadlocks, each run
/// again on a fresh snapshot).
fn render_write_conflicts(out: &mut String, c: WriteConflicts) {
    let counters = [
        (
            "usercenter_store_write_retries_total",
            "Write transaction attempts that failed to serialize with concurrent ones (or deadlocked) and ran again.",
            c.retries,
        ),
        (
            "usercenter_store_writes_retried_total",
            "Write transactions that needed more than one attempt.",
            c.retried,
        ),
        (
            "usercenter_store_writes_given_up_total",
            "Write transactions given up because every attempt conflicted.",
            c.given_up,
        ),
    ];
    for (name, help, value) in counters {
        metrics::render_value(out, name, "counter", help, value);
    }
}

/// The outbox gauges.
fn render_outbox(out: &mut String, reading: OutboxReading) {
    metrics::render_value(
        out,
        "usercenter_outbox_backlog",
        "gauge",
        "Outbox rows waiting to be published.",
        reading.backlog,
    );
    metrics::render_value(
        out,
        "usercenter_outbox_parked",
        "gauge",
        "Outbox rows parked: they can never be published as they are (larger than the topic takes, without an identity, or not readable as a record); see the operations guide.",
        reading.parked,
    );
    let now_ms = chrono::Utc::now().timestamp_millis();
    let age = reading
        .oldest_ms
        .map_or(0.0, |created| (now_ms - created).max(0) as f64 / 1000.0);
    metrics::render_value(
        out,
        "usercenter_outbox_oldest_age_seconds",
        "gauge",
        "Seconds since the oldest row waiting in the outbox was written; 0 when none waits.",
        age,
    );
}

#[cfg(test)]
mod tests;
