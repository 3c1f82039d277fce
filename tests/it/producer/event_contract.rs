//! The event contract for other teams, read from outside by librdkafka: with
//! `[events] encoding = "json"` a consumer that knows only JSON reads every user event; the
//! consumer still reads both encodings; and what the service derives from another producer's
//! event names this instance in `ce_source` and `ce_producerid` alike.

use std::time::Duration;

use testkit::{Broker, eventually, peer, produce_events};
use usercenter::event::ContentType;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_events_reach_json_only_consumers_and_outputs_name_this_instance() {
    let broker = Broker::memory().await;
    let data = tempfile::tempdir().unwrap();
    let (service, metrics) = testkit::start_service(&broker.addr, data.path(), |cfg| {
        cfg.events.encoding = ContentType::Json;
    })
    .await;
    let ours = std::fs::read_to_string(data.path().join("producer.id")).unwrap();
    let ours = ours.trim();

    // Our own event, written in JSON ...
    let (status, body) = testkit::register(service.local_addr(), "ada", "a long password 1").await;
    assert_eq!(status, 201, "{body}");
    // ... and one from another producer (id 9), in postcard.
    produce_events(&broker.addr, 1..2).await;

    // The consumer decodes both, whatever the setting.
    eventually(Duration::from_secs(60), "both events handled", || {
        metrics.handled.get() == 2
    })
    .await;
    assert_eq!(metrics.dead_letters.get(), 0);

    // A JSON-only consumer reads our event: json.loads of the value.
    let out = peer(
        &broker.addr,
        &["consume-json", "--topic", "user.events", "--expect", "2"],
    );
    let mine: Vec<&serde_json::Value> = out["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["headers"]["ce_producerid"] == ours)
        .collect();
    assert_eq!(mine.len(), 1, "our event is JSON: {out}");
    let e = mine[0];
    assert_eq!(e["headers"]["content-type"], "application/json");
    assert_eq!(e["headers"]["ce_type"], "user.registered");
    assert_eq!(e["value"]["username"], "ada");
    assert_eq!(e["value"]["email"], "ada@example.com");

    // The welcome notifications, one derived from each event: both name this instance.
    let out = peer(
        &broker.addr,
        &[
            "consume-json",
            "--topic",
            "user.notifications",
            "--expect",
            "2",
        ],
    );
    let notes = out["events"].as_array().unwrap();
    assert_eq!(notes.len(), 2, "{out}");
    for n in notes {
        assert_eq!(n["headers"]["ce_producerid"], ours, "{n}");
        assert_eq!(
            n["headers"]["ce_source"],
            format!("/usercenter/{ours}"),
            "{n}"
        );
    }
    service.stop().await;
}
