//! Faults from the network between the service and its broker, through the fault proxy: produce
//! responses corrupted in flight (in another pure-Rust client this made a resend that wrote
//! records twice), and a broker that accepts connections and never answers. Users register
//! and update their profile twice meanwhile; afterwards, as librdkafka reads the topics: every
//! user's events once each and in order, one welcome per user; and, once the consumer has read
//! every record, copies too, the event log says each event was applied exactly once. Each test
//! prints its figures.
use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::{Arc, atomic::Ordering::Relaxed},
    time::{Duration, Instant},
};

use serde_json::json;
use testkit::{
    Broker, api, applied_counts, config, consume, eventually,
    proxy::{Faults, Proxy, broker_behind},
    register, unhex,
};

/// Users; each registers and updates its nickname twice.
const USERS: usize = 60;
/// What each user's events must be, in log order.
const EVENTS: [&str; 3] = ["user.registered", "user.updated", "user.updated"];

/// The service on a broker behind a fault proxy (faults off until the test sets them).
async fn service_behind_proxy(
    seed: u64,
) -> (
    Broker,
    Proxy,
    tempfile::TempDir,
    usercenter::service::Running,
) {
    let faults = Arc::new(Faults::default());
    faults.api_key.store(-1, Relaxed);
    let (broker, proxy) = broker_behind(faults, seed).await;
    let data = tempfile::tempdir().unwrap();
    let mut cfg = config(&broker.addr, data.path());
    cfg.topics.partitions = 3;
    // A produce request unanswered this long counts as lost and goes out again.
    cfg.producer.request_timeout_ms = 3_000;
    cfg.consumer.fetch_max_wait_ms = 100;
    let service = usercenter::service::start(cfg).await.unwrap();
    eventually(Duration::from_secs(30), "Kafka", || service.kafka_ready()).await;
    eventually(Duration::from_secs(30), "the consumer's partitions", || {
        service
            .consumer_metrics()
            .is_some_and(|m| m.assigned_partitions.get() == 3)
    })
    .await;
    (broker, proxy, data, service)
}

/// One user's requests: register, then two nickname updates; each must be answered 2xx.
async fn user(addr: SocketAddr, n: usize) {
    let (status, body) = register(addr, &format!("user{n}"), "correct horse").await;
    assert_eq!(status, 201, "user{n}: {body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let id = body["user"]["id"].as_str().unwrap().to_owned();
    for k in 0..2 {
        let path = format!("/api/v1/users/{id}");
        let nickname = json!({"nickname": format!("nick {k}")});
        let (status, body) = api(addr, "PATCH", &path, Some(&token), Some(nickname)).await;
        assert_eq!(status, 200, "user{n}: {body}");
    }
}

/// Runs every user, four at a time.
async fn load(addr: SocketAddr) {
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..4 {
        tasks.spawn(async move {
            for n in (worker..USERS).step_by(4) {
                user(addr, n).await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

/// A record as librdkafka read it: (subject, type, id).
type Seen = (Vec<u8>, Vec<u8>, Vec<u8>);

/// Every record of `topic` as librdkafka reads it, once `missing` (how many records the test
/// still waits for) says none is missing, or two minutes passed: copies count as records, so
/// each read asks for as many more as are missing; then the whole log once more, so that a
/// late copy shows too.
fn read(broker: &str, topic: &str, missing: impl Fn(&[Seen]) -> usize) -> Vec<Seen> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut records = Vec::new();
    loop {
        let short = missing(&records);
        if short == 0 {
            break;
        }
        if Instant::now() >= deadline {
            return records;
        }
        let left = deadline
            .saturating_duration_since(Instant::now())
            .as_secs()
            .max(1);
        records = read_once(broker, topic, records.len() + short, left);
    }
    // Then the whole log, for 5 s: a late copy could be past what the reads above took, and
    // with copies in the log a read of N records takes N of more, as librdkafka interleaves
    // the partitions (another N records, another subset). A read slow to start on a busy
    // machine can come back with fewer records, or without one it needs: it is asked again.
    for _ in 0..3 {
        let again = read_once(broker, topic, records.len() + 1_000, 5);
        if again.len() >= records.len() && missing(&again) == 0 {
            return again;
        }
        println!(
            "{topic}: the read after {} records came back with {}, {} missing; asking again",
            records.len(),
            again.len(),
            missing(&again)
        );
    }
    panic!("{topic}: three reads of the whole log came back short");
}

/// One read of `topic` from the beginning, until `expect` records or `timeout_s` seconds.
fn read_once(broker: &str, topic: &str, expect: usize, timeout_s: u64) -> Vec<Seen> {
    consume(broker, topic, expect, timeout_s)
        .iter()
        .map(|r| {
            let h = |name: &str| unhex(r["headers"][name].as_str().unwrap_or(""));
            (h("ce_subject"), h("ce_type"), h("ce_id"))
        })
        .collect()
}

/// Copies: records whose id came before.
fn copies(records: &[Seen]) -> usize {
    let ids: HashSet<&Vec<u8>> = records.iter().map(|(_, _, id)| id).collect();
    records.len() - ids.len()
}

/// The users with a welcome among `notes`, with the ids of their welcomes.
fn welcomed(notes: &[Seen]) -> HashMap<&[u8], HashSet<&[u8]>> {
    let mut welcomes: HashMap<&[u8], HashSet<&[u8]>> = HashMap::new();
    for (subject, ce_type, id) in notes {
        if ce_type == b"user.notification.welcome" {
            welcomes.entry(subject).or_default().insert(id);
        }
    }
    welcomes
}

/// What [`verify`] read: the records of `user.events` (copies included), the distinct event
/// ids, and how many records of `user.events` and of `user.notifications` were copies of one
/// before (a record written twice; its effect still applies once).
struct Verified {
    events: usize,
    ids: Vec<uuid::Uuid>,
    event_copies: usize,
    note_copies: usize,
}

/// Checks every user's events (once each, in order) and welcome (once).
fn verify(broker: &str) -> Verified {
    let events = read(broker, "user.events", |read| {
        (USERS * EVENTS.len()).saturating_sub(read.len() - copies(read))
    });
    let mut seen = HashSet::new();
    let mut per_user: HashMap<Vec<u8>, Vec<Vec<u8>>> = HashMap::new();
    for (subject, ce_type, id) in &events {
        if seen.insert(id.clone()) {
            per_user
                .entry(subject.clone())
                .or_default()
                .push(ce_type.clone());
        }
    }
    assert_eq!(per_user.len(), USERS, "every user's events arrived");
    let expected: Vec<Vec<u8>> = EVENTS.iter().map(|t| t.as_bytes().to_vec()).collect();
    for (user, types) in &per_user {
        let user = String::from_utf8_lossy(user);
        assert_eq!(types, &expected, "{user}: each event once, in order");
    }
    let notes = read(broker, "user.notifications", |read| {
        USERS.saturating_sub(welcomed(read).len())
    });
    let welcomes = welcomed(&notes);
    assert_eq!(
        welcomes.len(),
        USERS,
        "a welcome for every user ({} records of user.notifications read, {} distinct ids)",
        notes.len(),
        notes.len() - copies(&notes)
    );
    assert!(
        welcomes.values().all(|ids| ids.len() == 1),
        "one welcome each"
    );
    let ids = seen
        .iter()
        .map(|id| {
            let text = String::from_utf8_lossy(id);
            uuid::Uuid::parse_str(&text)
                .unwrap_or_else(|_| panic!("a ce_id that is no UUID: {text}"))
        })
        .collect();
    Verified {
        events: events.len(),
        ids,
        event_copies: copies(&events),
        note_copies: copies(&notes),
    }
}

/// Once the consumer has taken every record `verify` read (handled, or skipped as a copy),
/// stops the service and checks its event log: each event applied exactly once. A welcome
/// applied twice has the same id as the first (it is derived from the event's), so only the
/// log shows it.
async fn applied_once(service: usercenter::service::Running, data: &std::path::Path, v: &Verified) {
    let consumer = service.consumer_metrics().expect("consumer");
    eventually(
        Duration::from_secs(60),
        "every record read by the consumer",
        || consumer.handled.get() + consumer.duplicates.get() >= v.events as u64,
    )
    .await;
    service.stop().await;
    let counts = applied_counts(data, &v.ids);
    let missing = counts.iter().filter(|n| **n == 0).count();
    let doubled = counts.iter().filter(|n| **n > 1).count();
    assert_eq!(
        (missing, doubled),
        (0, 0),
        "every event applied exactly once ({} events, {} records with copies)",
        v.ids.len(),
        v.events
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_produce_responses_lose_nothing_and_apply_nothing_twice() {
    let (broker, proxy, data, service) = service_behind_proxy(11).await;
    let f = &proxy.faults;
    f.api_key.store(testkit::proxy::PRODUCE, Relaxed);
    f.skip_frames.store(2, Relaxed);
    f.corrupt_response_ppm.store(200_000, Relaxed);
    f.enabled.store(true, Relaxed);
    let started = Instant::now();
    load(service.local_addr()).await;
    let loaded = started.elapsed();
    // The last records are published and handled with faults still on; then the reader reads.
    tokio::time::sleep(Duration::from_secs(3)).await;
    f.enabled.store(false, Relaxed);
    let v = verify(&broker.addr);
    let (event_copies, note_copies) = (v.event_copies, v.note_copies);
    let corrupted = f.corrupted.load(Relaxed);
    println!(
        "corrupt_produce: {USERS} users ({} requests) in {loaded:.1?}; {corrupted} produce \
         responses corrupted; records written twice: {event_copies} of user.events, \
         {note_copies} of user.notifications (each effect applied once)",
        USERS * 3
    );
    assert!(
        corrupted > 0,
        "no response was corrupted: the test tested nothing"
    );
    applied_once(service, data.path(), &v).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_never_answers_for_8_s_loses_nothing_and_applies_nothing_twice() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("usercenter=debug")
        .try_init();
    let (broker, proxy, data, service) = service_behind_proxy(12).await;
    let addr = service.local_addr();
    let f = Arc::clone(&proxy.faults);
    let started = Instant::now();
    let traffic = tokio::spawn(load(addr));
    // In the middle of the load: the relay and the consumer are at work.
    tokio::time::sleep(Duration::from_millis(300)).await;
    f.black_hole.store(true, Relaxed);
    tokio::time::sleep(Duration::from_secs(8)).await;
    f.black_hole.store(false, Relaxed);
    let healed = Instant::now();
    traffic.await.unwrap();
    let handled = USERS as u64 * EVENTS.len() as u64;
    let consumer = service.consumer_metrics().expect("consumer");
    eventually(Duration::from_secs(120), "every event handled", || {
        consumer.handled.get() >= handled
    })
    .await;
    let caught_up = healed.elapsed();
    let v = verify(&broker.addr);
    let (event_copies, note_copies) = (v.event_copies, v.note_copies);
    println!(
        "black_hole: {USERS} users, the broker silent for 8 s ({} frames swallowed) from 0.3 s \
         into the load; every event published and handled {caught_up:.1?} after it answered \
         again ({:.1?} from the start); records written twice: {event_copies} of \
         user.events, {note_copies} of user.notifications",
        f.swallowed.load(Relaxed),
        started.elapsed(),
    );
    assert!(
        f.swallowed.load(Relaxed) > 0,
        "the black hole swallowed nothing"
    );
    applied_once(service, data.path(), &v).await;
}

/// Two bootstrap brokers, the first a black hole (it accepts connections and never answers):
/// the start tries the second once the first's connect timeout has passed, rather than giving
/// the whole attempt no more than one connect timeout and asking the first again for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_first_bootstrap_broker_does_not_keep_the_service_from_the_second() {
    let broker = Broker::memory().await;
    let faults = Arc::new(Faults::default());
    faults.black_hole.store(true, Relaxed);
    let proxy = Proxy::start(broker.addr.clone(), Arc::clone(&faults), 5).await;
    let data = tempfile::tempdir().unwrap();
    let mut cfg = config(&broker.addr, data.path());
    cfg.kafka.brokers = vec![proxy.addr().to_owned(), broker.addr.clone()];
    cfg.kafka.connect_timeout_secs = 2;
    let started = Instant::now();
    let service = usercenter::service::start(cfg).await.unwrap();
    eventually(Duration::from_secs(30), "Kafka ready", || {
        service.kafka_ready()
    })
    .await;
    println!(
        "a silent first bootstrap broker: Kafka ready after {:.1?} (connect timeout 2 s); {} frames swallowed",
        started.elapsed(),
        faults.swallowed.load(Relaxed)
    );
    assert!(
        faults.swallowed.load(Relaxed) > 0,
        "the first broker was asked"
    );
    service.stop().await;
}
