//! The store suite (src/store/suite.rs) on the PostgreSQL backend, against a private server;
//! plus what only a shared SQL database has: the domain's rules enforced by its schema,
//! serialized retries, migrations run once by concurrent starters, the relay lease.
mod common;

use std::sync::Arc;

use common::postgres::Postgres;
use usercenter::{
    pgstore::PgStore,
    store::{Store, StoreExt, Table, suite},
};

async fn store(pg: &Postgres) -> Arc<PgStore> {
    Arc::new(PgStore::connect(&pg.database().await, 8).await.unwrap())
}

/// Runs blocking store code off the runtime's workers, as the service does.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_suite_passes_on_postgres() {
    let pg = Postgres::start().await;
    let store = store(&pg).await;
    blocking(move || suite::run_all(&*store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_outbox_writers_leave_no_gap_a_reader_could_see_filled_later() {
    let pg = Postgres::start().await;
    let store: Arc<dyn Store> = store(&pg).await;
    blocking(move || suite::counter_allocation_is_commit_order(store, 4, 40)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_once_when_instances_start_together() {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { usercenter::pgstore::migrate(&url).await.unwrap() })
        })
        .collect();
    let mut applied = Vec::new();
    for s in starts {
        applied.extend(s.await.unwrap());
    }
    let every: Vec<i64> = (1..=usercenter::pgstore::migrate::LATEST).collect();
    assert_eq!(applied, every, "each migration applied exactly once");
    let store = PgStore::connect(&url, 2).await.unwrap();
    let n = blocking(move || store.read_with(|txn| txn.count(Table::Users)).unwrap()).await;
    assert_eq!(n, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_holds_the_relay_lease_and_another_takes_over_when_it_goes() {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let a = Arc::new(PgStore::connect(&url, 2).await.unwrap());
    let b = Arc::new(PgStore::connect(&url, 2).await.unwrap());
    let (a2, b2) = (Arc::clone(&a), Arc::clone(&b));
    let (held_a, held_b) =
        blocking(move || (a2.relay_lease().unwrap(), b2.relay_lease().unwrap())).await;
    assert!(held_a && !held_b, "exactly the first asker holds it");
    let a2 = Arc::clone(&a);
    assert!(
        blocking(move || a2.relay_lease().unwrap()).await,
        "still held"
    );
    drop(a); // its lease connection closes: the server releases the lock
    let b2 = Arc::clone(&b);
    let mut taken = false;
    for _ in 0..100 {
        let b3 = Arc::clone(&b2);
        if blocking(move || b3.relay_lease().unwrap()).await {
            taken = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(taken, "the other instance takes the lease over");
}
