//! Transactions that begin with their first statement and end without waiting for the answer
//! (src/pgstore/txn.rs): the next user of the connection gets a transaction of its own, never
//! the one left behind, whose snapshot would hide what others committed since.

use std::sync::Arc;

use super::blocking;

use testkit::postgres::Postgres;
use usercenter::{
    pgstore::PgStore,
    store::{StoreError, StoreExt, Table},
};

/// `key` as the store at `store` reads it now.
async fn read(store: &Arc<PgStore>, key: &'static [u8]) -> Option<Vec<u8>> {
    let store = Arc::clone(store);
    blocking(move || store.read_with(|txn| txn.get(Table::Meta, key)).unwrap()).await
}

/// Writes `key` through `store`.
async fn write(store: &Arc<PgStore>, key: &'static [u8]) {
    let store = Arc::clone(store);
    blocking(move || {
        store
            .write_with(|txn| txn.put(Table::Meta, key, b"v"))
            .unwrap()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_transaction_on_a_reused_connection_sees_what_others_committed_before_it() {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    // One connection: every call of `a` reuses it right after the previous one ended.
    let a = Arc::new(PgStore::connect(&url, 1).await.unwrap());
    let b = Arc::new(PgStore::connect(&url, 1).await.unwrap());

    assert_eq!(read(&a, b"after-read").await, None);
    write(&b, b"after-read").await;
    assert_eq!(
        read(&a, b"after-read").await,
        Some(b"v".to_vec()),
        "a read after a read sees what was committed between them"
    );

    // A write whose closure fails after a statement is rolled back, not left open.
    let failing = Arc::clone(&a);
    let failed = blocking(move || {
        failing.write_with(|txn| {
            txn.get(Table::Meta, b"after-failed-write")?;
            txn.put(Table::Meta, b"never", b"kept")?;
            Err::<(), _>(StoreError::NotFound("a reason to fail"))
        })
    })
    .await;
    assert!(matches!(failed, Err(StoreError::NotFound(_))), "{failed:?}");
    write(&b, b"after-failed-write").await;
    assert_eq!(
        read(&a, b"after-failed-write").await,
        Some(b"v".to_vec()),
        "a read after a failed write sees what was committed since"
    );
    assert_eq!(
        read(&a, b"never").await,
        None,
        "the failed write kept nothing"
    );

    // A committed write, whose last writes went out with its COMMIT.
    write(&a, b"committed").await;
    write(&b, b"after-commit").await;
    assert_eq!(read(&a, b"committed").await, Some(b"v".to_vec()));
    assert_eq!(
        read(&a, b"after-commit").await,
        Some(b"v".to_vec()),
        "a read after a commit sees what was committed since"
    );
}
