//! A partition claimed in the store by an owner the group no longer knows: a frozen instance
//! that woke up and claimed the partition before its heartbeat told it that it had lost it.
//! The group's owner, fenced by that claim, claims the partition back after three session
//! timeouts and handles what came since, instead of leaving it unconsumed for as long as the
//! group keeps it there.

use std::{sync::Arc, time::Duration};

use testkit::{Broker, eventually, group, postgres::Postgres};
use usercenter::{config::StoreBackend, consumer::fence, pgstore::PgStore, store::StoreExt};

use super::blocking;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_claimed_by_a_stale_owner_is_claimed_back() {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let broker = Broker::memory().await;
    let dir = tempfile::tempdir().unwrap();
    let (service, metrics) = testkit::start_service(&broker.addr, dir.path(), |cfg| {
        cfg.store.backend = StoreBackend::Postgres;
        cfg.store.url = url.clone();
        cfg.store.pool_size = 4;
        cfg.consumer.session_timeout_ms = 2_000;
        cfg.consumer.heartbeat_interval_ms = 500;
        cfg.consumer.auto_commit_interval_ms = 200;
    })
    .await;
    group::produce(&broker.addr, 0..30).await;
    eventually(Duration::from_secs(60), "the first events handled", || {
        metrics.handled.get() >= 30
    })
    .await;
    let owned = group::owned(&metrics);
    assert!(!owned.is_empty(), "the instance owns partitions");

    // The stale owner's claims: newer tokens than the instance's own.
    let store = Arc::new(PgStore::connect(&url, 2).await.unwrap());
    blocking(move || {
        for p in owned {
            store
                .write_with(|txn| fence::claim(txn, "user.events", p, 1_000))
                .unwrap();
        }
    })
    .await;

    // The instance's next batches are fenced; after 6 s it claims its partitions back.
    group::produce(&broker.addr, 30..60).await;
    eventually(
        Duration::from_secs(60),
        "the events after the stale claims handled",
        || metrics.handled.get() >= 60,
    )
    .await;
    assert_eq!(metrics.handled.get(), 60, "each event handled once");
    service.stop().await;
}
