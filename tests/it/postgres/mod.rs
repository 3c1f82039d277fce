//! The PostgreSQL backend on a private cluster: the store, users, several instances, restarts,
//! killed and frozen processes, processes cut off by network faults, a member whose rebalance
//! round outlives its session, and identifiers that need quoting, and TLS with a private CA; an
//! outbox row whose columns do not read as a record.
mod append_news;
mod frozen_holder;
mod lease_handover;
mod lease_round_trips;
mod load;
mod multi_instance;
mod names;
mod netns;
mod parked;
mod pipelined;
mod processes;
mod refused_parameter;
mod restart;
mod sequences;
mod snapshot_batches;
mod stale_claim;
mod store;
mod stuck_round;
mod tls;
mod unreadable_row;
mod users;
mod writer_turns;

/// The migrations as released: version, name, SQL.
const RELEASED: &[(i64, &str, &str)] = &[
    (
        1,
        "schema",
        include_str!("../../../migrations/0001_schema.sql"),
    ),
    (
        2,
        "name_keys",
        include_str!("../../../migrations/0002_name_keys.sql"),
    ),
    (
        3,
        "high_waters",
        include_str!("../../../migrations/0003_high_waters.sql"),
    ),
    (
        4,
        "relay_lease",
        include_str!("../../../migrations/0004_relay_lease.sql"),
    ),
    (
        5,
        "outbox_notify",
        include_str!("../../../migrations/0005_outbox_notify.sql"),
    ),
];

/// A store on a new database of `pg`'s cluster, with a pool of 8 connections.
async fn pg_store(
    pg: &testkit::postgres::Postgres,
) -> std::sync::Arc<usercenter::pgstore::PgStore> {
    std::sync::Arc::new(
        usercenter::pgstore::PgStore::connect(&pg.database().await, 8)
            .await
            .unwrap(),
    )
}

/// Runs blocking store code off the runtime's workers, as the service does.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// `store`'s relay lease check, off the runtime's workers: the lease when it holds it.
async fn lease(
    store: &std::sync::Arc<usercenter::pgstore::PgStore>,
) -> Option<usercenter::store::RelayLease> {
    use usercenter::store::Store;
    let store = std::sync::Arc::clone(store);
    blocking(move || store.relay_lease().unwrap()).await
}

/// Brings an empty database to schema `version` as the binary of that version left it: the
/// SQL of migrations 1 to `version` and their rows in `schema_migrations` (without the Rust
/// steps that follow some of them, which a test of that step runs by migrating further).
async fn schema_at(db: &tokio_postgres::Client, version: i64) {
    db.batch_execute(
        "CREATE TABLE schema_migrations (version bigint PRIMARY KEY, name text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await
    .unwrap();
    for (v, name, sql) in RELEASED.iter().filter(|(v, ..)| *v <= version) {
        db.batch_execute(sql).await.unwrap();
        db.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[v, name],
        )
        .await
        .unwrap();
    }
}
