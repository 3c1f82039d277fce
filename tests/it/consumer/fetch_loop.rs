//! The consumer loop in the running service, against a real broker, with librdkafka writing
//! copies, garbage and truncated envelopes from outside.

use std::time::Duration;

use testkit::{
    Broker, applied_counts, client, config, event, event_record, eventually, hex, peer,
    peer_with_input, produce_events, producer,
};
use usercenter::producer::ProducerConfig;

/// What librdkafka reads from `user.events.dlq`, waiting up to a minute for `expect` records.
fn dead_letters(broker: &str, expect: u64) -> Vec<serde_json::Value> {
    let expect = expect.to_string();
    let out = peer(
        broker,
        &[
            "consume",
            "--topic",
            "user.events.dlq",
            "--expect",
            &expect,
            "--timeout",
            "60",
        ],
    );
    out["records"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_seen_three_times_take_effect_once() {
    let broker = Broker::memory().await;
    let data = tempfile::tempdir().unwrap();
    let (service, metrics) = testkit::start_service(&broker.addr, data.path(), |_| {}).await;

    let events: Vec<_> = (0..200).map(event).collect();
    // Our producer writes them, then again as after a crash that lost the acknowledgements.
    for _round in 0..2 {
        let p = producer(&broker.addr, ProducerConfig::default()).await;
        for e in &events {
            p.enqueue(event_record("user.events", e)).await.unwrap();
        }
        p.close(Duration::from_secs(30)).await.unwrap();
    }
    // And librdkafka copies what it finds in the topic back into it, headers and all.
    let copied = peer(
        &broker.addr,
        &[
            "copy",
            "--from",
            "user.events",
            "--to",
            "user.events",
            "--expect",
            "400",
        ],
    );
    assert_eq!(copied["copied"], 400, "{copied}");

    eventually(Duration::from_secs(60), "every copy seen", || {
        metrics.handled.get() + metrics.duplicates.get() >= 800
    })
    .await;
    assert_eq!(metrics.handled.get(), 200);
    assert_eq!(metrics.duplicates.get(), 600);
    service.stop().await;
    let ids: Vec<_> = events.iter().map(|e| e.id).collect();
    assert!(
        applied_counts(data.path(), &ids).iter().all(|n| *n == 1),
        "effects applied exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_truncated_envelopes_go_to_the_dead_letter_topic() {
    let broker = Broker::memory().await;
    let data = tempfile::tempdir().unwrap();
    let (service, metrics) = testkit::start_service(&broker.addr, data.path(), |_| {}).await;

    // Good events with bad records between them, all on one key (one partition, in order).
    let mut lines = Vec::new();
    let (mut good, mut bad) = (Vec::new(), 0);
    for i in 0..30u64 {
        let mut e = event(1_000 + i);
        e.user_id = uuid::Uuid::from_u128(7);
        let rec = e.encode(usercenter::event::ContentType::Postcard).unwrap();
        let headers = |h: &usercenter::event::Headers| {
            h.iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::from(hex(v))))
                .collect::<serde_json::Map<_, _>>()
        };
        let line = |value: &[u8], h: serde_json::Map<String, serde_json::Value>| {
            serde_json::json!({"key": hex(&rec.key), "value": hex(value), "headers": h}).to_string()
        };
        match i % 3 {
            0 => {
                lines.push(line(&rec.value, headers(&rec.headers)));
                good.push(e.id);
            }
            1 => {
                lines.push(line(b"\x00\xffnot an event", serde_json::Map::new()));
                bad += 1;
            }
            _ => {
                // A real envelope's headers with its value cut short (and its own dedupe key).
                let mut h = rec.headers.clone();
                h.insert("ce_sequence".into(), format!("{}", 90_000 + i).into_bytes());
                lines.push(line(&rec.value[..rec.value.len() / 2], headers(&h)));
                bad += 1;
            }
        }
    }
    let out = peer_with_input(
        &broker.addr,
        &["produce-raw", "--topic", "user.events"],
        &lines.join("\n"),
    );
    assert_eq!(out["delivered"].as_array().unwrap().len(), 30, "{out}");

    eventually(
        Duration::from_secs(60),
        "all records handled or dead-lettered",
        || metrics.handled.get() + metrics.dead_letters.get() >= 30,
    )
    .await;
    assert_eq!(metrics.handled.get(), good.len() as u64);
    assert_eq!(metrics.dead_letters.get(), bad);
    let records = dead_letters(&broker.addr, bad);
    assert_eq!(records.len() as u64, bad, "{records:?}");
    for r in &records {
        for h in [
            "dlq_error",
            "dlq_source_topic",
            "dlq_source_partition",
            "dlq_source_offset",
        ] {
            assert!(r["headers"][h].is_string(), "{h} missing: {r}");
        }
    }
    service.stop().await;
    assert!(applied_counts(data.path(), &good).iter().all(|n| *n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offset_past_the_log_resets_to_earliest_with_a_metric() {
    use usercenter::store::{RedbStore, Store, Table};
    let broker = Broker::memory().await;
    let data = tempfile::tempdir().unwrap();
    let c = client(&broker.addr).await;
    testkit::create_topic(&c, "user.events", 1).await;
    produce_events(&broker.addr, 0..20).await;
    // A stored offset far past the log, as after retention removed records or a topic reset.
    {
        let store = RedbStore::open(data.path()).unwrap();
        store
            .write(&mut |txn| {
                usercenter::store::put(txn, Table::Offsets, b"user.events/0", &1_000_000i64)
            })
            .unwrap();
    }
    let (service, metrics) = testkit::start_service(&broker.addr, data.path(), |_| {}).await;
    // Nisshi answers an offset past the log with nothing, not OFFSET_OUT_OF_RANGE: the reset
    // comes after 45 s of such answers (longer than a new Kafka leader's high watermark may
    // lag), so this test waits that long.
    eventually(Duration::from_secs(90), "the records from earliest", || {
        metrics.handled.get() == 20
    })
    .await;
    assert_eq!(metrics.offset_resets.get(), 1);
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_policy_latest_skips_what_came_before() {
    let broker = Broker::memory().await;
    let data = tempfile::tempdir().unwrap();
    let c = client(&broker.addr).await;
    testkit::create_topic(&c, "user.events", 1).await;
    let p = producer(&broker.addr, ProducerConfig::default()).await;
    for e in (0..10).map(event) {
        p.enqueue(event_record("user.events", &e)).await.unwrap();
    }
    p.flush().await;
    let (service, metrics) = testkit::start_service(&broker.addr, data.path(), |cfg| {
        cfg.consumer.start = usercenter::consumer::StartPolicy::Latest;
    })
    .await;
    eventually(Duration::from_secs(30), "partition started", || {
        !metrics.lag().is_empty()
    })
    .await;
    for e in (100..105).map(event) {
        p.enqueue(event_record("user.events", &e)).await.unwrap();
    }
    p.close(Duration::from_secs(30)).await.unwrap();
    eventually(Duration::from_secs(30), "the new records", || {
        metrics.handled.get() == 5
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(metrics.handled.get(), 5, "nothing from before the start");
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_split_the_partitions() {
    let broker = Broker::memory().await;
    let (d0, d1) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut services = Vec::new();
    for (instance, dir) in [(0, &d0), (1, &d1)] {
        let mut cfg = config(&broker.addr, dir.path());
        cfg.topics.partitions = 4;
        cfg.consumer.instance = instance;
        cfg.consumer.instances = 2;
        services.push(usercenter::service::start(cfg).await.unwrap());
    }
    for s in &services {
        eventually(Duration::from_secs(30), "consumer running", || {
            s.consumer_metrics().is_some()
        })
        .await;
    }
    produce_events(&broker.addr, 0..400).await;
    let (m0, m1) = (
        services[0].consumer_metrics().unwrap(),
        services[1].consumer_metrics().unwrap(),
    );
    eventually(Duration::from_secs(60), "all 400 handled", || {
        m0.handled.get() + m1.handled.get() == 400
    })
    .await;
    let owned0: Vec<i32> = m0.lag().keys().copied().collect();
    let owned1: Vec<i32> = m1.lag().keys().copied().collect();
    assert_eq!((owned0, owned1), (vec![0, 2], vec![1, 3]));
    assert!(m0.handled.get() > 0 && m1.handled.get() > 0);
    for m in [&m0, &m1] {
        assert_eq!(
            m.assigned_partitions.get(),
            2,
            "two partitions each, on /metrics too"
        );
        assert_eq!(m.generation.get(), -1, "no group in static mode");
    }
    for s in services {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_with_half_an_identity_reaches_the_dead_letter_topic() {
    let broker = Broker::memory().await;
    let data = tempfile::tempdir().unwrap();
    let (service, metrics) = testkit::start_service(&broker.addr, data.path(), |_| {}).await;
    // Only `ce_producerid`: the dead letter keeps the record's headers, and was once parked in
    // the store because the producer refuses half an identity.
    let line = serde_json::json!({
        "key": hex(b"k"),
        "value": hex(b"not an event"),
        "headers": {"ce_producerid": hex(b"12345")},
    })
    .to_string();
    let out = peer_with_input(
        &broker.addr,
        &["produce-raw", "--topic", "user.events"],
        &line,
    );
    assert_eq!(out["delivered"].as_array().unwrap().len(), 1, "{out}");
    eventually(Duration::from_secs(60), "the record dead-lettered", || {
        metrics.dead_letters.get() == 1
    })
    .await;
    let records = dead_letters(&broker.addr, 1);
    assert_eq!(records.len(), 1, "{records:?}");
    service.stop().await;
    // It is a record of ours: the service's producer id and a sequence of its counter.
    let ours = std::fs::read_to_string(data.path().join("producer.id")).unwrap();
    let headers = &records[0]["headers"];
    assert_eq!(
        testkit::unhex(headers["ce_producerid"].as_str().unwrap()),
        ours.trim().as_bytes()
    );
    assert!(headers["ce_sequence"].is_string(), "{headers}");
}
