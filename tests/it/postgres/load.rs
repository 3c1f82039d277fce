//! The load and the checks of the multi-process PostgreSQL tests: users who register, log in
//! and update their profile through several `serve` processes, retried at the next instance on
//! no answer or a 5xx; then, as librdkafka reads the topics, every 2xx'd registration has
//! exactly one `user.registered`, every user exactly one welcome, each user's events are in the
//! order the requests were answered, and the event log says each event was applied once.
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
    http::try_request,
    pg_serve::{Instance, Seen, count, records_on, seen},
};

/// Partitions of the service's topics in these tests.
pub(super) const PARTITIONS: i32 = 3;

/// What the clients saw.
#[derive(Default)]
pub(super) struct Tally {
    pub requests: AtomicUsize,
    pub ok: AtomicUsize,
    pub client_error: AtomicUsize,
    pub server_error: AtomicUsize,
    pub no_answer: AtomicUsize,
}

/// One user's run: its id and the events its requests should have caused, in order, each
/// with whether the request was answered 2xx (false: no answer or 5xx, so it may or may not
/// have happened).
pub(super) struct Outcome {
    pub id: Option<String>,
    pub registered: bool,
    pub events: Vec<(&'static str, bool)>,
}

/// A JSON request to `addrs[first]`, again at the next instance when there is no answer or a
/// 5xx; returns each attempt's status (`None`: no answer) and the last body.
pub(super) async fn call(
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

pub(super) async fn user(tally: &Tally, addrs: &[SocketAddr], n: usize) -> Outcome {
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

/// Which instance holds the relay lease (its `application_name`), if any: the live session
/// named in the unexpired `relay_lease` row.
pub(super) async fn lease_holder(sql: &tokio_postgres::Client) -> Option<String> {
    sql.query_opt(
        "SELECT a.application_name FROM relay_lease l JOIN pg_stat_activity a \
           ON a.pid = l.backend_pid WHERE l.expires_at > clock_timestamp()",
        &[],
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
pub(super) async fn requests_made<T>(
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

/// `clients` tasks working through `users` users against `addrs`; each returns its users'
/// outcomes.
pub(super) fn start_clients(
    tally: &Arc<Tally>,
    addrs: &Arc<Vec<SocketAddr>>,
    clients: usize,
    users: usize,
) -> Vec<tokio::task::JoinHandle<Vec<Outcome>>> {
    (0..clients)
        .map(|c| {
            let (tally, addrs) = (Arc::clone(tally), Arc::clone(addrs));
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                for n in (c..users).step_by(clients) {
                    outcomes.push(user(&tally, &addrs, n).await);
                }
                outcomes
            })
        })
        .collect()
}

/// What [`verify`] counted.
pub(super) struct Verified {
    /// Registrations answered 2xx.
    pub registered_2xx: usize,
    /// Users in the database.
    pub users: usize,
    /// Distinct events on `user.events`.
    pub events: usize,
    /// Records of `user.events` that were a copy of one before (a row relayed twice).
    pub copies: usize,
    /// Welcome records on `user.notifications` (copies included).
    pub welcome_records: usize,
    /// When everything was relayed and handled, from the start of the load.
    pub drained: Duration,
}

/// Waits until everything is relayed and handled, then checks the topics and the event log
/// against what the clients saw (see the module docs).
pub(super) async fn verify(
    db: &tokio_postgres::Client,
    broker: &str,
    instances: &[Instance],
    outcomes: &[Outcome],
    started: Instant,
    registered_at_least: usize,
) -> Verified {
    // Everything relayed and handled: every event on the topic is in the event log.
    let deadline = Instant::now() + Duration::from_secs(60);
    let events_on_topic = loop {
        let (on_topic, distinct) = records_on(broker, "user.events", PARTITIONS).await;
        let (applied, outbox) = (count(db, "event_log").await, count(db, "outbox").await);
        if outbox == 0 && applied as usize == distinct {
            // Handling may have added notifications to the outbox since: wait for it again.
            if count(db, "outbox").await == 0 {
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

    let events = seen(broker, "user.events", events_on_topic);
    assert_eq!(events.len(), events_on_topic);
    let mut per_user: HashMap<&str, Vec<&Seen>> = HashMap::new();
    for e in &events {
        per_user.entry(e.subject.as_str()).or_default().push(e);
    }
    let mut copies = 0;
    for o in outcomes {
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
    // A request without an answer or with a 5xx goes to the next instance, so the service as a
    // whole answers nearly every one: a test names how many registrations must succeed.
    let registered_2xx = outcomes.iter().filter(|o| o.registered).count();
    assert!(
        registered_2xx >= registered_at_least.max(1),
        "{registered_2xx} of {} registrations were answered 2xx, fewer than {registered_at_least}",
        outcomes.len()
    );
    let users_in_db = count(db, "users").await as usize;
    assert!(users_in_db >= registered_2xx);
    assert_eq!(
        per_user.len(),
        users_in_db,
        "every user in the database has events, no stranger"
    );

    // One welcome notification per user, librdkafka reading.
    let (on_topic, _) = records_on(broker, "user.notifications", PARTITIONS).await;
    let notes = seen(broker, "user.notifications", on_topic);
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

    Verified {
        registered_2xx,
        users: users_in_db,
        events: distinct_events.len(),
        copies,
        welcome_records,
        drained,
    }
}
