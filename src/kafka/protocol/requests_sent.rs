//! How many requests of each API this process sent to brokers, counted where every typed
//! request goes out ([`super::Connection::call_within`]), as it is handed to its connection: a
//! request that then fails before it is written (a broken connection) counts too. Rendered on
//! `/metrics` as `usercenter_kafka_requests_total{api="..."}`. The ApiVersions and SASL
//! exchanges that open a connection are not counted: they are the connection's, not a request
//! of ours.
//!
//! One table per process, like the client itself: the producer, the consumers, the group
//! member and the operator commands all send through it.
use kafka_protocol::messages::ApiKey;

use super::per_api::PerApi;
use crate::metrics::{render_header, render_sample};

static SENT: PerApi = PerApi::new();

/// Counts one request of the API numbered `key`.
pub(crate) fn count(key: i16) {
    SENT.add(key, 1);
}

/// Requests of `api` sent so far by this process.
pub fn sent(api: ApiKey) -> u64 {
    SENT.get(api)
}

/// Appends `usercenter_kafka_requests_total`, one sample per API sent at least once, to `out`.
pub fn render_kafka_request_metrics(out: &mut String) {
    let name = "usercenter_kafka_requests_total";
    render_header(
        out,
        name,
        "counter",
        "Kafka requests this process sent to brokers, by API (connection set-up not counted).",
    );
    for (api, n) in SENT.counted() {
        render_sample(out, name, &[("api", &format!("{api:?}"))], n);
    }
}

#[cfg(test)]
mod tests;
