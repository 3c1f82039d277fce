//! SIGKILL in the middle of consuming 10,000 events, restart, and every event's effect is
//! there exactly once: offsets, effects and dedupe marks commit together.

use std::{net::SocketAddr, process::Command, time::Duration};

use testkit::{Broker, applied_counts, event, event_record, http, producer};
use usercenter::producer::ProducerConfig;

const EVENTS: u64 = 10_000;

fn metric(text: &str, prefix: &str) -> Vec<i64> {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect()
}

async fn metrics(addr: SocketAddr) -> Option<String> {
    let connect = tokio::net::TcpStream::connect(addr).await;
    if connect.is_err() {
        return None;
    }
    let (status, body) = http(addr, "GET", "/metrics").await;
    (status == 200).then_some(body)
}

/// Polls `/metrics` until `done` holds.
async fn wait_for(addr: SocketAddr, what: &str, done: impl Fn(&str) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(text) = metrics(addr).await
            && done(&text)
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_then_restart_applies_every_effect_exactly_once() {
    let broker = Broker::memory().await;
    let data = tempfile::tempdir().unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], testkit::free_port()).into();

    let mut first = testkit::serve_process(&broker.addr, addr, data.path(), "warn");
    wait_for(addr, "the consumer", |m| {
        m.contains("usercenter_consumer_records_total")
    })
    .await;

    // Events keep arriving (100 every 20 ms) while the service is killed and restarted.
    let events: Vec<_> = (0..EVENTS).map(event).collect();
    let stream = {
        let events = events.clone();
        let p = producer(&broker.addr, ProducerConfig::default()).await;
        tokio::spawn(async move {
            for chunk in events.chunks(100) {
                for e in chunk {
                    p.enqueue(event_record("user.events", e)).await.unwrap();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            p.close(Duration::from_secs(60)).await.unwrap();
        })
    };

    let mut handled_before_kill = 0;
    wait_for(addr, "a good part handled", |m| {
        metric(m, "usercenter_consumer_records_total ")
            .first()
            .is_some_and(|n| *n >= 3_000)
    })
    .await;
    if let Some(text) = metrics(addr).await {
        handled_before_kill = metric(&text, "usercenter_consumer_records_total ")
            .first()
            .copied()
            .unwrap_or(0);
    }
    first.kill().unwrap(); // SIGKILL, in the middle of the stream
    first.wait().unwrap();
    assert!(
        (3_000..EVENTS as i64).contains(&handled_before_kill),
        "killed mid-stream, after {handled_before_kill} events"
    );
    stream.await.unwrap();

    let mut second = testkit::serve_process(&broker.addr, addr, data.path(), "warn");
    wait_for(addr, "no lag on any partition", |m| {
        let lag = metric(m, "usercenter_consumer_lag{");
        lag.len() == 3 && lag.iter().all(|l| *l == 0)
    })
    .await;
    let term = Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = second.wait().unwrap();
    assert!(status.success(), "clean exit after SIGTERM: {status}");

    let ids: Vec<_> = events.iter().map(|e| e.id).collect();
    let counts = applied_counts(data.path(), &ids);
    let missing = counts.iter().filter(|n| **n == 0).count();
    let doubled = counts.iter().filter(|n| **n > 1).count();
    assert_eq!((missing, doubled), (0, 0), "every effect exactly once");
}
