//! A fetch lane waiting on a partition answers as soon as our own producer's records on it are
//! acknowledged (src/kafka/client/fetch_lane.rs), not when Nisshi next looks at its log.

use std::{sync::Arc, time::Duration};

use testkit::protocol::{fetch_while, kafka_client};
use testkit::{Broker, client, create_topic, record};
use usercenter::kafka::client::PartitionFetcher;
use usercenter::producer::{Producer, ProducerConfig};

const TOPIC: &str = "prompt";
/// The fetch wait: Nisshi looks at its log again only after half of it.
const WAIT_MS: i32 = 16_000;
/// An answer on the append comes within this, with room for a loaded machine; Nisshi's own
/// look, half the wait in (8 s), comes as long again after it.
const PROMPT: Duration = Duration::from_secs(4);
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
        took < PROMPT,
        "answered when the broker looked again ({took:?}), not on our append"
    );

    // The control: another process's producer (its own client) appends; Nisshi answers at
    // its next look, half the wait in.
    let theirs = testkit::producer(&broker.addr, ProducerConfig::default()).await;
    let (took, records) = fetch_while_appending(&fetcher, &theirs, 2).await;
    println!("another client's append: the fetch took {took:?}");
    assert_eq!(records, 1);
    assert!(
        took >= PROMPT,
        "the broker answered on arrival ({took:?}): the test above shows nothing on it"
    );
}

/// A key that the producer sends to `partition` of a topic of `partitions`.
fn key_for(partition: usize, partitions: usize) -> Vec<u8> {
    (0..)
        .map(|i| format!("k{i}").into_bytes())
        .find(|k| usercenter::producer::keyed_partition(k, partitions) == partition)
        .unwrap()
}

/// A partition that asks while the lane's Fetch waits for others goes in the next Fetch. When
/// it was appended to, before it asked again or after, it is fetched at once instead of after
/// the others' wait (what held a consumer's batch back by up to a fetch wait after a rebalance of
/// the partitions' asks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_that_asks_while_the_lane_waits_gets_its_append_at_once() {
    const TOPIC: &str = "prompt3";
    let broker = Broker::memory().await;
    create_topic(&*client(&broker.addr).await, TOPIC, 3).await;
    let ours = kafka_client(&broker.addr);
    let producer = testkit::producer_on(Arc::clone(&ours), ProducerConfig::default()).await;
    let fetcher = |p| PartitionFetcher::new(Arc::clone(&ours), TOPIC, p);
    let send = |p: usize| producer.send(record(TOPIC, Some(key_for(p, 3)), b"v".to_vec()));
    // Connections open and the leader known.
    send(0).await.unwrap();
    assert_eq!(
        fetcher(0).fetch(0, 1 << 20, 1).await.unwrap().records.len(),
        1
    );

    // Partitions 1 and 2 asked before, as a consumer's partitions ask again after each answer
    // (the lane keeps appends only for partitions it was asked for).
    for p in [1, 2] {
        let fetched = fetcher(p).fetch(0, 1 << 20, 1).await.unwrap();
        assert!(fetched.records.is_empty());
    }

    // Partition 0 keeps the lane's Fetch waiting for the whole test.
    let waiting = fetcher(0);
    let lane_busy = tokio::spawn(async move { waiting.fetch(1, 1 << 20, WAIT_MS).await });
    tokio::time::sleep(APPEND_AFTER).await;

    // Appended to before it asks.
    send(1).await.unwrap();
    let started = std::time::Instant::now();
    let fetched = fetcher(1).fetch(0, 1 << 20, WAIT_MS).await.unwrap();
    let took = started.elapsed();
    println!("appended, then asked: the fetch took {took:?}");
    assert_eq!(fetched.records.len(), 1);
    assert!(took < PROMPT, "waited for the lane's Fetch: {took:?}");

    // Asks, then is appended to.
    let append = async {
        tokio::time::sleep(APPEND_AFTER).await;
        send(2).await.unwrap();
    };
    let (took, records) = fetch_while(&fetcher(2), 0, WAIT_MS, append).await;
    println!("asked, then appended: the fetch took {took:?}");
    assert_eq!(records, 1);
    assert!(
        took < APPEND_AFTER + PROMPT,
        "waited for the lane's Fetch: {took:?}"
    );
    assert!(
        !lane_busy.is_finished(),
        "the lane's Fetch ended early: the test shows nothing"
    );
    lane_busy.abort();
}
