//! PostgreSQL over TLS, its certificate signed by a private CA (`store.tls_ca_file`).
use testkit::postgres::Postgres;
use usercenter::{
    pgstore::PgStore,
    store::{StoreExt, Table},
};

/// A server that offers TLS has its certificate checked whatever `sslmode` says: against
/// Mozilla's roots it is refused (its CA is a private one), and with `store.tls_ca_file` it is
/// trusted, the schema migrated and read over the encrypted connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_signed_by_a_private_ca_is_reached_through_store_tls_ca_file() {
    let certs = tempfile::tempdir().unwrap();
    testkit::certs::write(certs.path()).unwrap();
    let pg = Postgres::start_tls(certs.path()).await;
    let url = pg
        .database()
        .await
        .replace("sslmode=disable", "sslmode=require");
    let refused = PgStore::connect(&url, 1)
        .await
        .expect_err("refused against Mozilla's roots");
    let refused = format!("{refused:?}");
    assert!(refused.contains("UnknownIssuer"), "{refused}");
    let ca = certs.path().join("ca.pem");
    let store = PgStore::connect_trusting(&url, 1, Some(&ca))
        .await
        .unwrap_or_else(|e| panic!("{e:?}\n{}", pg.log_tail()));
    let users = tokio::task::spawn_blocking(move || store.read_with(|txn| txn.count(Table::Users)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(users, 0);
    // The operator's migration takes the same setting.
    let applied = usercenter::pgstore::migrate(&url, Some(&ca)).await.unwrap();
    assert!(applied.is_empty(), "{applied:?}");
    let without = usercenter::pgstore::migrate(&url, None).await.err();
    assert!(without.is_some(), "the CA is needed for the migration too");
}
