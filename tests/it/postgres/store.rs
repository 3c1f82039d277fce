//! The store suite (src/store/suite.rs) on the PostgreSQL backend, against a private server;
//! plus what only a shared SQL database has: the domain's rules enforced by its schema,
//! serialized retries, migrations run once by concurrent starters, the relay lease and its
//! wake-up for other instances' outbox rows.

use std::sync::Arc;

use super::{blocking, lease, pg_store};

use testkit::{pg_serve::sql, postgres::Postgres};
use usercenter::{
    consumer::process::HighWater,
    pgstore::PgStore,
    store::{Store, StoreExt, Table, WriteConflicts, get, suite},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_suite_passes_on_postgres() {
    let pg = Postgres::start().await;
    let store = pg_store(&pg).await;
    blocking(move || suite::run_all(&*store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_once_when_instances_start_together() {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { usercenter::pgstore::migrate(&url, None).await.unwrap() })
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

/// An operator's tool (`group reset-offsets`, even a dry run) applied the migrations it
/// found missing, under instances of an older version still running on the database. It
/// now applies none: it refuses a database without this binary's schema, and changes
/// nothing there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_tool_applies_no_migration() {
    use usercenter::store::StoreError;
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let refused = PgStore::connect_current(&url, 2, None).await.err();
    assert!(
        matches!(refused, Some(StoreError::SchemaNotCurrent { found: 0, .. })),
        "{refused:?}"
    );
    let db = sql(&url).await;
    let table: Option<String> = db
        .query_one("SELECT to_regclass('schema_migrations')::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(table, None, "nothing created");
    usercenter::pgstore::migrate(&url, None).await.unwrap();
    assert!(PgStore::connect_current(&url, 2, None).await.is_ok());
    // A database one version behind this binary.
    db.execute(
        "DELETE FROM schema_migrations WHERE version = $1",
        &[&usercenter::pgstore::migrate::LATEST],
    )
    .await
    .unwrap();
    let behind = PgStore::connect_current(&url, 2, None).await.err();
    assert!(
        matches!(behind, Some(StoreError::SchemaNotCurrent { .. })),
        "{behind:?}"
    );
}

/// A database where golang-migrate (the Go service's migrations, say) keeps its
/// `schema_migrations` (`version`, `dirty`): its versions are not taken for ours; the start
/// refuses the database and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tools_schema_migrations_is_refused() {
    use usercenter::store::StoreError;
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let db = sql(&url).await;
    db.batch_execute(
        "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);
         INSERT INTO schema_migrations VALUES (20240101, false);",
    )
    .await
    .unwrap();
    let refused = usercenter::pgstore::migrate(&url, None).await.err();
    assert!(
        matches!(&refused, Some(StoreError::ForeignMigrations { columns }) if columns == "dirty, version"),
        "{refused:?}"
    );
    let tool = PgStore::connect_current(&url, 2, None).await.err();
    assert!(
        matches!(tool, Some(StoreError::ForeignMigrations { .. })),
        "{tool:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_holds_the_relay_lease_and_another_takes_over_when_it_goes() {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let a = Arc::new(PgStore::connect(&url, 2).await.unwrap());
    let b = Arc::new(PgStore::connect(&url, 2).await.unwrap());
    let taken = lease(&a).await.expect("the first asker holds it");
    assert!(
        lease(&b).await.is_none(),
        "exactly the first asker holds it"
    );
    // Within RENEWED_FOR the renewal before answers: asked twice in a row on a's open session
    // (its first renewal, which b's first connection may have delayed past RENEWED_FOR on a
    // busy machine, is behind it).
    tokio::time::sleep(usercenter::pgstore::lease::RENEWED_FOR).await;
    let first = lease(&a).await.expect("still held");
    assert_eq!(first.epoch, taken.epoch, "renewed without a break");
    let soon = lease(&a).await.expect("still held");
    assert_eq!(soon, first, "within RENEWED_FOR the renewal before answers");
    tokio::time::sleep(usercenter::pgstore::lease::RENEWED_FOR).await;
    let again = lease(&a).await.expect("still held");
    assert_eq!(again.epoch, first.epoch, "renewed without a break");
    assert!(again.until > first.until, "renewing moves its end");
    drop(a); // its lease connection closes: its session leaves pg_stat_activity
    // Relayed under once the rest of the old term has passed (lease_handover.rs).
    let (dropped, mut taken) = (std::time::Instant::now(), None);
    while dropped.elapsed() < usercenter::pgstore::lease::TERM + std::time::Duration::from_secs(5) {
        taken = lease(&b).await;
        if taken.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let taken = taken.expect("the other instance relays once the old term has passed");
    assert!(taken.epoch > first.epoch, "a hand-over bumps the epoch");
}

/// Finding 6 of the integrity issue: a holder that freezes (SIGSTOP) keeps its connection
/// open, and an advisory lock with it, so nobody relayed until it woke. The lease expires: a
/// holder that stops renewing it loses it within the term, with a new epoch, and cannot take
/// it back while the new holder renews it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_rows_another_instance_commits_wake_the_lease_holders_relay() {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let holder = Arc::new(PgStore::connect(&url, 2).await.unwrap());
    let other = Arc::new(PgStore::connect(&url, 2).await.unwrap());
    let wake = Arc::new(tokio::sync::Notify::new());
    holder.wake_on_outbox_commits(Arc::clone(&wake));
    let h = Arc::clone(&holder);
    assert!(blocking(move || h.relay_lease().unwrap()).await.is_some());
    let quiet = tokio::time::timeout(std::time::Duration::from_millis(300), wake.notified());
    assert!(quiet.await.is_err(), "woken before anything was committed");
    blocking(move || {
        other
            .write_with(|txn| {
                let record = usercenter::outbox::OutboxRecord {
                    topic: "t".into(),
                    key: None,
                    value: b"v".to_vec(),
                    headers: Default::default(),
                    created_ms: 0,
                };
                usercenter::outbox::append(txn, &record).map(drop)
            })
            .unwrap()
    })
    .await;
    let woken = tokio::time::timeout(std::time::Duration::from_secs(5), wake.notified());
    assert!(
        woken.await.is_ok(),
        "the other instance's commit did not wake the holder"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_lease_its_holder_stops_renewing_expires_and_passes_on() {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let frozen = Arc::new(PgStore::connect(&url, 2).await.unwrap());
    let other = Arc::new(PgStore::connect(&url, 2).await.unwrap());
    let held = lease(&frozen).await.expect("held");
    assert!(
        held.until <= tokio::time::Instant::now() + usercenter::pgstore::lease::TERM,
        "the holder's end is never later than the term from now"
    );
    // The holder's session stays open (its process is only stopped); the other asks on.
    let started = std::time::Instant::now();
    let taken = loop {
        if let Some(l) = lease(&other).await {
            break l;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "never taken over"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let after = started.elapsed();
    println!("lease taken over {after:?} after its holder stopped renewing it");
    assert!(after + std::time::Duration::from_millis(500) >= usercenter::pgstore::lease::TERM);
    assert!(taken.epoch > held.epoch);
    assert!(
        tokio::time::Instant::now() >= held.until,
        "the former holder's own deadline had passed when it was taken over"
    );
    // The former holder wakes: the lease is not its any more.
    assert!(lease(&frozen).await.is_none());
    assert_eq!(lease(&other).await.map(|l| l.epoch), Some(taken.epoch));
}

/// Finding 7: with PostgreSQL and static assignment nothing marked the database as in use, so
/// `group reset-offsets --execute` ran beside the consuming service, which overwrote the reset
/// offsets. A running instance's lease session marks it; the tool's exclusive claim fails
/// while one runs, and no instance relays while a tool holds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_tools_and_running_instances_exclude_each_other() {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let running = Arc::new(PgStore::connect(&url, 2).await.unwrap());
    let r = Arc::clone(&running);
    assert!(blocking(move || r.relay_lease().unwrap()).await.is_some());
    let tool = Arc::new(PgStore::connect(&url, 2).await.unwrap());
    let t = Arc::clone(&tool);
    assert!(
        !blocking(move || t.claim_exclusive().unwrap()).await,
        "a running instance holds the database"
    );
    drop(running);
    let mut claimed = false;
    for _ in 0..100 {
        let t = Arc::clone(&tool);
        if blocking(move || t.claim_exclusive().unwrap()).await {
            claimed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        claimed,
        "the tool claims the database once no instance runs"
    );
    let starting = Arc::new(PgStore::connect(&url, 2).await.unwrap());
    let s = Arc::clone(&starting);
    assert!(
        blocking(move || s.relay_lease().unwrap()).await.is_none(),
        "no relaying while the tool holds the database"
    );
    drop(tool);
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
    super::schema_at(&db, 2).await;
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

/// A write whose row another transaction changed after its snapshot fails to serialize; the
/// store runs it again on a fresh snapshot, and `write_conflicts` (`/metrics`) counts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_fails_to_serialize_runs_again_and_is_counted() {
    let pg = Postgres::start().await;
    let store = pg_store(&pg).await;
    let before = store.write_conflicts().unwrap();
    assert_eq!(before, WriteConflicts::default());
    let runs = blocking(move || {
        let mut runs = 0;
        store
            .write(&mut |txn| {
                runs += 1;
                // The snapshot is taken here, before the other writer commits.
                txn.get(Table::Meta, b"contended")?;
                if runs == 1 {
                    store.write(&mut |other| other.put(Table::Meta, b"contended", b"other"))?;
                }
                txn.put(Table::Meta, b"contended", b"ours")
            })
            .unwrap();
        let value = store
            .read_with(|txn| txn.get(Table::Meta, b"contended"))
            .unwrap();
        (runs, value, store.write_conflicts().unwrap())
    })
    .await;
    let (runs, value, conflicts) = runs;
    assert_eq!(runs, 2, "the conflicting attempt ran again");
    assert_eq!(value.as_deref(), Some(&b"ours"[..]));
    assert_eq!(
        conflicts,
        WriteConflicts {
            retries: 1,
            retried: 1,
            given_up: 0
        }
    );
}

/// A row this binary cannot decode (a user's status that a newer version wrote) or cannot ask
/// for (a key the table cannot hold) does not fail a read-ahead, which would fail every record
/// of a consumer batch with it: its own read meets the error, and the other rows are read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_that_cannot_be_read_ahead_is_left_to_its_own_read() {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let store = PgStore::connect(&url, 2).await.unwrap();
    let id = uuid::Uuid::now_v7();
    sql(&url)
        .await
        .execute(
            "INSERT INTO users (id, username, email, username_key, email_key, status, role,
                                password_hash, created_ms, updated_ms)
             VALUES ($1, 'ada', 'ada@example.com', 'ada', 'ada@example.com', 'suspended',
                     'user', 'x', 1, 1)",
            &[&id],
        )
        .await
        .unwrap();
    blocking(move || {
        store
            .read_with(|txn| {
                let user = id.as_bytes().as_slice();
                let rows = [
                    (Table::Users, user),
                    (Table::Users, b"not a user id".as_slice()),
                    (Table::Meta, b"absent"),
                ];
                txn.read_ahead(&rows)?;
                assert!(txn.get(Table::Users, user).is_err(), "its own read fails");
                assert!(txn.get(Table::Users, b"not a user id").is_err());
                assert_eq!(txn.get(Table::Meta, b"absent")?, None);
                Ok::<_, usercenter::store::StoreError>(())
            })
            .unwrap()
    })
    .await;
}
