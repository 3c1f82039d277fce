//! Acceptance of the PostgreSQL backend with real processes: three `usercenter serve` on one
//! private PostgreSQL and one Nisshi broker take 3,000 registrations, logins and profile
//! updates spread over them while the holder of the relay lease is SIGKILLed and later
//! restarted; then the checks of [`super::load`].
use std::{
    net::SocketAddr,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use testkit::{
    Broker,
    pg_serve::{Instance, sql},
    postgres::Postgres,
};

use super::load::{Tally, lease_holder, requests_made, start_clients, verify};

/// Users; each makes four requests (register, log in, two updates): 3,000 in all.
const USERS: usize = 750;
/// Clients at once; each works through its users one request after another.
const CLIENTS: usize = 24;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_processes_take_3000_requests_through_a_sigkill_and_apply_each_event_once() {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let db = sql(&url).await;
    let broker = Broker::memory().await;
    let mut instances: Vec<Instance> = (0..3)
        .map(|i| Instance::spawn(&broker.addr, &url, &format!("uc{i}")))
        .collect();
    for i in &mut instances {
        i.ready().await;
    }
    let addrs: Arc<Vec<SocketAddr>> = Arc::new(instances.iter().map(|i| i.addr).collect());
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let clients = start_clients(&tally, &addrs, CLIENTS, USERS);

    // A third of the way in, the lease holder dies; another instance takes the lease over.
    requests_made(&tally, USERS * 4 / 3, &clients, &instances).await;
    let holder = lease_holder(&db)
        .await
        .expect("an instance holds the relay lease");
    let victim = instances.iter().position(|i| i.name == holder).unwrap();
    instances[victim].kill();
    let killed = Instant::now();
    let takeover = loop {
        match lease_holder(&db).await {
            Some(h) if h != holder => break killed.elapsed(),
            _ => {}
        }
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "no takeover of the relay lease"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Two thirds in, it comes back.
    requests_made(&tally, USERS * 8 / 3, &clients, &instances).await;
    instances[victim].restart();
    instances[victim].ready().await;
    let mut outcomes = Vec::new();
    for c in clients {
        outcomes.extend(c.await.unwrap());
    }
    let load_time = started.elapsed();
    // A registration in flight at the SIGKILL may have committed unanswered: asked again of
    // another instance, its name is taken (409). At most one per client.
    let v = verify(
        &db,
        &broker.addr,
        &instances,
        &outcomes,
        started,
        USERS - CLIENTS,
    )
    .await;

    let t = &tally;
    println!(
        "pg_processes: {} requests ({} 2xx, {} 4xx, {} 5xx, {} unanswered) from {USERS} users \
         in {load_time:.1?}; {} registrations 2xx, {} users; \
         relay lease taken over {takeover:.2?} after the SIGKILL of {holder}; \
         {} events, {} relayed twice, {} welcome records; drained after {:.1?}",
        t.requests.load(Ordering::Relaxed),
        t.ok.load(Ordering::Relaxed),
        t.client_error.load(Ordering::Relaxed),
        t.server_error.load(Ordering::Relaxed),
        t.no_answer.load(Ordering::Relaxed),
        v.registered_2xx,
        v.users,
        v.events,
        v.copies,
        v.welcome_records,
        v.drained,
    );
}
