//! What the consumer counts; exported on `/metrics`.
use std::collections::BTreeMap;

use parking_lot::Mutex;

use crate::metrics::{
    Counter, Gauge, Histogram, RenderMetrics, render_header, render_sample, render_value,
};

static HANDLE_SECONDS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0,
];
static HANDLER_SECONDS: [f64; 9] = [1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 1e-2, 0.1];
static REBALANCE_SECONDS: [f64; 9] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0];

/// Consumer counters, per-partition lag and the batch handling histogram.
#[derive(Debug)]
pub struct ConsumerMetrics {
    /// Records handled.
    pub handled: Counter,
    /// Records skipped as duplicates.
    pub duplicates: Counter,
    /// Records sent to the dead-letter topic.
    pub dead_letters: Counter,
    /// Offsets reset to earliest after `OffsetOutOfRange`.
    pub offset_resets: Counter,
    /// Fetches that failed (each asked again after a pause): a broker or connection fault, a
    /// batch whose CRC does not match or whose magic is unknown (asked again once: the same
    /// bytes twice are dead-lettered), or an unreadable batch that ends before the offset
    /// asked for (stepped over at once when the broker says where it ends).
    pub fetch_failures: Counter,
    /// Handler failures (each retried or dead-lettered).
    pub handler_failures: Counter,
    /// Dedupe marks pruned (older than `dedupe_horizon_secs`).
    pub pruned_marks: Counter,
    /// Event-log entries pruned with their marks.
    pub pruned_event_log: Counter,
    /// Dedupe marks in the store after the last prune.
    pub dedupe_marks: Gauge,
    /// Event-log entries in the store after the last prune.
    pub event_log_entries: Gauge,
    /// Seconds to handle and commit one fetched batch.
    pub batch_seconds: Histogram,
    /// Seconds of one handler call.
    pub handler_seconds: Histogram,
    /// Group mode: offset commits to the group that failed (retried at the next interval).
    pub group_commit_failures: Counter,
    /// Group mode: rebalances this member went through (assignments received).
    pub rebalances: Counter,
    /// Group mode: the generation of the current assignment (−1: none yet, the member stopped,
    /// or static mode).
    pub generation: Gauge,
    /// Partitions this instance consumes now.
    pub assigned_partitions: Gauge,
    /// Group mode: 1 once the group member stopped on its own (another process joined with
    /// our `group_instance_id`): nothing is consumed until a restart.
    pub member_stopped: Gauge,
    /// Group mode: seconds of each rebalance, from the member leaving its stable generation
    /// (or starting) to its new assignment.
    pub rebalance_seconds: Histogram,
    /// Records behind the log end, by (topic, partition).
    lag: Mutex<BTreeMap<(String, i32), i64>>,
}

impl Default for ConsumerMetrics {
    fn default() -> Self {
        Self {
            handled: Counter::default(),
            duplicates: Counter::default(),
            dead_letters: Counter::default(),
            offset_resets: Counter::default(),
            fetch_failures: Counter::default(),
            handler_failures: Counter::default(),
            pruned_marks: Counter::default(),
            pruned_event_log: Counter::default(),
            dedupe_marks: Gauge::default(),
            event_log_entries: Gauge::default(),
            batch_seconds: Histogram::new(&HANDLE_SECONDS),
            handler_seconds: Histogram::new(&HANDLER_SECONDS),
            group_commit_failures: Counter::default(),
            rebalances: Counter::default(),
            generation: Gauge::starting_at(-1),
            assigned_partitions: Gauge::default(),
            member_stopped: Gauge::default(),
            rebalance_seconds: Histogram::new(&REBALANCE_SECONDS),
            lag: Mutex::new(BTreeMap::new()),
        }
    }
}

impl ConsumerMetrics {
    /// Records a partition's lag: the log end offset (the high watermark of the last fetch)
    /// minus the next offset to consume.
    pub fn set_lag(&self, topic: &str, partition: i32, lag: i64) {
        self.lag
            .lock()
            .insert((topic.to_owned(), partition), lag.max(0));
    }

    /// Forgets a partition's lag (it is no longer ours), so its series disappears.
    pub fn drop_lag(&self, topic: &str, partition: i32) {
        self.lag.lock().remove(&(topic.to_owned(), partition));
    }

    /// Lag per partition of the one topic a consumer reads.
    pub fn lag(&self) -> BTreeMap<i32, i64> {
        self.lag.lock().iter().map(|((_, p), l)| (*p, *l)).collect()
    }

    /// Each counter with its name and help.
    fn counters(&self) -> [(&'static str, &'static str, &Counter); 10] {
        [
            (
                "usercenter_consumer_records_total",
                "Records handled.",
                &self.handled,
            ),
            (
                "usercenter_consumer_duplicates_total",
                "Records skipped as duplicates.",
                &self.duplicates,
            ),
            (
                "usercenter_consumer_dead_letters_total",
                "Records sent to the dead-letter topic.",
                &self.dead_letters,
            ),
            (
                "usercenter_consumer_offset_resets_total",
                "Offsets reset after OffsetOutOfRange.",
                &self.offset_resets,
            ),
            (
                "usercenter_consumer_fetch_failures_total",
                "Fetches that failed and were asked again.",
                &self.fetch_failures,
            ),
            (
                "usercenter_consumer_handler_failures_total",
                "Handler failures.",
                &self.handler_failures,
            ),
            (
                "usercenter_consumer_dedupe_pruned_total",
                "Dedupe marks pruned after consumer.dedupe_horizon_secs.",
                &self.pruned_marks,
            ),
            (
                "usercenter_consumer_event_log_pruned_total",
                "Event-log entries pruned with their dedupe marks.",
                &self.pruned_event_log,
            ),
            (
                "usercenter_consumer_group_commit_failures_total",
                "Offset commits to the consumer group that failed.",
                &self.group_commit_failures,
            ),
            (
                "usercenter_consumer_rebalances_total",
                "Consumer-group assignments received.",
                &self.rebalances,
            ),
        ]
    }

    /// Each gauge with its name and help.
    fn gauges(&self) -> [(&'static str, &'static str, &Gauge); 5] {
        [
            (
                "usercenter_consumer_dedupe_marks",
                "Dedupe marks in the store after the last prune.",
                &self.dedupe_marks,
            ),
            (
                "usercenter_consumer_event_log_entries",
                "Event-log entries in the store after the last prune.",
                &self.event_log_entries,
            ),
            (
                "usercenter_consumer_group_generation",
                "Generation of the current consumer-group assignment (-1: none yet, the member stopped, or static mode).",
                &self.generation,
            ),
            (
                "usercenter_consumer_assigned_partitions",
                "Partitions this instance consumes.",
                &self.assigned_partitions,
            ),
            (
                "usercenter_consumer_group_member_stopped",
                "1 once the consumer-group member stopped (fenced by another process with its group_instance_id): nothing is consumed until a restart.",
                &self.member_stopped,
            ),
        ]
    }

    /// The lag of each partition, labelled by topic and partition.
    fn render_lag(&self, out: &mut String) {
        let name = "usercenter_consumer_lag";
        let help = "Records between the next offset to consume and the log end, per partition.";
        render_header(out, name, "gauge", help);
        for ((topic, partition), lag) in self.lag.lock().iter() {
            let partition = partition.to_string();
            render_sample(
                out,
                name,
                &[("topic", topic), ("partition", &partition)],
                lag,
            );
        }
    }

    fn render_histograms(&self, out: &mut String) {
        self.handler_seconds.render(
            out,
            "usercenter_consumer_handler_duration_seconds",
            "Seconds of one handler call.",
        );
        self.batch_seconds.render(
            out,
            "usercenter_consumer_batch_duration_seconds",
            "Seconds to handle and commit one fetched batch.",
        );
        self.rebalance_seconds.render(
            out,
            "usercenter_consumer_group_rebalance_duration_seconds",
            "Seconds from leaving a consumer-group generation (or starting) to the next assignment.",
        );
    }
}

impl RenderMetrics for ConsumerMetrics {
    /// Appends the Prometheus text of every consumer metric to `out`.
    fn render(&self, out: &mut String) {
        for (name, help, c) in self.counters() {
            render_value(out, name, "counter", help, c.get());
        }
        for (name, help, g) in self.gauges() {
            render_value(out, name, "gauge", help, g.get());
        }
        self.render_lag(out);
        self.render_histograms(out);
    }
}

#[cfg(test)]
mod tests;
