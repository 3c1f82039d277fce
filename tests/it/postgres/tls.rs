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

/// `store.tls_ca_file` makes TLS required: a server that declines it (here one without TLS,
/// as a machine in the middle would answer) is refused, where the URL's default
/// `sslmode=prefer` would go on in plain text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_file_makes_tls_required() {
    let certs = tempfile::tempdir().unwrap();
    testkit::certs::write(certs.path()).unwrap();
    let ca = certs.path().join("ca.pem");
    let pg = Postgres::start().await;
    let disabled = pg.database().await;
    let url = disabled
        .replace("?sslmode=disable&", "?")
        .replace("?sslmode=disable", "")
        .replace("&sslmode=disable", "");
    assert!(!url.contains("sslmode"), "{url}");
    // Without the CA file the URL's default, prefer, goes on in plain text.
    drop(PgStore::connect(&url, 1).await.unwrap());
    let refused = PgStore::connect_trusting(&url, 1, Some(&ca))
        .await
        .expect_err("a server without TLS refused when a CA file is set");
    let refused = format!("{refused:?}");
    assert!(refused.contains("TLS"), "{refused}");
    // An explicit sslmode=disable still reaches it (with a WARN that the file does nothing).
    drop(
        PgStore::connect_trusting(&disabled, 1, Some(&ca))
            .await
            .unwrap(),
    );
}
