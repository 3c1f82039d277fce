//! Helpers for the protocol-layer tests (tests/it/protocol/).

use std::sync::Arc;

use rskafka::record::Record;
use usercenter::kafka::Client;

use crate::{Broker, client, read_partition};

/// The service's Kafka client for `addr`, plaintext.
pub fn kafka_client(addr: &str) -> Arc<Client> {
    let config = usercenter::config::KafkaConfig {
        brokers: vec![addr.to_owned()],
        connect_timeout_secs: 5,
        ..Default::default()
    };
    let settings = config.connect_settings().expect("settings");
    Arc::new(Client::new(config.brokers, settings))
}

/// Record `i`: key `k{i % 7}`, a 100-byte value starting with `i`.
pub fn record(i: usize) -> Record {
    let mut value = format!("{i:010}").into_bytes();
    value.resize(100, b'.');
    Record {
        key: Some(format!("k{}", i % 7).into_bytes()),
        value: Some(value),
        headers: Default::default(),
        timestamp: chrono::Utc::now(),
    }
}

/// The record numbers in `topic`/0, in log order (read with rskafka).
pub async fn logged(broker: &Broker, topic: &str) -> Vec<usize> {
    let read = read_partition(&*client(&broker.addr).await, topic, 0).await;
    read.iter()
        .map(|r| {
            let value = r.record.value.as_deref().expect("a value");
            std::str::from_utf8(&value[..10])
                .expect("digits")
                .parse()
                .expect("a number")
        })
        .collect()
}

/// Fetches from `offset` with `fetcher`, waiting up to `max_wait_ms`, while `append` runs
/// beside it: how long the fetch took, and how many records it brought.
pub async fn fetch_while(
    fetcher: &usercenter::kafka::client::PartitionFetcher,
    offset: i64,
    max_wait_ms: i32,
    append: impl std::future::Future<Output = ()>,
) -> (std::time::Duration, usize) {
    let started = std::time::Instant::now();
    let (fetched, ()) = tokio::join!(fetcher.fetch(offset, 1 << 20, max_wait_ms), append);
    (started.elapsed(), fetched.expect("fetch").records.len())
}
