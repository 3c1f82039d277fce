//! Broker quotas (KIP-219). A broker over a client's produce, fetch or request quota answers
//! with a `throttle_time_ms`. From the versions KIP-219 introduced (Kafka 2.0) on it answers at
//! once and then mutes the connection for that long: requests sent meanwhile sit unread in its
//! socket buffer, and a client that times out, drops the connection and opens another has
//! escaped the quota only until the broker throttles the new one. So a connection that was
//! told to wait sends nothing more until the throttle is over ([`Throttle::until`]), and a
//! request's timeout starts once it is written. A request bound in time whatever the broker
//! does (a Produce, which must not be written after its callers gave up or the relay lease
//! ended) is not written at all when the throttle outlasts that ([`Throttle::before`]), and
//! the connection is kept. Before those versions the broker held the answer back itself and
//! the client waits no more.
//!
//! The throttle a connection honours is capped at its request timeout, so that a broker that
//! answers a huge throttle (a bug, or a hostile one) holds it for no longer than a silent one.
//! `/metrics` counts throttled answers and their throttle time by API:
//! `usercenter_kafka_throttled_total{api}`, `usercenter_kafka_throttle_seconds_total{api}`.
use std::time::Duration;

use kafka_protocol::messages::ApiKey;
use parking_lot::Mutex;
use tokio::time::Instant;

use super::per_api::PerApi;
use crate::metrics::{render_header, render_sample};

static THROTTLED: PerApi = PerApi::new();
static THROTTLED_MS: PerApi = PerApi::new();

/// Until when one connection must not send (the end of the last throttle a broker answered).
#[derive(Debug)]
pub(super) struct Throttle {
    until: Mutex<Option<Instant>>,
    /// The longest throttle honoured (the connection's request timeout).
    cap: Duration,
}

impl Throttle {
    pub(super) fn new(cap: Duration) -> Self {
        Self {
            until: Mutex::new(None),
            cap,
        }
    }

    /// When the connection's throttle is over, if it is not yet.
    pub(super) fn until(&self) -> Option<Instant> {
        let until = *self.until.lock();
        until.filter(|&u| u > Instant::now())
    }

    /// What a request that must be written before `bound` does about the throttle.
    pub(super) fn before(&self, bound: Instant) -> Before {
        let Some(until) = self.until() else {
            return Before::Send;
        };
        if until >= bound {
            Before::GiveUpAt(bound)
        } else {
            Before::WaitUntil(until)
        }
    }

    /// Notes the throttle `ms` answered to a request of API `key` at `version`; the client
    /// waits it out from `from_version` on (the API's first KIP-219 version).
    pub(super) fn note(&self, key: i16, version: i16, from_version: i16, ms: i32) {
        let Ok(ms) = u64::try_from(ms) else {
            return;
        };
        if ms == 0 {
            return;
        }
        THROTTLED.add(key, 1);
        THROTTLED_MS.add(key, ms);
        if version < from_version {
            return;
        }
        let end = Instant::now() + Duration::from_millis(ms).min(self.cap);
        let mut until = self.until.lock();
        if until.is_none_or(|u| u < end) {
            *until = Some(end);
        }
        tracing::debug!(
            api = key,
            throttle_ms = ms,
            "kafka: the broker throttles this connection (quota)"
        );
    }
}

/// What a request bound in time does about its connection's throttle ([`Throttle::before`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Before {
    /// Nothing throttles it: it is written now.
    Send,
    /// It is written once the throttle is over, then.
    WaitUntil(Instant),
    /// The throttle outlasts the time it may be written by: it is not written, and fails
    /// then.
    GiveUpAt(Instant),
}

/// Appends `usercenter_kafka_throttled_total` and `usercenter_kafka_throttle_seconds_total`,
/// one sample per API throttled at least once, to `out`.
pub fn render_kafka_throttle_metrics(out: &mut String) {
    let counts: Vec<(ApiKey, u64, u64)> = THROTTLED
        .counted()
        .map(|(api, n)| (api, n, THROTTLED_MS.get(api)))
        .collect();
    let name = "usercenter_kafka_throttled_total";
    render_header(
        out,
        name,
        "counter",
        "Kafka answers that said the broker throttles this client (a quota), by API.",
    );
    for (api, n, _) in &counts {
        render_sample(out, name, &[("api", &format!("{api:?}"))], n);
    }
    let name = "usercenter_kafka_throttle_seconds_total";
    render_header(
        out,
        name,
        "counter",
        "Throttle time Kafka brokers answered, by API: from Kafka 2.0 on the connection sends nothing meanwhile.",
    );
    for (api, _, ms) in &counts {
        let seconds = *ms as f64 / 1000.0;
        render_sample(out, name, &[("api", &format!("{api:?}"))], seconds);
    }
}

#[cfg(test)]
mod tests;
