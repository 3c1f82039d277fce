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
    pg_serve::{Instance, count, sql, unhandled},
    postgres::Postgres,
};

use super::load::{
    Outcome, PARTITIONS, Tally, Verified, lease_holder, requests_made, start_clients, verify,
};

/// Users; each makes four requests. The cut comes after a quarter of the requests, and the
/// load usually goes on past the takeover.
pub(super) const USERS: usize = 480;
/// Clients at once.
pub(super) const CLIENTS: usize = 12;
/// How long the namespace is cut off from PostgreSQL: longer than the relay lease's term
/// (10 s), so the lease passes on while it is cut off.
pub(super) const DATABASE_CUT: Duration = Duration::from_secs(15);
/// The shortest cut from the broker: longer than the session timeout (10 s) and a heartbeat
/// interval (3 s), so the coordinator drops the member while it is cut off.
pub(super) const BROKER_CUT: Duration = Duration::from_secs(20);
/// The longest cut from the broker: it lasts until the cut-off member gives its partitions up
/// by itself, or this long.
pub(super) const BROKER_CUT_MAX: Duration = Duration::from_secs(60);
/// The longest wait for anything the test waits for (a takeover, a rejoin, the load).
pub(super) const LIMIT: Duration = Duration::from_secs(90);

/// `instances[INSIDE]` runs in the namespace, `instances[HOST]` on the host.
pub(super) const INSIDE: usize = 0;
pub(super) const HOST: usize = 1;

/// Partitions an instance consumes.
pub(super) const ASSIGNED: &str = "usercenter_consumer_assigned_partitions";
/// The generation of an instance's consumer-group assignment.
pub(super) const GENERATION: &str = "usercenter_consumer_group_generation";

/// A namespace, PostgreSQL and a broker that listen where the namespace's links lead (and on
/// the host), one database.
pub(super) struct Setup {
    pub(super) url: String,
    pub(super) db: tokio_postgres::Client,
    /// A reader of the broker's log end offsets.
    pub(super) kafka: Arc<rskafka::client::Client>,
    pub(super) broker: Broker,
    pub(super) pg: Postgres,
    /// Last, so it goes after the servers (the instances are dropped before all of it).
    pub(super) netns: Netns,
}

pub(super) async fn setup() -> Setup {
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
    pub(super) async fn start_instances(&self, lease_inside: bool) -> Vec<Instance> {
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
    pub(super) async fn unhandled(&self) -> i64 {
        unhandled(&self.db, &self.kafka, "user.events", PARTITIONS).await
    }

    /// The most records of `user.events` left unhandled over a second of load: the usual lag.
    pub(super) async fn usual_lag(&self) -> i64 {
        let mut most = 0;
        for _ in 0..10 {
            most = most.max(self.unhandled().await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        most
    }
}

/// The instances' last log lines.
pub(super) fn logs(instances: &[Instance]) -> String {
    instances
        .iter()
        .map(|i| format!("{}:\n{}", i.name, i.log_tail()))
        .collect::<Vec<_>>()
        .join("\n")
}

mod broker_cut;
mod database_cut;
mod observe;
mod traffic;

use observe::{Waits, failures};

use super::writer_turns::writer_turns;
use traffic::{Load, summary};
