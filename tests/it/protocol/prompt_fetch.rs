//! A fetch lane waiting on a partition answers as soon as our own producer's records on it are
//! acknowledged (src/kafka/client/fetch_lane.rs), not when Nisshi next looks at its log.

use std::{sync::Arc, time::Duration};

use testkit::protocol::{fetch_while, kafka_client};
use testkit::{Broker, client, create_topic, record};
use usercenter::kafka::client::PartitionFetcher;
use usercenter::producer::{Producer, ProducerConfig};

const TOPIC: &str = "prompt";
/// The fetch wait: Nisshi looks at its log again only after half of it.
const WAIT_MS: i32 = 4_000;
/// When the record is appended, into the wait.
const APPEND_AFTER: Duration = Duration::from_millis(200);

/// Fetches from `offset` with [`WAIT_MS`] while `producer` appends one record after
/// [`APPEND_AFTER`]: how long the fetch took, and how many records it brought.
async fn fetch_while_appending(
    fetcher: &PartitionFetcher,
    producer: &Producer,
    offset: i64,
) -> (Duration, usize) {
    let append = async {
        tokio::time::sleep(APPEND_AFTER).await;
        producer
            .send(record(TOPIC, Some(b"k".to_vec()), b"v".to_vec()))
            .await
            .unwrap();
    };
    fetch_while(fetcher, offset, WAIT_MS, append).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_fetch_answers_when_our_own_producer_appends() {
    let broker = Broker::memory().await;
    create_topic(&*client(&broker.addr).await, TOPIC, 1).await;
    let ours = kafka_client(&broker.addr);
    let producer = testkit::producer_on(Arc::clone(&ours), ProducerConfig::default()).await;
    let fetcher = PartitionFetcher::new(Arc::clone(&ours), TOPIC, 0);
    // Connections open and the topic's leader known: a first record, read back at once.
    producer
        .send(record(TOPIC, Some(b"k".to_vec()), b"v".to_vec()))
        .await
        .unwrap();
    assert_eq!(fetcher.fetch(0, 1 << 20, 1).await.unwrap().records.len(), 1);

    let (took, records) = fetch_while_appending(&fetcher, &producer, 1).await;
    println!("our own append: the fetch took {took:?}");
    assert_eq!(records, 1);
    assert!(
        took < Duration::from_millis(1_500),
        "answered when the broker looked again ({took:?}), not on our append"
    );

    // The control: another process's producer (its own client) appends; Nisshi answers at
    // its next look, half the wait in.
    let theirs = testkit::producer(&broker.addr, ProducerConfig::default()).await;
    let (took, records) = fetch_while_appending(&fetcher, &theirs, 2).await;
    println!("another client's append: the fetch took {took:?}");
    assert_eq!(records, 1);
    assert!(
        took >= Duration::from_millis(1_500),
        "the broker answered on arrival ({took:?}): the test above shows nothing on it"
    );
}
