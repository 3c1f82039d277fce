//! The store suite (src/store/suite.rs) on the PostgreSQL backend, against a private server;
//! plus what only a shared SQL database has: the domain's rules enforced by its schema,
//! serialized retries, migrations run once by concurrent starters, the relay lease.

use std::sync::Arc;

use testkit::{pg_serve::sql, postgres::Postgres};
use usercenter::{
    consumer::process::HighWater,
    pgstore::PgStore,
    store::{Store, StoreExt, Table, get, suite},
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

/// A database at version 2 kept the consumer's high waters as `meta` rows named
/// `offsets/h/<topic>/<partition>/<producer>`; migration 3 moves them into
/// `consumer_high_waters` (values unchanged), leaves a row it cannot read in `meta`, and
/// touches no other `meta` row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_3_moves_the_high_waters_out_of_meta() {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let db = sql(&url).await;
    for v in [
        include_str!("../../../migrations/0001_schema.sql"),
        include_str!("../../../migrations/0002_name_keys.sql"),
    ] {
        db.batch_execute(v).await.unwrap();
    }
    db.batch_execute(
        "CREATE TABLE schema_migrations (version bigint PRIMARY KEY, name text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now());
         INSERT INTO schema_migrations (version, name) VALUES (1, 'schema'), (2, 'name_keys')",
    )
    .await
    .unwrap();
    let high = HighWater {
        seen_ms: 1_700_000_000_000,
        sequence: 9,
    };
    let rows: [(&[u8], Vec<u8>); 3] = [
        (
            b"offsets/h/user.events/4/77",
            postcard::to_allocvec(&high).unwrap(),
        ),
        (b"offsets/h/not-a-high-water", vec![1]),
        (b"outbox/sequence", 5u64.to_be_bytes().to_vec()),
    ];
    for (name, value) in &rows {
        db.execute(
            "INSERT INTO meta (name, value) VALUES ($1, $2)",
            &[name, value],
        )
        .await
        .unwrap();
    }

    let store = PgStore::connect(&url, 2).await.unwrap(); // applies migration 3
    let moved = blocking(move || {
        store
            .read_with(|txn| get::<HighWater>(txn, Table::HighWaters, b"user.events/4/77"))
            .unwrap()
    })
    .await;
    assert_eq!(moved, Some(high));
    let left: Vec<Vec<u8>> = db
        .query("SELECT name FROM meta ORDER BY name", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        left,
        [
            b"offsets/h/not-a-high-water".to_vec(),
            b"outbox/sequence".to_vec()
        ]
    );
    let producer: i64 = db
        .query_one("SELECT producer FROM consumer_high_waters", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(producer, 77, "a typed column");
}
