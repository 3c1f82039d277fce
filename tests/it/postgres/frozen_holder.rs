//! Finding 6 of the integrity issue with real processes: the holder of the relay lease is
//! frozen (SIGSTOP) under load. Another instance takes the lease over within its term and
//! publishes everyone's rows; the woken holder publishes nothing more (read from the broker:
//! its producer id writes no partition after its successor's, [`super::writer_turns`]);
//! nothing is lost, no effect is applied twice, and each user's events stay in order (the
//! checks of [`super::load`]).
use std::{
    net::SocketAddr,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use testkit::{
    Broker,
    http::try_request,
    pg_serve::{Instance, count, sql},
    postgres::Postgres,
};

use super::{
    load::{Tally, lease_holder, requests_made, start_clients, verify},
    writer_turns::writer_turns,
};

/// Users; each makes four requests.
const USERS: usize = 240;
/// Clients at once.
const CLIENTS: usize = 12;

/// The records an instance's producer has had acknowledged (`usercenter_producer_records_total`).
async fn records_sent(instance: &Instance) -> u64 {
    let (status, _, body) = try_request(instance.addr, "GET", "/metrics", &[], None)
        .await
        .expect("metrics answer");
    assert_eq!(status, 200);
    let text = String::from_utf8_lossy(&body);
    text.lines()
        .find_map(|l| l.strip_prefix("usercenter_producer_records_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_frozen_relay_holder_loses_the_lease_and_publishes_nothing_after_waking() {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let db = sql(&url).await;
    let broker = Broker::memory().await;
    let mut instances: Vec<Instance> = (0..2)
        .map(|i| Instance::spawn(&broker.addr, &url, &format!("uc{i}")))
        .collect();
    for i in &mut instances {
        i.ready().await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let holder = loop {
        if let Some(h) = lease_holder(&db).await {
            break h;
        }
        assert!(Instant::now() < deadline, "nobody takes the relay lease");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let frozen = instances.iter().position(|i| i.name == holder).unwrap();
    let other = 1 - frozen;
    // All requests go to the other instance; the holder relays its rows until it freezes.
    let addrs: Arc<Vec<SocketAddr>> = Arc::new(vec![instances[other].addr]);
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let clients = start_clients(&tally, &addrs, CLIENTS, USERS);

    requests_made(&tally, USERS * 4 / 3, &clients, &instances).await;
    instances[frozen].signal("STOP");
    let stopped = Instant::now();
    let mut backlog_max = 0;
    let takeover = loop {
        backlog_max = backlog_max.max(count(&db, "outbox").await);
        if lease_holder(&db).await.is_some_and(|h| h != holder) {
            break stopped.elapsed();
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(60),
            "no takeover of the relay lease from the frozen holder"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The new holder works through the backlog while the old one is still frozen.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let backlog_after = count(&db, "outbox").await;
    instances[frozen].signal("CONT");
    // What it had in flight when it froze is acknowledged now; then nothing more.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent_after_waking = records_sent(&instances[frozen]).await;

    let mut outcomes = Vec::new();
    for c in clients {
        outcomes.extend(c.await.unwrap());
    }
    let load_time = started.elapsed();
    // Every request goes to the instance that was not frozen.
    let v = verify(&db, &broker.addr, &instances, &outcomes, started, USERS).await;
    assert_eq!(
        records_sent(&instances[frozen]).await,
        sent_after_waking,
        "the woken former holder published after losing the lease:\n{}",
        instances[frozen].log_tail()
    );
    assert_eq!(
        lease_holder(&db).await.as_deref(),
        Some(instances[other].name.as_str())
    );
    // A holder that wrote after waking, however soon, wrote behind its successor: one more
    // turn of writers in a partition than the lease changed hands.
    let written = writer_turns(&db, &broker.addr).await;

    let t = &tally;
    println!(
        "pg_frozen_holder: {} requests ({} 2xx, {} 5xx, {} unanswered) from {USERS} users in \
         {load_time:.1?}; relay lease taken over {takeover:.2?} after the SIGSTOP of {holder} \
         (outbox backlog up to {backlog_max}, {backlog_after} left 5 s later); {} events, {} \
         relayed twice, {} welcome records, {} users; drained after {:.1?}; {written}",
        t.requests.load(Ordering::Relaxed),
        t.ok.load(Ordering::Relaxed),
        t.server_error.load(Ordering::Relaxed),
        t.no_answer.load(Ordering::Relaxed),
        v.events,
        v.copies,
        v.welcome_records,
        v.users,
        v.drained,
    );
}
