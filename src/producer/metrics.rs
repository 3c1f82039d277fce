//! What the producer counts; the service exports it on `/metrics`.
use crate::metrics::{Counter, Gauge, Histogram, RenderMetrics, render_value};

/// Batch sizes in records.
static BATCH_RECORDS: [f64; 9] = [
    1.0, 10.0, 100.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 50000.0,
];
/// Produce latency in seconds, from buffering to acknowledgement.
static LATENCY: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

/// Producer counters, gauges and histograms.
#[derive(Debug)]
pub struct ProducerMetrics {
    /// Records acknowledged by the broker.
    pub records_sent: Counter,
    /// Uncompressed encoded bytes of acknowledged batches.
    pub bytes_sent: Counter,
    /// Batches acknowledged.
    pub batches_sent: Counter,
    /// Produce attempts retried.
    pub retries: Counter,
    /// Batches split after `MessageTooLarge`.
    pub splits: Counter,
    /// Records failed: delivery timeout.
    pub errors_timeout: Counter,
    /// Records failed: too large.
    pub errors_too_large: Counter,
    /// Records failed: refused by the broker.
    pub errors_fatal: Counter,
    /// Records not sent because the relay's lease ended first (the next holder sends them).
    pub errors_lease_ended: Counter,
    /// `enqueue` calls refused because the buffer was full.
    pub errors_buffer_full: Counter,
    /// Buffer bytes held by records not yet delivered.
    pub buffer_bytes: Gauge,
    /// Records per batch.
    pub batch_records: Histogram,
    /// Seconds from a batch's first record to its acknowledgement.
    pub latency: Histogram,
}

impl Default for ProducerMetrics {
    fn default() -> Self {
        Self {
            records_sent: Counter::default(),
            bytes_sent: Counter::default(),
            batches_sent: Counter::default(),
            retries: Counter::default(),
            splits: Counter::default(),
            errors_timeout: Counter::default(),
            errors_too_large: Counter::default(),
            errors_fatal: Counter::default(),
            errors_lease_ended: Counter::default(),
            errors_buffer_full: Counter::default(),
            buffer_bytes: Gauge::default(),
            batch_records: Histogram::new(&BATCH_RECORDS),
            latency: Histogram::new(&LATENCY),
        }
    }
}

impl RenderMetrics for ProducerMetrics {
    /// Appends the Prometheus text of every producer metric to `out`.
    fn render(&self, out: &mut String) {
        for (name, help, c) in self.counters() {
            render_value(out, name, "counter", help, c.get());
        }
        self.render_errors(out);
        render_value(
            out,
            "usercenter_producer_buffer_bytes",
            "gauge",
            "Buffer bytes held by records not yet delivered.",
            self.buffer_bytes.get(),
        );
        self.batch_records.render(
            out,
            "usercenter_producer_batch_records",
            "Records per batch.",
        );
        self.latency.render(
            out,
            "usercenter_producer_latency_seconds",
            "Seconds from a batch's first record to its acknowledgement.",
        );
    }
}

impl ProducerMetrics {
    /// Each counter with its name and help (the errors by kind apart).
    fn counters(&self) -> [(&'static str, &'static str, &Counter); 5] {
        [
            (
                "usercenter_producer_records_total",
                "Records acknowledged by the broker.",
                &self.records_sent,
            ),
            (
                "usercenter_producer_bytes_total",
                "Uncompressed bytes of acknowledged batches.",
                &self.bytes_sent,
            ),
            (
                "usercenter_producer_batches_total",
                "Batches acknowledged.",
                &self.batches_sent,
            ),
            (
                "usercenter_producer_retries_total",
                "Produce attempts retried.",
                &self.retries,
            ),
            (
                "usercenter_producer_splits_total",
                "Batches split after MessageTooLarge.",
                &self.splits,
            ),
        ]
    }

    /// Records not delivered, one series per kind.
    fn render_errors(&self, out: &mut String) {
        let _ = std::fmt::Write::write_str(
            out,
            "# HELP usercenter_producer_errors_total Records not delivered, by kind.\n# TYPE usercenter_producer_errors_total counter\n",
        );
        for (kind, c) in [
            ("timeout", &self.errors_timeout),
            ("too_large", &self.errors_too_large),
            ("fatal", &self.errors_fatal),
            ("lease_ended", &self.errors_lease_ended),
            ("buffer_full", &self.errors_buffer_full),
        ] {
            let _ = std::fmt::Write::write_fmt(
                out,
                format_args!(
                    "usercenter_producer_errors_total{{kind=\"{kind}\"}} {}\n",
                    c.get()
                ),
            );
        }
    }
}
