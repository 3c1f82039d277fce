//! `usercenter serve` processes and their PostgreSQL: the database restarted under load (the
//! service answers 5xx while it is down, within a bound, loses no 2xx and recovers without a
//! restart of its own); two instances started at once on an empty database (migrations
//! applied once, both serve), and a database down when the service starts (waited for).

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use parking_lot::Mutex;
use testkit::{
    Broker,
    http::try_request,
    pg_serve::{Instance, count, records_on, seen, sql},
    postgres::Postgres,
};

/// No request may take longer, outage or not.
const BOUND: Duration = Duration::from_secs(15);

/// One registration: when it was sent and answered, its status (`None`: no answer within
/// [`BOUND`]) and the new user's id.
struct Sent {
    sent: Instant,
    answered: Instant,
    status: Option<u16>,
    id: Option<String>,
}

async fn attempt_registration(addr: std::net::SocketAddr, name: &str) -> Sent {
    let body = serde_json::json!({
        "username": name, "email": format!("{name}@example.com"), "password": "correct horse"
    })
    .to_string();
    let headers = [("Content-Type", "application/json")];
    let sent = Instant::now();
    let call = try_request(
        addr,
        "POST",
        "/api/v1/users/register",
        &headers,
        Some(body.as_bytes()),
    );
    let answer = tokio::time::timeout(BOUND, call).await.ok().flatten();
    let id = answer.as_ref().and_then(|(_, _, b)| {
        let v: serde_json::Value = serde_json::from_slice(b).ok()?;
        v["user"]["id"].as_str().map(str::to_owned)
    });
    Sent {
        sent,
        answered: Instant::now(),
        status: answer.map(|a| a.0),
        id,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_database_restarted_under_load_gives_5xx_loses_no_2xx_and_the_service_recovers() {
    let mut pg = Postgres::start().await;
    let url = pg.database().await;
    let broker = Broker::memory().await;
    let mut instance = Instance::spawn(&broker.addr, &url, "uc0");
    instance.ready().await;
    let addr = instance.addr;

    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Vec::<Sent>::new()));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (stop, log) = (Arc::clone(&stop), Arc::clone(&log));
            tokio::spawn(async move {
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let sent = attempt_registration(addr, &format!("c{c}u{i}")).await;
                    let pause = sent.status.is_some_and(|s| s >= 500);
                    log.lock().push(sent);
                    if pause {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            })
        })
        .collect();
    let ok = |log: &Mutex<Vec<Sent>>, after: Instant| {
        log.lock()
            .iter()
            .filter(|s| s.sent > after && s.status == Some(201))
            .count()
    };
    let begin = Instant::now();
    let deadline = begin + Duration::from_secs(120);
    while ok(&log, begin) < 30 {
        assert!(
            Instant::now() < deadline,
            "timed out after 120 s waiting for 30 registrations before the restart ({} answered \
             201, {} requests):\n{}",
            ok(&log, begin),
            log.lock().len(),
            instance.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pg.stop_fast();
    // Once the server is gone: a registration sent before (whose commit may have gone
    // through while PostgreSQL was still stopping) is not a request while it was down.
    let down = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let up = Instant::now();
    pg.start_again().await;
    let restarted = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    while ok(&log, restarted) < 30 {
        assert!(
            Instant::now() < deadline,
            "no recovery after the restart:\n{}",
            instance.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let recovered = log
        .lock()
        .iter()
        .filter(|s| s.sent > up && s.status == Some(201))
        .map(|s| s.answered)
        .min()
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let log = std::mem::take(&mut *log.lock());

    assert!(
        log.iter().all(|s| s.status.is_some()),
        "a request hung past {BOUND:?}"
    );
    let during: Vec<&Sent> = log
        .iter()
        .filter(|s| s.sent > down && s.answered < up)
        .collect();
    assert!(!during.is_empty(), "no request while the database was down");
    assert!(
        during.iter().all(|s| s.status.is_some_and(|st| st >= 500)),
        "while the database was down: {:?}",
        during.iter().map(|s| s.status).collect::<Vec<_>>()
    );
    let slowest = log.iter().map(|s| s.answered - s.sent).max().unwrap();

    // Every 201's user.registered reaches the topic, once.
    let db = sql(&url).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&db, "outbox").await > 0 {
        assert!(
            Instant::now() < deadline,
            "outbox not drained:\n{}",
            instance.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let created: Vec<&str> = log
        .iter()
        .filter(|s| s.status == Some(201))
        .filter_map(|s| s.id.as_deref())
        .collect();
    let (on_topic, _) = records_on(&broker.addr, "user.events", 3).await;
    let mut registered: HashMap<String, HashSet<String>> = HashMap::new();
    for e in seen(&broker.addr, "user.events", on_topic) {
        if e.ce_type == "user.registered" {
            registered.entry(e.subject).or_default().insert(e.ce_id);
        }
    }
    for id in &created {
        assert_eq!(registered.get(*id).map(HashSet::len), Some(1), "user {id}");
    }
    assert_eq!(count(&db, "users").await as usize, registered.len());
    let status = |lo: u16, hi: u16| {
        log.iter()
            .filter(|s| s.status.is_some_and(|x| (lo..=hi).contains(&x)))
            .count()
    };
    println!(
        "pg_restart: {} registrations ({} 201, {} 5xx, {} during the outage, all 5xx); \
         database down {:.1?}, first 201 {:.2?} after its start began; slowest answer {slowest:.2?}",
        log.len(),
        created.len(),
        status(500, 599),
        during.len(),
        up - down,
        recovered.saturating_duration_since(up),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_started_at_once_on_an_empty_database_migrate_once_and_both_serve() {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let broker = Broker::memory().await;
    let mut a = Instance::spawn(&broker.addr, &url, "uca");
    let mut b = Instance::spawn(&broker.addr, &url, "ucb");
    a.ready().await;
    b.ready().await;
    let db = sql(&url).await;
    let versions: Vec<i64> = db
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let every: Vec<i64> = (1..=usercenter::pgstore::migrate::LATEST).collect();
    assert_eq!(versions, every, "each migration recorded once");
    for (i, addr) in [a.addr, b.addr].into_iter().enumerate() {
        let sent = attempt_registration(addr, &format!("first{i}")).await;
        assert_eq!(sent.status, Some(201));
    }
    assert_eq!(count(&db, "users").await, 2);
}

/// A database that is down when the service starts (a failover, a database starting beside
/// it) is waited for, as Kafka is: the process neither exits nor needs a restart, and serves
/// once the database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_down_at_start_is_waited_for() {
    let mut pg = Postgres::start().await;
    let url = pg.database().await;
    pg.stop_fast();
    let broker = Broker::memory().await;
    let mut instance = Instance::spawn(&broker.addr, &url, "ucwait");
    // Several attempts' worth of being refused (500 ms, then 1 s, 2 s).
    tokio::time::sleep(Duration::from_secs(4)).await;
    pg.start_again().await;
    // Panics with its log if the process exited meanwhile.
    instance.ready().await;
    let sent = attempt_registration(instance.addr, "patient").await;
    assert_eq!(sent.status, Some(201));
    let log = instance.log();
    assert!(
        log.contains("the database cannot be reached yet"),
        "the wait is said:\n{log}"
    );
}
