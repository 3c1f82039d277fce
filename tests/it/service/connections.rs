//! One Kafka client per process: `serve` holds at most 4 connections to a broker (produce,
//! fetch, group, admin), after start and after registrations, whatever the partition count.
use std::{net::SocketAddr, process::Stdio, time::Duration};

use testkit::{Broker, http, sockets::connections_to};

/// The value of the first sample named `name` in `/metrics`.
async fn sample(addr: SocketAddr, name: &str) -> Option<f64> {
    let (status, _, body) = http::try_request(addr, "GET", "/metrics", &[], None).await?;
    let text = String::from_utf8_lossy(&body);
    (status == 200)
        .then(|| {
            text.lines()
                .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
                .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        })
        .flatten()
}

async fn wait_for(addr: SocketAddr, what: &str, done: impl Fn(f64) -> bool, name: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !sample(addr, name).await.is_some_and(&done) {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_holds_at_most_four_connections_to_a_broker() {
    let broker = Broker::memory().await;
    let port: u16 = broker
        .addr
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], testkit::free_port()).into();
    let child = testkit::usercenter_command(&["serve", "--brokers", &broker.addr])
        .args(["--listen", &addr.to_string()])
        .arg("--data-dir")
        .arg(data.path())
        // Twelve partitions per topic: the count must not grow with them.
        .env("USERCENTER_TOPICS_PARTITIONS", "12")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Killed when the test ends, also when a wait below fails first.
    let mut child = testkit::ServeProcess::adopt(child);
    let pid = child.id();
    // Counted once the group gave the consumer every partition: the group's connection is
    // made by then, whatever the machine's load.
    wait_for(
        addr,
        "the consumer's partitions",
        |n| n == 12.0,
        "usercenter_consumer_assigned_partitions",
    )
    .await;
    let after_start = connections_to(pid, port);

    const USERS: usize = 12;
    for i in 0..USERS {
        testkit::registered(addr, &format!("conn-{i}")).await;
    }
    // Each registration is consumed (and its welcome published through the outbox).
    wait_for(
        addr,
        "the registrations consumed",
        |n| n >= USERS as f64,
        "usercenter_consumer_records_total",
    )
    .await;
    wait_for(
        addr,
        "the outbox drained",
        |n| n == 0.0,
        "usercenter_outbox_backlog",
    )
    .await;
    let after_load = connections_to(pid, port);
    println!(
        "connections to the broker: {after_start} after start, {after_load} after {USERS} registrations"
    );
    let _ = child.kill();
    let _ = child.wait();
    // After start: admin and group at least (the fetch lane's may not be made yet, nothing is
    // produced yet); after the load, each purpose has its one connection.
    assert!(
        (2..=4).contains(&after_start),
        "{after_start} connections after start"
    );
    assert_eq!(
        after_load, 4,
        "{after_load} connections after the registrations"
    );
}
