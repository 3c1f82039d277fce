//! A partition claimed in the store by an owner the group no longer knows: a frozen instance
//! that woke up and claimed the partition before its heartbeat told it that it had lost it.
//! The group's owner, fenced by that claim, claims the partition back after three session
//! timeouts and handles what came since, instead of leaving it unconsumed for as long as the
//! group keeps it there. In static mode, where no group decides, the newer claim wins.

use std::{sync::Arc, time::Duration};

use testkit::{Broker, eventually, group, postgres::Postgres, produce_events};
use usercenter::{
    config::{Config, StoreBackend},
    consumer::{ConsumerMetrics, fence},
    pgstore::PgStore,
    service::Running,
    store::StoreExt,
};

use super::blocking;

/// A broker, a private PostgreSQL and one service on them. Dropped in field order: the service,
/// the broker, the data directory, then PostgreSQL.
struct OnPostgres {
    service: Running,
    metrics: Arc<ConsumerMetrics>,
    broker: Broker,
    url: String,
    _dir: tempfile::TempDir,
    _pg: Postgres,
}

impl OnPostgres {
    /// Starts them, the service's `[consumer]` set by `consumer`.
    async fn start(consumer: impl FnOnce(&mut Config)) -> Self {
        let pg = Postgres::start().await;
        let url = pg.database().await;
        let broker = Broker::memory().await;
        let dir = tempfile::tempdir().unwrap();
        let (service, metrics) = testkit::start_service(&broker.addr, dir.path(), |cfg| {
            cfg.store.backend = StoreBackend::Postgres;
            cfg.store.url = url.clone();
            cfg.store.pool_size = 4;
            consumer(cfg);
        })
        .await;
        Self {
            service,
            metrics,
            broker,
            url,
            _dir: dir,
            _pg: pg,
        }
    }

    /// Claims `partitions` of `user.events` in the store as another owner would, with newer
    /// tokens than the service's own.
    async fn claim_elsewhere(&self, partitions: Vec<i32>) {
        let store = Arc::new(PgStore::connect(&self.url, 2).await.unwrap());
        blocking(move || {
            for p in partitions {
                store
                    .write_with(|txn| fence::claim(txn, "user.events", p, 1_000))
                    .unwrap();
            }
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_claimed_by_a_stale_owner_is_claimed_back() {
    let on = OnPostgres::start(|cfg| {
        cfg.consumer.session_timeout_ms = 2_000;
        cfg.consumer.heartbeat_interval_ms = 500;
        cfg.consumer.auto_commit_interval_ms = 200;
    })
    .await;
    let metrics = &on.metrics;
    produce_events(&on.broker.addr, 0..30).await;
    // Handled, and each assigned partition read to the end (its lag series set after its
    // batch, so that the claims below cover every one).
    eventually(Duration::from_secs(60), "the first events handled", || {
        let lag = metrics.lag();
        let assigned = usize::try_from(metrics.assigned_partitions.get()).unwrap_or(0);
        metrics.handled.get() >= 30
            && assigned > 0
            && lag.len() == assigned
            && lag.values().all(|l| *l == 0)
    })
    .await;
    let assigned = metrics.assigned_partitions.get();
    on.claim_elsewhere(group::owned(metrics).into_iter().collect())
        .await;

    // The instance's next batches are fenced: it consumes nothing, as its gauge says; after
    // 6 s it claims its partitions back. Every partition gets some of events 30..60 (30 user
    // ids over the topic's 3 partitions), so every task meets the claim.
    produce_events(&on.broker.addr, 30..60).await;
    eventually(Duration::from_secs(60), "the fenced tasks ended", || {
        metrics.assigned_partitions.get() == 0
    })
    .await;
    eventually(
        Duration::from_secs(60),
        "the events after the stale claims handled",
        || metrics.handled.get() >= 60,
    )
    .await;
    assert_eq!(metrics.handled.get(), 60, "each event handled once");
    assert_eq!(metrics.assigned_partitions.get(), assigned, "claimed back");
    on.service.stop().await;
}

/// Static mode: a partition another owner claimed (two instances given one
/// `consumer.instance`) is not claimed back, and leaves the instance's assigned-partitions
/// gauge while its other partitions go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_partition_claimed_by_another_owner_leaves_the_gauge() {
    let on = OnPostgres::start(|cfg| {
        cfg.consumer.instances = 2;
        cfg.consumer.instance = 0;
        cfg.consumer.metadata_refresh_secs = 1;
    })
    .await;
    let metrics = &on.metrics;
    produce_events(&on.broker.addr, 0..40).await;
    let caught_up = |partitions: &[i32]| {
        let lag = metrics.lag();
        partitions.iter().all(|p| lag.get(p) == Some(&0))
    };
    eventually(
        Duration::from_secs(60),
        "both partitions read to the end",
        || {
            group::owned(metrics) == [0, 2].into()
                && caught_up(&[0, 2])
                && metrics.assigned_partitions.get() == 2
        },
    )
    .await;

    on.claim_elsewhere(vec![0]).await;
    let before = metrics.handled.get();
    produce_events(&on.broker.addr, 40..80).await;
    eventually(Duration::from_secs(60), "partition 0 given up", || {
        metrics.assigned_partitions.get() == 1 && group::owned(metrics) == [2].into()
    })
    .await;
    // Partition 2 goes on: it handles the events after the claim that it holds.
    eventually(Duration::from_secs(60), "partition 2 handled on", || {
        metrics.handled.get() > before && caught_up(&[2])
    })
    .await;
    // Two listings of the topic later, the partition has no task again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(metrics.assigned_partitions.get(), 1, "not started again");
    assert_eq!(group::owned(metrics), [2].into());
    on.service.stop().await;
}
