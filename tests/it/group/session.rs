//! A member whose coordinator goes silent gives its partitions up when its session ends at the
//! coordinator, a session timeout after the last heartbeat it sent that was answered: not a
//! whole session timeout later, while another member may already own them.

use std::{
    sync::{Arc, atomic::Ordering::Relaxed},
    time::{Duration, Instant},
};

use testkit::{
    eventually,
    proxy::{Faults, broker_behind},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_coordinator_goes_silent_gives_its_partitions_up_within_the_session() {
    let faults = Arc::new(Faults::default());
    faults.api_key.store(-1, Relaxed);
    let (broker, _proxy) = broker_behind(Arc::clone(&faults), 7).await;
    let data = tempfile::tempdir().unwrap();
    let (service, metrics) = testkit::start_service(&broker.addr, data.path(), |cfg| {
        cfg.topics.partitions = 3;
        cfg.consumer.session_timeout_ms = 6_000;
        cfg.consumer.heartbeat_interval_ms = 2_000;
    })
    .await;
    eventually(Duration::from_secs(30), "the partitions assigned", || {
        metrics.assigned_partitions.get() == 3
    })
    .await;

    // Right after a heartbeat was answered, the broker goes on accepting every request and
    // answers none. The session ends at the coordinator 6 s after that heartbeat.
    let addr = service.local_addr();
    let before = heartbeats(addr).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while heartbeats(addr).await == before {
        assert!(Instant::now() < deadline, "no heartbeat in 10 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Its answer, on loopback.
    tokio::time::sleep(Duration::from_millis(50)).await;
    faults.black_hole.store(true, Relaxed);
    let silent = Instant::now();
    eventually(Duration::from_secs(30), "the partitions given up", || {
        metrics.assigned_partitions.get() == 0
    })
    .await;
    let gave_up = silent.elapsed();
    println!(
        "a silent coordinator: partitions given up {gave_up:.2?} after it went silent (session 6 s, heartbeat 2 s)"
    );
    // About 6 s. Counted from the next heartbeat's answer that never comes, it would be 8 s:
    // the next heartbeat 2 s on, then a session timeout waiting for its answer.
    assert!(
        gave_up <= Duration::from_millis(7_500),
        "given up {gave_up:?} after the coordinator went silent"
    );
    faults.black_hole.store(false, Relaxed);
    service.stop().await;
}

/// The heartbeats the service at `addr` has sent (`usercenter_kafka_requests_total`).
async fn heartbeats(addr: std::net::SocketAddr) -> u64 {
    let (status, text) = testkit::http::http(addr, "GET", "/metrics").await;
    assert_eq!(status, 200);
    text.lines()
        .find_map(|l| l.strip_prefix("usercenter_kafka_requests_total{api=\"Heartbeat\"} "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}
