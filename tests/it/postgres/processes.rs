//! Acceptance of the PostgreSQL backend with real processes: three `usercenter serve` on one
//! private PostgreSQL and one Nisshi broker take 3,000 registrations, logins and profile
//! updates spread over them while the holder of the relay lease is SIGKILLed and later
//! restarted. Afterwards, as librdkafka reads the topics: every 2xx'd registration has exactly
//! one `user.registered`, every user exactly one welcome notification, each user's events are
//! in the order the requests were answered, and the event log says every event's effects were
//! applied once.

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use testkit::{
    Broker,
    http::try_request,
    pg_serve::{Instance, Seen, count, records_on, seen, sql},
    postgres::Postgres,
};

/// Users; each makes four requests (register, log in, two updates): 3,000 in all.
const USERS: usize = 750;
/// Clients at once; each works through its users one request after another.
const CLIENTS: usize = 24;
/// The relay lease's advisory lock key (src/pgstore/lease.rs: "relayout").
const RELAY_LOCK: i64 = 0x7265_6c61_796f_7574;
const PARTITIONS: i32 = 3;

/// What the clients saw.
#[derive(Default)]
struct Tally {
    requests: AtomicUsize,
    ok: AtomicUsize,
    client_error: AtomicUsize,
    server_error: AtomicUsize,
    no_answer: AtomicUsize,
}

/// One user's run: its id and the events its requests should have caused, in order, each
/// with whether the request was answered 2xx (false: no answer or 5xx, so it may or may not
/// have happened).
struct Outcome {
    id: Option<String>,
    registered: bool,
    events: Vec<(&'static str, bool)>,
}

/// A JSON request to `addrs[first]`, again at the next instance when there is no answer or a
/// 5xx; returns each attempt's status (`None`: no answer) and the last body.
async fn call(
    tally: &Tally,
    addrs: &[SocketAddr],
    first: usize,
    (method, path): (&str, &str),
    token: Option<&str>,
    body: Option<Value>,
) -> (Vec<Option<u16>>, Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    let bytes = body.map(|b| b.to_string().into_bytes());
    let mut attempts = Vec::new();
    for addr in addrs.iter().cycle().skip(first).take(2) {
        tally.requests.fetch_add(1, Ordering::Relaxed);
        let answer = tokio::time::timeout(
            Duration::from_secs(30),
            try_request(*addr, method, path, &headers, bytes.as_deref()),
        )
        .await
        .ok()
        .flatten();
        let Some((status, _, body)) = answer else {
            tally.no_answer.fetch_add(1, Ordering::Relaxed);
            attempts.push(None);
            continue;
        };
        attempts.push(Some(status));
        let counter = match status {
            200..=299 => &tally.ok,
            400..=499 => &tally.client_error,
            _ => &tally.server_error,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if status < 500 {
            return (
                attempts,
                serde_json::from_slice(&body).unwrap_or(Value::Null),
            );
        }
    }
    (attempts, Value::Null)
}

/// Records the events of one call's attempts: uncertain for each failed one, certain for a 2xx.
fn note(events: &mut Vec<(&'static str, bool)>, event: &'static str, attempts: &[Option<u16>]) {
    for a in attempts {
        match a {
            Some(200..=299) => events.push((event, true)),
            Some(400..=499) => {}
            _ => events.push((event, false)),
        }
    }
}

async fn user(tally: &Tally, addrs: &[SocketAddr], n: usize) -> Outcome {
    let name = format!("user{n}");
    let password = "correct horse";
    let mut events = Vec::new();
    let register = ("POST", "/api/v1/users/register");
    let body =
        json!({"username": name, "email": format!("{name}@example.com"), "password": password});
    let (attempts, reg) = call(tally, addrs, n, register, None, Some(body)).await;
    note(&mut events, "user.registered", &attempts);
    let registered = attempts.contains(&Some(201));
    let login = ("POST", "/api/v1/users/login");
    let credentials = json!({"username": name, "password": password});
    let (attempts, session) = call(tally, addrs, n + 1, login, None, Some(credentials)).await;
    note(&mut events, "user.logged_in", &attempts);
    let token = session["token"]
        .as_str()
        .or(reg["token"].as_str())
        .map(str::to_owned);
    let mut id = reg["user"]["id"].as_str().map(str::to_owned);
    if let (None, Some(token)) = (&id, &token) {
        // Registered by an attempt whose answer was lost: ask who we are.
        let me = ("GET", "/api/v1/users/me");
        let (_, body) = call(tally, addrs, n, me, Some(token), None).await;
        id = body["id"].as_str().map(str::to_owned);
    }
    if let (Some(id), Some(token)) = (&id, &token) {
        let path = format!("/api/v1/users/{id}");
        for k in 0..2 {
            let body = json!({"nickname": format!("nick {k}")});
            let update = ("PATCH", path.as_str());
            let (attempts, _) =
                call(tally, addrs, n + 2 + k, update, Some(token), Some(body)).await;
            note(&mut events, "user.updated", &attempts);
        }
    }
    Outcome {
        id,
        registered,
        events,
    }
}

/// Which instance holds the relay lease (its `application_name`), if any.
async fn lease_holder(sql: &tokio_postgres::Client) -> Option<String> {
    sql.query_opt(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted \
           AND ((l.classid::bigint << 32) | l.objid::bigint) = $1",
        &[&RELAY_LOCK],
    )
    .await
    .unwrap()
    .map(|r| r.get(0))
}

/// Whether `got` (one user's event types in log order) is `expected` with any of the
/// uncertain ones left out.
fn in_order(got: &[&str], expected: &[(&str, bool)]) -> bool {
    match expected.split_first() {
        None => got.is_empty(),
        Some(((event, certain), rest)) => {
            (got.first() == Some(event) && in_order(&got[1..], rest))
                || (!certain && in_order(got, rest))
        }
    }
}

/// Waits until the clients have made `at_least` requests. Fails the test when that has not
/// happened within 4 minutes (a hang: only a stalled load takes that long), or as soon as every
/// client has ended without it (a client panicked, or the users made fewer requests than the
/// test counts on).
async fn requests_made<T>(
    tally: &Tally,
    at_least: usize,
    clients: &[tokio::task::JoinHandle<T>],
    instances: &[Instance],
) {
    let within = Duration::from_secs(240);
    let deadline = Instant::now() + within;
    loop {
        let made = tally.requests.load(Ordering::Relaxed);
        if made >= at_least {
            return;
        }
        let ended = clients.iter().all(tokio::task::JoinHandle::is_finished);
        if ended || Instant::now() > deadline {
            let logs: Vec<String> = instances
                .iter()
                .map(|i| format!("{}:\n{}", i.name, i.log_tail()))
                .collect();
            panic!(
                "{}: {made} of the {at_least} requests waited for ({} 2xx, {} 4xx, {} 5xx, {} \
                 unanswered)\n{}",
                if ended {
                    "every client ended first".to_owned()
                } else {
                    format!("timed out after {within:?}")
                },
                tally.ok.load(Ordering::Relaxed),
                tally.client_error.load(Ordering::Relaxed),
                tally.server_error.load(Ordering::Relaxed),
                tally.no_answer.load(Ordering::Relaxed),
                logs.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

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
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (tally, addrs) = (Arc::clone(&tally), Arc::clone(&addrs));
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                for n in (c..USERS).step_by(CLIENTS) {
                    outcomes.push(user(&tally, &addrs, n).await);
                }
                outcomes
            })
        })
        .collect();

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

    // Everything relayed and handled: every event on the topic is in the event log.
    let deadline = Instant::now() + Duration::from_secs(60);
    let events_on_topic = loop {
        let (on_topic, distinct) = records_on(&broker.addr, "user.events", PARTITIONS).await;
        let (applied, outbox) = (count(&db, "event_log").await, count(&db, "outbox").await);
        if outbox == 0 && applied as usize == distinct {
            // Handling may have added notifications to the outbox since: wait for it again.
            if count(&db, "outbox").await == 0 {
                break on_topic;
            }
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = instances
                .iter()
                .map(|i| format!("{}:\n{}", i.name, i.log_tail()))
                .collect();
            panic!(
                "not drained: {on_topic} events, {applied} applied, {outbox} in the outbox\n{}",
                logs.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let drained = started.elapsed();

    let events = seen(&broker.addr, "user.events", events_on_topic);
    assert_eq!(events.len(), events_on_topic);
    let mut per_user: HashMap<&str, Vec<&Seen>> = HashMap::new();
    for e in &events {
        per_user.entry(e.subject.as_str()).or_default().push(e);
    }
    let mut copies = 0;
    for o in &outcomes {
        let Some(id) = &o.id else {
            assert!(!o.registered, "a 201 without an id");
            continue;
        };
        let mine = per_user
            .get(id.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        // Copies of one record (same ce_id: a row relayed again after the kill) are one event.
        let mut ids = HashSet::new();
        let distinct: Vec<&str> = mine
            .iter()
            .filter(|e| ids.insert(e.ce_id.as_str()))
            .map(|e| e.ce_type.as_str())
            .collect();
        copies += mine.len() - distinct.len();
        let registered = distinct.iter().filter(|t| **t == "user.registered").count();
        assert_eq!(registered, 1, "user {id}: {distinct:?}");
        assert!(
            in_order(&distinct, &o.events),
            "user {id}: {distinct:?} for {:?}",
            o.events
        );
    }
    let registered_2xx = outcomes.iter().filter(|o| o.registered).count();
    let users_in_db = count(&db, "users").await as usize;
    assert!(users_in_db >= registered_2xx);
    assert_eq!(
        per_user.len(),
        users_in_db,
        "every user in the database has events, no stranger"
    );

    // One welcome notification per user, librdkafka reading.
    let (on_topic, _) = records_on(&broker.addr, "user.notifications", PARTITIONS).await;
    let notes = seen(&broker.addr, "user.notifications", on_topic);
    let mut welcome: HashMap<&str, HashSet<&str>> = HashMap::new();
    let mut welcome_records = 0;
    for n in notes
        .iter()
        .filter(|n| n.ce_type == "user.notification.welcome")
    {
        welcome_records += 1;
        welcome
            .entry(n.subject.as_str())
            .or_default()
            .insert(n.ce_id.as_str());
    }
    assert_eq!(welcome.len(), users_in_db, "a welcome for every user");
    assert!(
        welcome.values().all(|ids| ids.len() == 1),
        "one welcome each"
    );

    // The event log: each event on the topic applied exactly once.
    let distinct_events: HashSet<uuid::Uuid> =
        events.iter().map(|e| e.ce_id.parse().unwrap()).collect();
    let logged: Vec<(uuid::Uuid, i64)> = db
        .query("SELECT event_id, applied FROM event_log", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (uuid::Uuid::from_slice(r.get(0)).unwrap(), r.get(1)))
        .collect();
    assert!(
        logged.iter().all(|(_, n)| *n == 1),
        "an effect applied twice"
    );
    let logged: HashSet<uuid::Uuid> = logged.into_iter().map(|(id, _)| id).collect();
    assert_eq!(
        logged, distinct_events,
        "the event log is the topic's events"
    );

    let t = &tally;
    println!(
        "pg_processes: {} requests ({} 2xx, {} 4xx, {} 5xx, {} unanswered) from {USERS} users \
         in {load_time:.1?}; {registered_2xx} registrations 2xx, {users_in_db} users; \
         relay lease taken over {takeover:.2?} after the SIGKILL of {holder}; \
         {} events, {copies} relayed twice, {welcome_records} welcome records; drained after {drained:.1?}",
        t.requests.load(Ordering::Relaxed),
        t.ok.load(Ordering::Relaxed),
        t.client_error.load(Ordering::Relaxed),
        t.server_error.load(Ordering::Relaxed),
        t.no_answer.load(Ordering::Relaxed),
        distinct_events.len(),
    );
}
