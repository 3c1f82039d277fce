//! Network faults with real processes, not kills: one `usercenter serve` runs inside a network
//! namespace of the test's own ([`testkit::netns::Netns`]), another on the host, both on one
//! private PostgreSQL and one Nisshi broker. The namespace reaches the two only through links the
//! test cuts: its packets are dropped (no reset, no refusal), its connections stay open, and
//! everything on the host goes on working. All HTTP load goes to the instance on the host.
//!
//! - Cut off from PostgreSQL while it holds the relay lease: the lease expires and the
//!   instance on the host takes it over; no partition changes writer more often than the lease
//!   changed hands (read from the record batches' producer ids); the cut-off one recovers when
//!   healed.
//! - Cut off from the broker while it owns partitions: its session expires, its partitions
//!   move to the instance on the host; healed, it rejoins the group.
//!
//! Both end with the checks of [`super::load`]: every 2xx registration published once, one
//! welcome per user, each user's events in order, each event applied once (nothing lost, no
//! effect applied twice). The figures are printed, not asserted: how long the takeovers took,
//! the backlogs, and what the cut did to the other instance (its writes wait while a
//! transaction of the cut-off instance holds a lock they need: the server keeps that
//! transaction open until the connection comes back).
use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use testkit::{
    Broker,
    netns::Netns,
    pg_serve::{Instance, count, sql, unhandled, writers},
    postgres::Postgres,
};

use super::load::{
    Outcome, PARTITIONS, Tally, Verified, lease_holder, requests_made, start_clients, verify,
};

/// Users; each makes four requests. The cut comes after a quarter of the requests, and the
/// load usually goes on past the takeover.
const USERS: usize = 480;
/// Clients at once.
const CLIENTS: usize = 12;
/// How long the namespace is cut off from PostgreSQL: longer than the relay lease's term
/// (10 s), so the lease passes on while it is cut off.
const DATABASE_CUT: Duration = Duration::from_secs(15);
/// The shortest cut from the broker: longer than the session timeout (10 s) and a heartbeat
/// interval (3 s), so the coordinator drops the member while it is cut off.
const BROKER_CUT: Duration = Duration::from_secs(20);
/// The longest cut from the broker: it lasts until the cut-off member gives its partitions up
/// by itself, or this long.
const BROKER_CUT_MAX: Duration = Duration::from_secs(60);
/// The longest wait for anything the test waits for (a takeover, a rejoin, the load).
const LIMIT: Duration = Duration::from_secs(90);

/// `instances[INSIDE]` runs in the namespace, `instances[HOST]` on the host.
const INSIDE: usize = 0;
const HOST: usize = 1;

/// Partitions an instance consumes.
const ASSIGNED: &str = "usercenter_consumer_assigned_partitions";
/// The generation of an instance's consumer-group assignment.
const GENERATION: &str = "usercenter_consumer_group_generation";

/// A namespace, PostgreSQL and a broker that listen where the namespace's links lead (and on
/// the host), one database.
struct Setup {
    url: String,
    db: tokio_postgres::Client,
    /// A reader of the broker's log end offsets.
    kafka: Arc<rskafka::client::Client>,
    broker: Broker,
    pg: Postgres,
    /// Last, so it goes after the servers (the instances are dropped before all of it).
    netns: Netns,
}

async fn setup() -> Setup {
    let netns = Netns::new();
    let link = netns.database();
    let pg = Postgres::start_also_on(link.host.into(), &format!("{}/32", link.inside)).await;
    let url = pg.database().await;
    let db = sql(&url).await;
    let broker = Broker::memory_on(netns.broker().host.into()).await;
    let kafka = testkit::client(&broker.addr).await;
    Setup {
        url,
        db,
        kafka,
        broker,
        pg,
        netns,
    }
}

impl Setup {
    /// Starts the two instances as `[INSIDE, HOST]`, named `ucns` and `uchost`: the one in
    /// the namespace reaches PostgreSQL and the broker through its links. The one that
    /// `lease_inside` says starts alone and is ready and holding the relay lease before the
    /// other starts.
    async fn start_instances(&self, lease_inside: bool) -> Vec<Instance> {
        let url = self
            .pg
            .url_via(&self.url, self.netns.database().host.into());
        let inside = || Instance::spawn_in(&self.netns, &self.broker.addr, &url, "ucns");
        let host = || Instance::spawn(&self.broker.addr, &self.url, "uchost");
        let (first, second): (&dyn Fn() -> Instance, &dyn Fn() -> Instance) = if lease_inside {
            (&inside, &host)
        } else {
            (&host, &inside)
        };
        let mut first = first();
        first.ready().await;
        let deadline = Instant::now() + LIMIT;
        while lease_holder(&self.db).await.as_deref() != Some(first.name.as_str()) {
            assert!(
                Instant::now() < deadline,
                "{} does not take the relay lease within {LIMIT:?}\n{}",
                first.name,
                first.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut second = second();
        second.ready().await;
        if lease_inside {
            vec![first, second]
        } else {
            vec![second, first]
        }
    }

    /// Records of `user.events` no instance has handled yet.
    async fn unhandled(&self) -> i64 {
        unhandled(&self.db, &self.kafka, "user.events", PARTITIONS).await
    }

    /// The most records of `user.events` left unhandled over a second of load: the usual lag.
    async fn usual_lag(&self) -> i64 {
        let mut most = 0;
        for _ in 0..10 {
            most = most.max(self.unhandled().await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        most
    }
}

/// The instances' last log lines.
fn logs(instances: &[Instance]) -> String {
    instances
        .iter()
        .map(|i| format!("{}:\n{}", i.name, i.log_tail()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The HTTP load: [`CLIENTS`] clients working through [`USERS`] users against the instance on
/// the host, and the longest time they went without a 2xx answer while they ran.
struct Load {
    tally: Arc<Tally>,
    started: Instant,
    clients: Vec<tokio::task::JoinHandle<Vec<Outcome>>>,
    /// 2xx answers at the last sample, and since when.
    last: (usize, Instant),
    /// The longest time without a 2xx answer, and when it began.
    longest: (Duration, Instant),
}

impl Load {
    /// Starts the clients; returns once they have made a quarter of their requests.
    async fn start(instances: &[Instance]) -> Self {
        let addrs: Arc<Vec<SocketAddr>> = Arc::new(vec![instances[HOST].addr]);
        let tally = Arc::new(Tally::default());
        let started = Instant::now();
        let clients = start_clients(&tally, &addrs, CLIENTS, USERS);
        requests_made(&tally, USERS, &clients, instances).await;
        Self {
            tally,
            started,
            clients,
            last: (0, started),
            longest: (Duration::ZERO, started),
        }
    }

    /// Takes a sample of the answers. Once no client runs, time without answers is no stall.
    fn tick(&mut self) {
        let running = !self
            .clients
            .iter()
            .all(tokio::task::JoinHandle::is_finished);
        let (ok, now) = (self.tally.ok.load(Ordering::Relaxed), Instant::now());
        if ok != self.last.0 || !running {
            self.last = (ok, now);
        }
        if now - self.last.1 > self.longest.0 {
            self.longest = (now - self.last.1, self.last.1);
        }
    }

    /// Polls `check` every 100 ms, taking samples meanwhile, until it holds; returns how long
    /// after `since` that was. Fails after [`LIMIT`] with the logs.
    async fn until(
        &mut self,
        since: Instant,
        what: &str,
        instances: &[Instance],
        mut check: impl AsyncFnMut() -> bool,
    ) -> Duration {
        while !check().await {
            assert!(
                since.elapsed() < LIMIT,
                "timed out after {LIMIT:?} waiting for {what}\n{}",
                logs(instances)
            );
            self.pause().await;
        }
        since.elapsed()
    }

    /// Takes a sample and sleeps 100 ms.
    async fn pause(&mut self) {
        self.tick();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    /// At the heal: how long the cut made at `cut` lasted, the time, the requests made so far.
    fn healed(&self, cut: Instant) -> (Duration, Instant, usize) {
        let requests = self.tally.requests.load(Ordering::Relaxed);
        (cut.elapsed(), Instant::now(), requests)
    }

    /// Waits for the clients, taking samples; fails after [`LIMIT`] with the logs. Returns
    /// the users' outcomes and how long the load took.
    async fn finish(&mut self, instances: &[Instance]) -> (Vec<Outcome>, Duration) {
        let deadline = Instant::now() + LIMIT;
        while !self
            .clients
            .iter()
            .all(tokio::task::JoinHandle::is_finished)
        {
            assert!(
                Instant::now() < deadline,
                "the clients did not finish within {LIMIT:?} of the heal\n{}",
                logs(instances)
            );
            self.pause().await;
        }
        let mut outcomes = Vec::new();
        for c in self.clients.drain(..) {
            outcomes.extend(c.await.unwrap());
        }
        (outcomes, self.started.elapsed())
    }

    /// The requests and their answers.
    fn summary(&self) -> String {
        let t = &self.tally;
        format!(
            "{} requests ({} 2xx, {} 4xx, {} 5xx, {} unanswered) from {USERS} users",
            t.requests.load(Ordering::Relaxed),
            t.ok.load(Ordering::Relaxed),
            t.client_error.load(Ordering::Relaxed),
            t.server_error.load(Ordering::Relaxed),
            t.no_answer.load(Ordering::Relaxed),
        )
    }
}

/// What [`verify`] counted, in words.
fn summary(v: &Verified) -> String {
    format!(
        "{} events, {} relayed twice, {} welcome records, {} users; drained after {:.1?}",
        v.events, v.copies, v.welcome_records, v.users, v.drained
    )
}

/// The topics the relay writes.
const TOPICS: [&str; 3] = ["user.events", "user.notifications", "user.analytics"];

/// Who wrote the relay's topics, read from the record batches' producer ids (each instance's
/// Kafka producer has its own).
struct Writers {
    /// Records written per producer id.
    records: BTreeMap<i64, usize>,
    /// The most turns of writers in one partition (a run of batches by one producer id is a
    /// turn).
    most_turns: usize,
    /// The relay lease's epoch at the end: one more than the times it changed hands (or was
    /// taken again after it expired).
    epoch: i64,
}

/// Checks that the relays took turns: no partition of [`TOPICS`] changed writer more often
/// than the relay lease changed hands. Two relays writing at once would take turns in a
/// partition with every round; a former holder writing behind its successor, once more than
/// the lease changed hands.
async fn writer_turns(db: &tokio_postgres::Client, broker: &str) -> Writers {
    let epoch: i64 = db
        .query_one("SELECT epoch FROM relay_lease", &[])
        .await
        .unwrap()
        .get(0);
    let (mut records, mut most_turns) = (BTreeMap::new(), 0);
    for topic in TOPICS {
        for p in 0..PARTITIONS {
            let runs = writers(broker, topic, p).await;
            assert!(
                runs.len() as i64 <= epoch,
                "{topic}/{p} changed writers more often than the relay lease changed hands \
                 (epoch {epoch}): {runs:?}"
            );
            most_turns = most_turns.max(runs.len());
            for (producer, n) in runs {
                *records.entry(producer).or_default() += n;
            }
        }
    }
    Writers {
        records,
        most_turns,
        epoch,
    }
}

impl std::fmt::Display for Writers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "records written per producer id {:?}, at most {} writers in turn in a partition, \
             relay lease epoch {}",
            self.records, self.most_turns, self.epoch
        )
    }
}

/// The sessions found waiting for a lock that a session of one instance holds, over samples.
#[derive(Default)]
struct Waits {
    samples: usize,
    /// Samples that found any.
    found: usize,
    /// The most sessions of each instance waiting at once.
    most: BTreeMap<String, usize>,
    /// What the blocking sessions were doing: their state and the start of their last statement.
    holding: BTreeSet<String>,
}

impl Waits {
    /// Samples who waits for a lock a session of instance `name` holds.
    async fn sample(&mut self, db: &tokio_postgres::Client, name: &str) {
        let rows = db
            .query(
                "SELECT w.application_name, b.state || ' after ' || left(b.query, 50) \
                 FROM pg_stat_activity w \
                 JOIN pg_stat_activity b ON b.pid = ANY (pg_blocking_pids(w.pid)) \
                 WHERE b.application_name = $1",
                &[&name],
            )
            .await
            .unwrap();
        let mut waiting = BTreeMap::<String, usize>::new();
        for r in &rows {
            *waiting.entry(r.get(0)).or_default() += 1;
            self.holding
                .insert(r.get::<_, Option<String>>(1).unwrap_or_default());
        }
        for (instance, n) in waiting {
            let most = self.most.entry(instance).or_default();
            *most = (*most).max(n);
        }
        self.samples += 1;
        self.found += usize::from(!rows.is_empty());
    }
}

impl std::fmt::Display for Waits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} samples found sessions waiting for its locks (at most {:?} at once, behind \
             {:?})",
            self.found, self.samples, self.most, self.holding
        )
    }
}

/// The errors behind the 5xx answers `instance` logged ("request failed"), with their counts.
fn failures(instance: &Instance) -> BTreeMap<String, usize> {
    let mut found = BTreeMap::new();
    for line in instance.log().lines() {
        // Without the terminal colours: ESC [ ... m.
        let mut plain = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                chars.by_ref().find(|c| *c == 'm');
            } else {
                plain.push(c);
            }
        }
        if let Some((_, error)) = plain.split_once("request failed error=") {
            *found.entry(error.chars().take(120).collect()).or_default() += 1;
        }
    }
    found
}

/// The instance in the namespace holds the relay lease and is cut off from PostgreSQL for 15 s
/// under load (sent to the other instance). The lease expires and the instance on the host takes
/// it over; the cut-off one answers `/ready` again once healed. Its consumer, cut off too, keeps
/// its partitions (it still heartbeats): their records wait until the heal.
///
/// When the cut catches one of its transactions after it wrote the outbox counter, every other
/// writer waits for that row until the connection comes back, the new holder's relay among them
/// once the writers hold its whole pool; its lease may then expire and go back to the healed
/// instance. Hence the writer check counts turns against the lease's epoch instead of asserting
/// who holds it at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relay_holder_cut_off_from_postgres_loses_the_lease_and_nothing_is_lost_or_applied_twice()
{
    let s = setup().await;
    let mut instances = s.start_instances(true).await;
    let mut load = Load::start(&instances).await;
    let usual_lag = s.usual_lag().await;
    assert_eq!(
        lease_holder(&s.db).await.as_deref(),
        Some("ucns"),
        "the instance in the namespace holds the lease when it is cut off"
    );

    s.netns.cut_database();
    let cut = Instant::now();
    let (mut backlog_max, mut unhandled_max) = (0, 0);
    let mut takeover = None;
    // Whether the cut-off instance's /metrics answers (it reads the outbox backlog).
    let (mut asked, mut answered) = (0, 0);
    // The sessions waiting for a lock the cut-off instance holds (its connections are open, so
    // its transactions stay open on the server).
    let mut waits = Waits::default();
    while cut.elapsed() < DATABASE_CUT || takeover.is_none() {
        assert!(
            cut.elapsed() < LIMIT,
            "no takeover of the relay lease within {LIMIT:?} of the cut\n{}",
            logs(&instances)
        );
        backlog_max = backlog_max.max(count(&s.db, "outbox").await);
        unhandled_max = unhandled_max.max(s.unhandled().await);
        if takeover.is_none() && lease_holder(&s.db).await.as_deref() == Some("uchost") {
            takeover = Some(cut.elapsed());
        }
        waits.sample(&s.db, "ucns").await;
        if asked < 3 {
            asked += 1;
            let probe = instances[INSIDE].metric(ASSIGNED);
            if let Ok(Some(_)) = tokio::time::timeout(Duration::from_secs(1), probe).await {
                answered += 1;
            }
        }
        load.pause().await;
    }
    let takeover = takeover.unwrap();
    s.netns.heal_database();
    let (cut_for, healed, requests_at_heal) = load.healed(cut);
    instances[INSIDE].ready().await;
    let ready_again = healed.elapsed();
    // Its consumer catches up on the records its partitions got meanwhile.
    let caught_up = load
        .until(
            healed,
            "the consumers to catch up",
            &instances,
            async || s.unhandled().await <= usual_lag,
        )
        .await;

    let (outcomes, load_time) = load.finish(&instances).await;
    let v = verify(&s.db, &s.broker.addr, &instances, &outcomes, load.started).await;
    let written = writer_turns(&s.db, &s.broker.addr).await;
    let holder_at_end = lease_holder(&s.db).await.unwrap_or_default();

    let (stall, stall_from) = load.longest;
    println!(
        "pg_netns_database_cut: {} in {load_time:.1?}, {requests_at_heal} of them by the heal; \
         ucns (the relay lease holder) cut off from PostgreSQL for {cut_for:.1?}: lease taken \
         over by uchost {takeover:.2?} after the cut (outbox backlog up to {backlog_max}); \
         unhandled records of user.events up to {unhandled_max} (usually {usual_lag}), back to \
         that {caught_up:.1?} after the heal; ucns's /metrics answered {answered} of {asked} \
         times while cut off, /ready again {ready_again:.1?} after the heal; {written}, held by \
         {holder_at_end} at the end; ucns while cut off: {waits}; 5xx of uchost: {:?}; longest \
         time without a 2xx {stall:.1?}, from {:.1?} after the cut; {}",
        load.summary(),
        failures(&instances[HOST]),
        stall_from.saturating_duration_since(cut),
        summary(&v),
    );
}

/// The two instances share the consumer group; the one in the namespace is cut off from the
/// broker under load for at least 20 s (longer than its session), and until it gives its
/// partitions up by itself (at most 60 s). The coordinator drops it and its partitions move to
/// the instance on the host, which catches up on them; healed, the cut-off one rejoins the
/// group in a new generation. The instance on the host holds the relay lease throughout, so
/// publishing goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_cut_off_from_the_broker_loses_its_partitions_and_nothing_is_lost_or_applied_twice()
 {
    let s = setup().await;
    let mut instances = s.start_instances(false).await;
    let all = f64::from(PARTITIONS);
    let deadline = Instant::now() + LIMIT;
    let (owned_before, generation_before) = loop {
        let inside = instances[INSIDE].metric(ASSIGNED).await.unwrap_or(0.0);
        let host = instances[HOST].metric(ASSIGNED).await.unwrap_or(0.0);
        let generation = instances[INSIDE].metric(GENERATION).await;
        if inside > 0.0 && host > 0.0 && inside + host == all {
            break (inside, generation.expect("the generation gauge"));
        }
        assert!(
            Instant::now() < deadline,
            "the two instances do not split the {PARTITIONS} partitions ({inside} and {host})\n{}",
            logs(&instances)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut load = Load::start(&instances).await;
    let usual_lag = s.usual_lag().await;

    s.netns.cut_broker();
    let cut = Instant::now();
    // When the host owned every partition, and when the cut-off instance let its own go.
    let (mut takeover, mut gave_up): (Option<Duration>, Option<Duration>) = (None, None);
    // Records not yet handled: the most, and when it was back to the usual after the takeover.
    let (mut unhandled_max, mut caught_up): (i64, Option<Duration>) = (0, None);
    while cut.elapsed() < BROKER_CUT
        || takeover.is_none()
        || (gave_up.is_none() && cut.elapsed() < BROKER_CUT_MAX)
    {
        assert!(
            cut.elapsed() < LIMIT,
            "the instance on the host did not take every partition within {LIMIT:?} of the cut\n{}",
            logs(&instances)
        );
        if takeover.is_none() && instances[HOST].metric(ASSIGNED).await == Some(all) {
            takeover = Some(cut.elapsed());
        }
        if gave_up.is_none() && instances[INSIDE].metric(ASSIGNED).await == Some(0.0) {
            gave_up = Some(cut.elapsed());
        }
        let unhandled = s.unhandled().await;
        unhandled_max = unhandled_max.max(unhandled);
        if takeover.is_some() && caught_up.is_none() && unhandled <= usual_lag {
            caught_up = Some(cut.elapsed());
        }
        load.pause().await;
    }
    let takeover = takeover.unwrap();
    s.netns.heal_broker();
    let (cut_for, healed, requests_at_heal) = load.healed(cut);
    // Healed, it rejoins: a new generation with partitions of its own.
    let rejoined = load
        .until(
            healed,
            "the healed instance to rejoin the group",
            &instances,
            async || {
                let generation = instances[INSIDE].metric(GENERATION).await.unwrap_or(-1.0);
                let owned = instances[INSIDE].metric(ASSIGNED).await.unwrap_or(0.0);
                generation > generation_before && owned > 0.0
            },
        )
        .await;
    instances[INSIDE].ready().await;

    let (outcomes, load_time) = load.finish(&instances).await;
    let v = verify(&s.db, &s.broker.addr, &instances, &outcomes, load.started).await;
    // Not before its session can have expired: its last heartbeat came at most one interval
    // (two, on a loaded machine) before the cut.
    let config = usercenter::config::ConsumerConfig::default();
    let session = Duration::from_millis(u64::from(config.session_timeout_ms));
    let heartbeat = Duration::from_millis(u64::from(config.heartbeat_interval_ms));
    assert!(
        takeover >= session - 2 * heartbeat,
        "the host took the partitions {takeover:?} after the cut, before the cut-off member's \
         session ({session:?}, heartbeat every {heartbeat:?}) can have expired"
    );
    let written = writer_turns(&s.db, &s.broker.addr).await;
    let fenced = instances[INSIDE]
        .log()
        .matches("claimed by a newer owner")
        .count();

    let after_cut = |d: Option<Duration>| {
        d.map_or("not within the cut".to_owned(), |d| {
            format!("{d:.1?} after the cut")
        })
    };
    println!(
        "pg_netns_broker_cut: {} in {load_time:.1?}, {requests_at_heal} of them by the heal; \
         ucns (owning {owned_before} of {PARTITIONS} partitions, generation {generation_before}) \
         cut off from the broker for {cut_for:.1?}: uchost owned every partition \
         {takeover:.2?} after the cut (session timeout {session:?}); ucns gave its own up {}; \
         unhandled records of user.events up to {unhandled_max} (usually {usual_lag}), back to \
         that {}; ucns rejoined {rejoined:.1?} after the heal ({fenced} commits refused by the \
         fence); {written}; 5xx of uchost: {:?}; longest time without a 2xx {:.1?}; {}",
        load.summary(),
        after_cut(gave_up),
        after_cut(caught_up),
        failures(&instances[HOST]),
        load.longest.0,
        summary(&v),
    );
}
