//! Batches of several partitions handed over at once travel in one Produce request (the produce
//! lane of the broker's connection), and each partition still gets its records in order with
//! the offsets the broker gave them.

use std::collections::HashMap;

use kafka_protocol::messages::ApiKey;
use testkit::{Broker, client, create_topic, producer, read_partition, record};
use usercenter::{
    kafka::protocol::sent,
    producer::{ProducerConfig, keyed_partition},
};

const PARTITIONS: usize = 6;
const ROUNDS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_handed_over_together_share_a_request_and_keep_their_order() {
    let broker = Broker::memory().await;
    let c = client(&broker.addr).await;
    create_topic(&c, "gathered", PARTITIONS as i32).await;
    let p = producer(&broker.addr, ProducerConfig::default()).await;
    p.prepare("gathered").await.unwrap();
    // One key per partition.
    let mut keys: HashMap<usize, Vec<u8>> = HashMap::new();
    for i in 0.. {
        let key = format!("k{i}").into_bytes();
        keys.entry(keyed_partition(&key, PARTITIONS)).or_insert(key);
        if keys.len() == PARTITIONS {
            break;
        }
    }

    // Partition p starts at offset p, so that an answer handed to the wrong partition shows.
    for (partition, key) in &keys {
        for i in 0..*partition {
            let r = record(
                "gathered",
                Some(key.clone()),
                format!("seed {i}").into_bytes(),
            );
            p.send(r).await.unwrap();
        }
    }

    let requests_before = sent(ApiKey::Produce);
    let batches_before = p.metrics().batches_sent.get();
    // Every round's record for every partition enqueued before any is awaited: each partition
    // has several batches in flight, behind one another.
    let mut waiting = Vec::new();
    for round in 0..ROUNDS {
        for (partition, key) in &keys {
            let value = format!("round {round} partition {partition}");
            let r = record("gathered", Some(key.clone()), value.clone().into_bytes());
            waiting.push((value, p.enqueue(r).await.unwrap()));
        }
    }
    let mut delivered: HashMap<i32, Vec<(i64, String)>> = HashMap::new();
    for (value, delivery) in waiting {
        let d = delivery.await.unwrap();
        delivered
            .entry(d.partition)
            .or_default()
            .push((d.offset, value));
    }
    let requests = sent(ApiKey::Produce) - requests_before;
    let batches = p.metrics().batches_sent.get() - batches_before;
    println!("{batches} batches of {PARTITIONS} partitions in {requests} Produce requests");
    assert!(
        requests < batches,
        "{batches} batches took {requests} requests: none shared one"
    );

    // On the broker: every partition holds its seeds, then its rounds in order, at the
    // offsets the producer reported for them.
    for (partition, mine) in &delivered {
        let on_broker = read_partition(&c, "gathered", *partition).await;
        let read: Vec<(i64, String)> = on_broker
            .iter()
            .map(|r| {
                let value = r.record.value.clone().unwrap_or_default();
                (r.offset, String::from_utf8(value).unwrap())
            })
            .filter(|(_, v)| v.starts_with("round "))
            .collect();
        assert_eq!(&read, mine, "partition {partition}");
        assert_eq!(read[0].0, i64::from(*partition), "partition {partition}");
        let rounds: Vec<usize> = read
            .iter()
            .map(|(_, v)| v.split(' ').nth(1).unwrap().parse().unwrap())
            .collect();
        assert_eq!(
            rounds,
            (0..ROUNDS).collect::<Vec<_>>(),
            "partition {partition}"
        );
    }
}
