//! The outbox and event counters as PostgreSQL sequences (src/pgstore/sequences.rs): writers
//! that append at once do not conflict over them, and migration 6 continues them where the
//! `meta` counter rows of schema 5 left off.

use std::sync::Arc;

use super::{blocking, pg_store};

use testkit::{pg_serve::sql, postgres::Postgres};
use usercenter::{
    outbox::{self, OutboxRecord},
    pgstore::{PgStore, migrate, sequences},
    store::{Store, StoreError, StoreExt, Table, WriteConflicts, get, suite},
};

fn record(n: u64) -> OutboxRecord {
    OutboxRecord {
        topic: "user.events".into(),
        key: Some(n.to_be_bytes().to_vec()),
        value: vec![1, 2, 3],
        headers: Default::default(),
        created_ms: 1,
    }
}

/// Appenders running at once, with snapshots read between them: every row appears in commit
/// order (the suite's check), and no writer ran again for a counter row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_outbox_writers_commit_in_order_without_running_again() {
    let pg = Postgres::start().await;
    let store = pg_store(&pg).await;
    let suite_store: Arc<dyn Store> = store.clone();
    blocking(move || suite::outbox_appends_appear_in_commit_order(suite_store, 4, 40)).await;
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..40 {
                    store
                        .write(&mut |txn| {
                            outbox::next_event_sequence(txn)?;
                            outbox::append(txn, &record(w * 100 + i))?;
                            outbox::append(txn, &record(w * 100 + i))
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let rows = blocking({
        let store = Arc::clone(&store);
        move || store.read_with(|txn| txn.count(Table::Outbox)).unwrap()
    })
    .await;
    assert_eq!(rows, 4 * 40 + 4 * 40 * 2);
    assert_eq!(
        store.write_conflicts().unwrap(),
        WriteConflicts::default(),
        "a writer ran again"
    );
}

/// A database at schema 5 (counters in `meta`, a row waiting in the outbox) migrates to 6:
/// the next numbers follow the old counters and the waiting row, the old rows no longer
/// decode (an older binary fails instead of reusing numbers); and a binary refuses a database
/// migrated further than it knows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_6_continues_the_counters_where_schema_5_left_off() {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let db = sql(&url).await;
    super::schema_at(&db, 5).await;
    db.batch_execute(
        "INSERT INTO outbox (seq, topic, value, header_names, header_values, created_ms)
             VALUES (41, 'user.events', '\\x00', '{}', '{}', 1)",
    )
    .await
    .unwrap();
    for (name, value) in [(&b"outbox.next_seq"[..], 40u64), (b"producer.next_seq", 7)] {
        db.execute(
            "INSERT INTO meta (name, value) VALUES ($1, $2)",
            &[&name, &postcard::to_allocvec(&value).unwrap()],
        )
        .await
        .unwrap();
    }

    // An instance of the older version runs on the database (it holds the in-use lock
    // shared): migration 6 is refused, and the schema stays at 5 until it has stopped.
    let older = sql(&url).await;
    older
        .execute(
            "SELECT pg_advisory_lock_shared($1)",
            &[&usercenter::pgstore::lease::IN_USE_LOCK],
        )
        .await
        .unwrap();
    match PgStore::connect(&url, 2).await {
        Err(StoreError::InUseByOlder { version, sessions }) => {
            assert_eq!((version, sessions), (6, 1));
        }
        other => panic!("migration 6 beside an older instance: {other:?}"),
    }
    let newest: i64 = db
        .query_one("SELECT max(version) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(newest, 5);
    drop(older);

    let store = connect_when_the_older_session_has_ended(&url).await; // applies migration 6
    let (event, seqs, old) = blocking(move || {
        let mut event = 0;
        store
            .write(&mut |txn| {
                event = outbox::next_event_sequence(txn)?;
                outbox::append(txn, &record(1))
            })
            .unwrap();
        let seqs: Vec<u64> = store
            .read_with(|txn| outbox::pending(txn, 0, 10))
            .unwrap()
            .into_iter()
            .map(|(seq, _)| seq)
            .collect();
        let old = store.read_with(|txn| get::<u64>(txn, Table::Meta, b"outbox.next_seq"));
        (event, seqs, old)
    })
    .await;
    assert_eq!(event, 7, "the event counter continues");
    assert_eq!(seqs, [41, 42], "after the row that was waiting");
    assert!(
        matches!(old, Err(StoreError::Decode { .. })),
        "an older binary reads the moved counter: {old:?}"
    );
    let moved: Vec<u8> = db
        .query_one(
            "SELECT value FROM meta WHERE name = $1",
            &[&&b"producer.next_seq"[..]],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(moved, sequences::MOVED);

    db.batch_execute("INSERT INTO schema_migrations (version, name) VALUES (99, 'future')")
        .await
        .unwrap();
    match PgStore::connect(&url, 2).await {
        Err(StoreError::SchemaTooNew { found, known }) => {
            assert_eq!((found, known), (99, migrate::LATEST));
        }
        other => panic!("a newer schema was not refused: {other:?}"),
    }
}

/// [`PgStore::connect`] once the server has ended the older instance's session (its client
/// is dropped; the backend leaves a moment later).
async fn connect_when_the_older_session_has_ended(url: &str) -> PgStore {
    for _ in 0..100 {
        match PgStore::connect(url, 2).await {
            Err(StoreError::InUseByOlder { .. }) => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            other => return other.unwrap(),
        }
    }
    panic!("the older instance's session still holds the database after 5 s")
}
