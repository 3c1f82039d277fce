//! A write the driver refuses before sending it (src/pgstore/pipeline.rs): tokio-postgres
//! checks each parameter against the type the server gave the statement's placeholder and
//! fails a wrong one on the client, without writing anything. The writes and `COMMIT` that
//! were to follow it in the same round trip must not go out either: otherwise the server runs
//! `BEGIN; w1; w3; COMMIT` and commits the transaction without `w2` while the store reports
//! that it failed.

use std::sync::Arc;

use super::blocking;

use testkit::{pg_serve::sql, postgres::Postgres};
use usercenter::{
    pgstore::PgStore,
    store::{StoreError, StoreExt, Table},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_refused_on_the_client_leaves_the_whole_transaction_uncommitted() {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let store = Arc::new(PgStore::connect(&url, 1).await.unwrap());
    // The store binds `applied` as a bigint (i64); an `integer` column refuses that type, so
    // the driver fails the write before sending it.
    let db = sql(&url).await;
    db.batch_execute("ALTER TABLE event_log ALTER COLUMN applied TYPE integer")
        .await
        .unwrap();

    let s = Arc::clone(&store);
    let written = blocking(move || {
        s.write_with(|txn| {
            txn.put(Table::Meta, b"before", b"v")?;
            txn.put(
                Table::EventLog,
                b"event",
                &postcard::to_allocvec(&1_u32).unwrap(),
            )?;
            txn.put(Table::Meta, b"after", b"v")
        })
    })
    .await;
    assert!(
        matches!(written, Err(StoreError::Postgres(_))),
        "the refused write fails the transaction: {written:?}"
    );

    let rows: i64 = db
        .query_one(
            "SELECT (SELECT count(*) FROM meta WHERE name IN ('before', 'after')) \
                  + (SELECT count(*) FROM event_log)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        rows, 0,
        "a transaction reported failed committed some of its writes"
    );

    // The connection is left in no transaction: its next user commits normally.
    let s = Arc::clone(&store);
    blocking(move || s.write_with(|txn| txn.put(Table::Meta, b"next", b"v")))
        .await
        .unwrap();
    let s = Arc::clone(&store);
    let next = blocking(move || s.read_with(|txn| txn.get(Table::Meta, b"next"))).await;
    assert_eq!(next.unwrap(), Some(b"v".to_vec()));
}
