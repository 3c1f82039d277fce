//! HTTP request metrics: requests by route, method and status, their duration, and how many
//! are in flight. The caller names the route by its template (`/api/v1/users/{id}`, never the
//! raw path) and this module folds unknown methods into `other`, so every label has a small,
//! fixed set of values: a client sending random paths or methods cannot grow the series.
use std::{collections::BTreeMap, time::Instant};

use parking_lot::Mutex;

use super::{Gauge, Histogram, render_header, render_sample};

/// Request duration buckets in seconds: from a cached `/health` answer (well under a
/// millisecond) to a login's password hash under load (hundreds of milliseconds) and beyond.
static DURATION_SECONDS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The methods kept as label values; any other becomes `other`.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
];

/// Requests counted by (route, method, status), durations by (route, method), in flight.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    requests: Mutex<BTreeMap<(&'static str, &'static str, u16), u64>>,
    durations: Mutex<BTreeMap<(&'static str, &'static str), Histogram>>,
    in_flight: Gauge,
}

/// One request being served: counted in flight until dropped. [`InFlight::finish`] also counts
/// it by status and records its duration; a request dropped unfinished (the client went away)
/// only leaves the in-flight gauge.
#[derive(Debug)]
#[must_use = "a request is counted when finished"]
pub struct InFlight<'a> {
    metrics: &'a HttpMetrics,
    route: &'static str,
    method: &'static str,
    started: Instant,
}

/// `method` if it is a standard one, else `other`.
fn method_label(method: &str) -> &'static str {
    METHODS
        .into_iter()
        .find(|m| *m == method)
        .unwrap_or("other")
}

impl HttpMetrics {
    /// Starts counting a request to the route with template `route`.
    pub fn begin(&self, route: &'static str, method: &str) -> InFlight<'_> {
        self.in_flight.add(1);
        InFlight {
            metrics: self,
            route,
            method: method_label(method),
            started: Instant::now(),
        }
    }

    /// Requests being served now.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.get()
    }

    /// Appends the Prometheus text of the three families to `out`.
    pub fn render(&self, out: &mut String) {
        let name = "usercenter_http_requests_total";
        render_header(
            out,
            name,
            "counter",
            "HTTP requests answered, by route template, method and status.",
        );
        for (&(route, method, status), n) in self.requests.lock().iter() {
            let status = status.to_string();
            let labels = [("route", route), ("method", method), ("status", &*status)];
            render_sample(out, name, &labels, n);
        }
        let name = "usercenter_http_request_duration_seconds";
        render_header(
            out,
            name,
            "histogram",
            "Seconds from a request's arrival to its response, by route template and method.",
        );
        for (&(route, method), h) in self.durations.lock().iter() {
            h.render_series(out, name, &[("route", route), ("method", method)]);
        }
        let name = "usercenter_http_requests_in_flight";
        render_header(out, name, "gauge", "HTTP requests being served now.");
        render_sample(out, name, &[], self.in_flight());
    }
}

impl InFlight<'_> {
    /// Counts the request as answered with `status` and records its duration.
    pub fn finish(self, status: u16) {
        let m = self.metrics;
        *m.requests
            .lock()
            .entry((self.route, self.method, status))
            .or_default() += 1;
        m.durations
            .lock()
            .entry((self.route, self.method))
            .or_insert_with(|| Histogram::new(&DURATION_SECONDS))
            .observe(self.started.elapsed().as_secs_f64());
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.metrics.in_flight.add(-1);
    }
}

#[cfg(test)]
mod tests;
