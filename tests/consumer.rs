//! The consumer loop in the running service, against a real broker, with librdkafka writing
//! copies, garbage and truncated envelopes from outside.
mod common;

use std::{sync::Arc, time::Duration};

use common::{
    Broker, applied_counts, client, config, event, event_record, eventually, hex, peer,
    peer_with_input, producer,
};
use usercenter::producer::ProducerConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_seen_three_times_take_effect_once() {
    let broker = Broker::memory().await;
    let data = tempfile::tempdir().unwrap();
    let service = usercenter::service::start(config(&broker.addr, data.path()))
        .await
        .unwrap();
    eventually(Duration::from_secs(30), "consumer running", || {
        service.consumer_metrics().is_some()
    })
    .await;
    let metrics = service.consumer_metrics().unwrap();

    let c = client(&broker.addr).await;
    let events: Vec<_> = (0..200).map(event).collect();
    // Our producer writes them, then again as after a crash that lost the acknowledgements.
    for _round in 0..2 {
        let p = producer(Arc::clone(&c), ProducerConfig::default());
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
    let service = usercenter::service::start(config(&broker.addr, data.path()))
        .await
        .unwrap();
    eventually(Duration::from_secs(30), "consumer running", || {
        service.consumer_metrics().is_some()
    })
    .await;
    let metrics = service.consumer_metrics().unwrap();

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
    let expect = bad.to_string();
    let dlq = peer(
        &broker.addr,
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
    let records = dlq["records"].as_array().unwrap();
    assert_eq!(records.len() as u64, bad, "{dlq}");
    for r in records {
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
