//! The producer against a real broker, checked from outside by librdkafka.

use std::{collections::HashMap, time::Duration};

use testkit::{Broker, client, create_topic, peer, producer, read_partition, record, unhex};
use usercenter::producer::{Codec, ProduceError, ProducerConfig, keyed_partition};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_murmur2_and_ours_agree_on_1000_keys() {
    let broker = Broker::memory().await;
    let c = client(&broker.addr).await;
    create_topic(&c, "keys", 7).await;
    let out = peer(
        &broker.addr,
        &[
            "produce",
            "--topic",
            "keys",
            "--count",
            "1000",
            "--key-prefix",
            "user-",
        ],
    );
    let delivered = out["delivered"].as_array().unwrap();
    assert_eq!(delivered.len(), 1000, "{}", out["errors"]);
    for d in delivered {
        let key = d["key"].as_str().unwrap();
        assert_eq!(
            d["partition"].as_u64().unwrap() as usize,
            keyed_partition(key.as_bytes(), 7),
            "key {key}"
        );
    }
    // And our producer puts the same keys on the same partitions.
    let p = producer(&broker.addr, ProducerConfig::default()).await;
    for i in (0..1000).step_by(97) {
        let key = format!("user-{i}");
        let d = p
            .send(record(
                "keys",
                Some(key.clone().into_bytes()),
                b"v".to_vec(),
            ))
            .await
            .unwrap();
        let theirs = delivered.iter().find(|d| d["key"] == key.as_str()).unwrap();
        assert_eq!(
            i64::from(d.partition),
            theirs["partition"].as_i64().unwrap()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_codec_round_trips_with_librdkafka_both_ways() {
    let broker = Broker::memory().await;
    let c = client(&broker.addr).await;
    for (codec, name) in [
        (Codec::None, "none"),
        (Codec::Snappy, "snappy"),
        (Codec::Gzip, "gzip"),
        (Codec::Lz4, "lz4"),
        (Codec::Zstd, "zstd"),
    ] {
        // Ours, read by librdkafka.
        let ours = format!("ours-{name}");
        create_topic(&c, &ours, 2).await;
        let config = ProducerConfig {
            compression: codec,
            ..Default::default()
        };
        let p = producer(&broker.addr, config).await;
        let mut sent = HashMap::new();
        for i in 0..50 {
            let mut r = record(
                &ours,
                Some(format!("k{i}").into_bytes()),
                format!("value {i} {name}").repeat(5).into_bytes(),
            );
            r.headers.insert("x-test".into(), name.as_bytes().to_vec());
            p.enqueue(r.clone()).await.unwrap();
            sent.insert(r.key.clone().unwrap(), r.value);
        }
        p.close(Duration::from_secs(30)).await.unwrap();
        let out = peer(
            &broker.addr,
            &[
                "consume",
                "--topic",
                &ours,
                "--expect",
                "50",
                "--timeout",
                "30",
            ],
        );
        let records = out["records"].as_array().unwrap();
        assert_eq!(
            records.len(),
            50,
            "{name}: librdkafka read {}",
            records.len()
        );
        for r in records {
            let key = unhex(r["key"].as_str().unwrap());
            assert_eq!(unhex(r["value"].as_str().unwrap()), sent[&key], "{name}");
            assert_eq!(
                unhex(r["headers"]["x-test"].as_str().unwrap()),
                name.as_bytes()
            );
            for h in ["ce_producerid", "ce_sequence", "ce_id"] {
                assert!(r["headers"][h].is_string(), "{name}: {h} missing");
            }
        }

        // librdkafka's, read by us.
        let theirs = format!("theirs-{name}");
        create_topic(&c, &theirs, 1).await;
        let out = peer(
            &broker.addr,
            &[
                "produce",
                "--topic",
                &theirs,
                "--count",
                "50",
                "--codec",
                name,
                "--value-size",
                "300",
            ],
        );
        assert_eq!(
            out["delivered"].as_array().unwrap().len(),
            50,
            "{name}: {}",
            out["errors"]
        );
        let read = read_partition(&c, &theirs, 0).await;
        assert_eq!(read.len(), 50, "{name}");
        for (i, r) in read.iter().enumerate() {
            let value = String::from_utf8(r.record.value.clone().unwrap()).unwrap();
            assert!(value.starts_with(&format!("value-{i}-")), "{name}: {value}");
            assert_eq!(value.len(), 300);
            assert_eq!(r.record.headers["peer"], b"librdkafka");
        }
    }
}

/// Incompressible bytes, so batch sizes on the wire are what we computed.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_at_the_size_limit_are_accepted_and_oversized_ones_split() {
    let broker = Broker::memory().await;
    let c = client(&broker.addr).await;
    create_topic(&c, "big", 1).await;
    // Default limits: batches close just under max.message.bytes; none may be refused.
    // A long linger, so that batches close on size alone.
    let config = ProducerConfig {
        compression: Codec::None,
        linger_ms: 2_000,
        ..Default::default()
    };
    let p = producer(&broker.addr, config).await;
    let mut futures = Vec::new();
    for i in 0..3_000 {
        futures.push(
            p.enqueue(record("big", None, noise(i, 1024)))
                .await
                .unwrap(),
        );
    }
    for f in futures {
        f.await.unwrap();
    }
    let batches = p.metrics().batches_sent.get();
    assert!(
        (3..=4).contains(&batches),
        "{batches} batches: full ones, each under the limit"
    );
    assert_eq!(
        p.metrics().splits.get(),
        0,
        "no batch over the broker's limit"
    );

    // A producer told the limit is 4 MiB builds batches the broker refuses: they are split
    // and every record still lands, in order.
    let config = ProducerConfig {
        compression: Codec::None,
        batch_max_bytes: 3 << 20,
        max_message_bytes: 4 << 20,
        linger_ms: 2_000,
        ..Default::default()
    };
    let p = producer(&broker.addr, config).await;
    let mut futures = Vec::new();
    for i in 0..3_000u64 {
        let mut value = noise(i + 10_000, 1024);
        value[..8].copy_from_slice(&i.to_be_bytes());
        futures.push(p.enqueue(record("big", None, value)).await.unwrap());
    }
    // The rest goes out at once, behind the first 3 MiB batch and before its refusal comes
    // back: the writer aborts it with that batch, and it is sent again after the pieces.
    p.send_buffered();
    for f in futures {
        f.await.unwrap();
    }
    assert!(
        p.metrics().splits.get() >= 1,
        "the broker refused the 3 MiB batches"
    );
    let read = read_partition(&c, "big", 0).await;
    assert_eq!(read.len(), 6_000);
    let order: Vec<u64> = read[3_000..]
        .iter()
        .map(|r| u64::from_be_bytes(r.record.value.as_ref().unwrap()[..8].try_into().unwrap()))
        .collect();
    assert_eq!(order, (0..3_000).collect::<Vec<_>>());

    // One record over the limit alone fails with a clear error.
    let err = p
        .send(record("big", None, vec![0; 5 << 20]))
        .await
        .unwrap_err();
    assert!(matches!(err, ProduceError::RecordTooLarge { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_five_second_outage_loses_nothing_and_keeps_order_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::sqlite(&dir.path().join("broker.db")).await;
    let c = client(&broker.addr).await;
    create_topic(&c, "outage", 3).await;
    let p = producer(&broker.addr, ProducerConfig::default()).await;

    let keys = 20;
    let mut futures = Vec::new();
    for i in 0..3_000u32 {
        if i == 1_000 {
            broker.stop();
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        if i == 2_000 {
            broker.restart().await;
        }
        let key = format!("user-{}", i % keys);
        let r = record("outage", Some(key.into_bytes()), i.to_be_bytes().to_vec());
        futures.push(p.enqueue(r).await.unwrap());
    }
    for f in futures {
        f.await.expect("delivered after the broker came back");
    }
    let mut per_key: HashMap<Vec<u8>, Vec<u32>> = HashMap::new();
    for partition in 0..3 {
        for r in read_partition(&c, "outage", partition).await {
            let v = u32::from_be_bytes(r.record.value.unwrap()[..4].try_into().unwrap());
            per_key.entry(r.record.key.unwrap()).or_default().push(v);
        }
    }
    let mut total = 0;
    for (key, mut values) in per_key {
        // Retries may repeat a batch whose acknowledgement was lost; order is what matters.
        values.dedup();
        assert!(
            values.windows(2).all(|w| w[0] < w[1]),
            "order broken for {key:?}"
        );
        total += values.len();
    }
    assert_eq!(total, 3_000, "every record present");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_shorter_than_the_outage_is_a_timeout_not_a_hang() {
    let mut broker = Broker::memory().await;
    let c = client(&broker.addr).await;
    create_topic(&c, "down", 1).await;
    let config = ProducerConfig {
        delivery_timeout_ms: 2_000,
        request_timeout_ms: 500,
        ..Default::default()
    };
    let p = producer(&broker.addr, config).await;
    p.send(record("down", None, b"before".to_vec()))
        .await
        .unwrap();
    broker.stop();
    let started = std::time::Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        p.send(record("down", None, b"during".to_vec())),
    )
    .await
    .expect("send returned");
    assert!(
        matches!(result, Err(ProduceError::Timeout { .. })),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
