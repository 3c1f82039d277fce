//! Lock-free counters, gauges and histograms, rendered in the Prometheus text format (0.0.4).
//!
//! Names follow the Prometheus conventions: a `usercenter_` prefix, base units in the name
//! (`_seconds`, `_bytes`), counters ending in `_total`. The HTTP request metrics are in
//! [`http_requests`], the process metrics read from `/proc` in [`proc_stats`].
pub mod http_requests;
pub mod proc_stats;

use std::{
    fmt::Write as _,
    sync::atomic::{AtomicI64, AtomicU64, Ordering},
};

/// A component's metrics as `/metrics` shows them (the producer's, the consumer's): the HTTP
/// front renders them without knowing whose they are.
pub trait RenderMetrics: Send + Sync + std::fmt::Debug {
    /// Appends the Prometheus text of every metric to `out`.
    fn render(&self, out: &mut String);
}

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    /// A gauge that reads `n` until set.
    pub fn starting_at(n: i64) -> Self {
        Self(AtomicI64::new(n))
    }
    /// Adds `n` (may be negative).
    pub fn add(&self, n: i64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Sets the value.
    pub fn set(&self, n: i64) {
        self.0.store(n, Ordering::Relaxed);
    }
    /// Current value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A histogram with fixed upper bounds (cumulative buckets as Prometheus wants them).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    /// The sum as `f64` bits: observations of a microsecond and less still add up.
    sum_bits: AtomicU64,
}

impl Histogram {
    /// A histogram with the given ascending upper bounds (+Inf is implied).
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_bits: AtomicU64::new(0f64.to_bits()),
        }
    }

    /// Records one observation.
    pub fn observe(&self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let add = |bits: u64| Some((f64::from_bits(bits) + value.max(0.0)).to_bits());
        // The closure always returns `Some`, so this cannot fail.
        let _ = self
            .sum_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, add);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Sum of the observations so far.
    pub fn sum(&self) -> f64 {
        f64::from_bits(self.sum_bits.load(Ordering::Relaxed))
    }

    /// Approximate quantile `q` (0..=1): the upper bound of the bucket it falls in.
    pub fn quantile(&self, q: f64) -> f64 {
        let total = self.count();
        if total == 0 {
            return 0.0;
        }
        let rank = (q * total as f64).ceil() as u64;
        let mut seen = 0;
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            seen += bucket.load(Ordering::Relaxed);
            if seen >= rank {
                return *bound;
            }
        }
        f64::INFINITY
    }

    /// Appends the Prometheus text of this histogram as `name` to `out`.
    pub fn render(&self, out: &mut String, name: &str, help: &str) {
        render_header(out, name, "histogram", help);
        self.render_series(out, name, &[]);
    }

    /// Appends this histogram's samples (buckets, sum, count) with `labels`, without the
    /// `# HELP`/`# TYPE` lines: one family may hold many labelled histograms.
    pub fn render_series(&self, out: &mut String, name: &str, labels: &[(&str, &str)]) {
        let mut cumulative = 0;
        let le = |bound: &str| {
            let mut l = labels.to_vec();
            l.push(("le", bound));
            label_text(&l)
        };
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{} {cumulative}", le(&bound.to_string()));
        }
        let count = self.count();
        let labels = label_text(labels);
        let _ = writeln!(out, "{name}_bucket{} {count}", le("+Inf"));
        let _ = writeln!(out, "{name}_sum{labels} {}", self.sum());
        let _ = writeln!(out, "{name}_count{labels} {count}");
    }
}

/// Appends the `# HELP` and `# TYPE` lines of a metric family.
pub fn render_header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Appends one sample `name{labels} value`.
pub fn render_sample(
    out: &mut String,
    name: &str,
    labels: &[(&str, &str)],
    value: impl std::fmt::Display,
) {
    let _ = writeln!(out, "{name}{} {value}", label_text(labels));
}

/// Appends a counter or gauge without labels in Prometheus text to `out`.
pub fn render_value(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    value: impl std::fmt::Display,
) {
    render_header(out, name, kind, help);
    render_sample(out, name, &[], value);
}

/// `{a="x",b="y"}` with the values escaped as the text format wants; empty for no labels.
fn label_text(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let mut s = String::from("{");
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{name}=\"");
        for c in value.chars() {
            match c {
                '\\' => s.push_str("\\\\"),
                '"' => s.push_str("\\\""),
                '\n' => s.push_str("\\n"),
                c => s.push(c),
            }
        }
        s.push('"');
    }
    s.push('}');
    s
}

#[cfg(test)]
mod tests;
