//! The user operations on the PostgreSQL backend: the same behaviour as on redb, with the
//! rules the domain relies on enforced by the database, and rows operators can query in SQL.

use std::{sync::Arc, time::Duration};

use testkit::postgres::Postgres;
use usercenter::{
    pgstore::PgStore,
    store::{Store, StoreExt, Table},
    users::{RequestCtx, UserError, Users},
};

fn ctx() -> RequestCtx {
    RequestCtx {
        request_id: "req-1".into(),
        ip: "10.0.0.1".into(),
        user_agent: "test".into(),
        ..RequestCtx::default()
    }
}

async fn setup() -> (Postgres, String, Arc<Users>) {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(&url, 8).await.unwrap());
    let users = Users::new(store, 7, "user.events", Duration::from_secs(3600)).unwrap();
    (pg, url, Arc::new(users))
}

async fn sql(url: &str, query: &str) -> Vec<tokio_postgres::Row> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client.query(query, &[]).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_live_in_typed_rows_and_behave_as_on_redb() {
    let (_pg, url, users) = setup().await;
    let u = Arc::clone(&users);
    let (ada, caller) = tokio::task::spawn_blocking(move || {
        let (ada, token, _) = u
            .register("Ada", "Ada@Example.com", "correct horse", &ctx())
            .unwrap();
        // Lookups ignore case, as on redb.
        let (again, _, _) = u.login("ADA@example.COM", "correct horse", &ctx()).unwrap();
        assert_eq!(again.id, ada.id);
        let caller = u.authenticate(&token).unwrap();
        let taken = u.register("ada", "other@example.com", "correct horse", &ctx());
        assert!(
            matches!(taken, Err(UserError::Conflict { field: "username" })),
            "{taken:?}"
        );
        // Both taken: the name is reported, as on redb. No read checks them first here: the
        // insert meets users_username_key before users_email_key (PostgreSQL checks unique
        // indexes in the order they were made, and migration 0002 makes them in this one).
        let taken = u.register("ADA", "ada@EXAMPLE.com", "correct horse", &ctx());
        assert!(
            matches!(taken, Err(UserError::Conflict { field: "username" })),
            "{taken:?}"
        );
        let updated = u
            .update(
                &caller,
                ada.id,
                Some("Countess"),
                Some("lovelace@example.com"),
                None,
                &ctx(),
            )
            .unwrap();
        assert_eq!(updated.nickname.as_deref(), Some("Countess"));
        // The old address is free again, the new one taken.
        u.register("bob", "ada@example.com", "correct horse", &ctx())
            .unwrap();
        let taken = u.register("carol", "LOVELACE@example.com", "correct horse", &ctx());
        assert!(
            matches!(taken, Err(UserError::Conflict { field: "email" })),
            "{taken:?}"
        );
        (ada, caller)
    })
    .await
    .unwrap();
    let rows = sql(
        &url,
        "SELECT username, email, nickname, status, role FROM users ORDER BY created_ms, username",
    )
    .await;
    let first: (String, String, Option<String>, String, String) = (
        rows[0].get(0),
        rows[0].get(1),
        rows[0].get(2),
        rows[0].get(3),
        rows[0].get(4),
    );
    assert_eq!(
        first,
        (
            "Ada".into(),
            "lovelace@example.com".into(),
            Some("Countess".into()),
            "active".into(),
            "user".into()
        )
    );
    assert_eq!(
        sql(&url, "SELECT 1 FROM sessions").await.len(),
        3,
        "two of ada's, one of bob's"
    );
    let u = Arc::clone(&users);
    tokio::task::spawn_blocking(move || u.delete(&caller, ada.id, &ctx()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        sql(&url, "SELECT 1 FROM sessions").await.len(),
        1,
        "ada's sessions went with her"
    );
    let outbox = sql(&url, "SELECT seq FROM outbox ORDER BY seq").await;
    let seqs: Vec<i64> = outbox.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        seqs,
        (0..seqs.len() as i64).collect::<Vec<_>>(),
        "gap-free outbox"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_registrations_of_one_name_let_exactly_one_through() {
    let (_pg, url, users) = setup().await;
    let attempts: Vec<_> = (0..8)
        .map(|i| {
            let u = Arc::clone(&users);
            tokio::task::spawn_blocking(move || {
                u.register(
                    "grace",
                    &format!("g{i}@example.com"),
                    "correct horse",
                    &ctx(),
                )
            })
        })
        .collect();
    let mut ok = 0;
    for a in attempts {
        match a.await.unwrap() {
            Ok(_) => ok += 1,
            Err(UserError::Conflict { field: "username" }) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(sql(&url, "SELECT 1 FROM users").await.len(), 1);
}

/// One user's sessions are read by that user's own column (`range_prefix`): the session limit
/// counts and revokes exactly that user's rows, whoever's sessions sort next to them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_session_limit_counts_and_revokes_only_that_users_sessions() {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let store = Arc::new(PgStore::connect(&url, 8).await.unwrap());
    let users = Users::new(
        store.clone() as Arc<dyn Store>,
        7,
        "user.events",
        Duration::from_secs(3600),
    )
    .unwrap()
    .with_limits(&usercenter::users::AuthLimits {
        max_sessions: 3,
        ..Default::default()
    });
    tokio::task::spawn_blocking(move || {
        let mut others = Vec::new();
        for n in 0..20 {
            let name = format!("user{n}");
            let (_, token, _) = users
                .register(
                    &name,
                    &format!("{name}@example.com"),
                    "correct horse",
                    &ctx(),
                )
                .unwrap();
            let (_, again, _) = users.login(&name, "correct horse", &ctx()).unwrap();
            others.extend([token, again]);
        }
        let (ada, first, _) = users
            .register("ada", "ada@example.com", "correct horse", &ctx())
            .unwrap();
        let mut mine = vec![first];
        for _ in 0..5 {
            mine.push(users.login("ada", "correct horse", &ctx()).unwrap().1);
        }
        let live: Vec<bool> = mine.iter().map(|t| users.authenticate(t).is_ok()).collect();
        assert_eq!(live, [false, false, false, true, true, true]);
        assert!(
            others.iter().all(|t| users.authenticate(t).is_ok()),
            "another user's session went"
        );
        let rows = store
            .read_with(|txn| txn.range_prefix(Table::UserSessions, ada.id.as_bytes(), 100))
            .unwrap();
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|(k, _)| k.starts_with(ada.id.as_bytes())));
    })
    .await
    .unwrap();
}

/// On PostgreSQL a login of an unknown account commits a transaction id, as a wrong password's
/// does (with its event): each costs a round trip and a WAL flush, so the time a failed login
/// takes does not tell whether the account exists. Before, the unknown account's empty write
/// sent nothing at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_accounts_login_commits_as_a_wrong_passwords_does() {
    let (_pg, url, users) = setup().await;
    let next_xid = || async {
        let rows = sql(
            &url,
            "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint",
        )
        .await;
        rows[0].get::<_, i64>(0)
    };
    let u = Arc::clone(&users);
    tokio::task::spawn_blocking(move || {
        u.register("ada", "ada@example.com", "correct horse", &ctx())
    })
    .await
    .unwrap()
    .unwrap();
    let mut taken = Vec::new();
    for login in ["nobody", "ada"] {
        let before = next_xid().await;
        let u = Arc::clone(&users);
        let failed =
            tokio::task::spawn_blocking(move || u.login(login, "wrong horse", &ctx()).err())
                .await
                .unwrap();
        assert!(
            matches!(failed, Some(UserError::Unauthorized)),
            "{failed:?}"
        );
        taken.push(next_xid().await - before);
    }
    // At least one each (autovacuum's ANALYZE of the new database may take one meanwhile);
    // before, the unknown account's committed none.
    assert!(
        taken.iter().all(|&n| n >= 1),
        "transaction ids committed: {taken:?}"
    );
}

/// What a failed login's write relies on (`Users::fail_a_wrong_password_of`): a transaction
/// that read a user's row and then writes it back is refused when a deletion of the row
/// committed in between, and runs again; one that only read the row commits after the deletion,
/// and its outbox row is numbered after the deletion's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_written_back_is_not_numbered_after_its_deletion_committed_meanwhile() {
    let (_pg, url, users) = setup().await;
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(&url, 4).await.unwrap());
    for write_back in [false, true] {
        let u = Arc::clone(&users);
        let name = if write_back { "wrote" } else { "read" };
        let (user, _, _) = tokio::task::spawn_blocking(move || {
            u.register(
                name,
                &format!("{name}@example.com"),
                "correct horse",
                &ctx(),
            )
        })
        .await
        .unwrap()
        .unwrap();
        let key = user.id.as_bytes().to_vec();
        let (read_tx, read_rx) = std::sync::mpsc::channel();
        let (deleted_tx, deleted_rx) = std::sync::mpsc::channel::<()>();
        let (s, k) = (Arc::clone(&store), key.clone());
        let failed_login = tokio::task::spawn_blocking(move || {
            let mut first = true;
            s.write_with(|txn| {
                let row = txn.get(Table::Users, &k)?;
                if std::mem::take(&mut first) {
                    read_tx.send(()).unwrap();
                    deleted_rx.recv().unwrap();
                }
                if let Some(row) = row {
                    if write_back {
                        txn.put(Table::Users, &k, &row)?;
                    }
                    outbox_row(txn, "failed login")?;
                }
                Ok::<_, usercenter::store::StoreError>(())
            })
        });
        read_rx.recv().unwrap();
        let s = Arc::clone(&store);
        tokio::task::spawn_blocking(move || {
            s.write_with(|txn| {
                txn.get(Table::Users, &key)?;
                txn.delete(Table::Users, &key)?;
                outbox_row(txn, "deleted")
            })
        })
        .await
        .unwrap()
        .unwrap();
        deleted_tx.send(()).unwrap();
        failed_login.await.unwrap().unwrap();
        let rows: Vec<String> = sql(&url, "SELECT topic FROM outbox ORDER BY seq")
            .await
            .iter()
            .map(|r| r.get(0))
            .filter(|t: &String| t == "failed login" || t == "deleted")
            .collect();
        sql(&url, "DELETE FROM outbox").await;
        if write_back {
            assert_eq!(
                rows,
                ["deleted"],
                "the failed login ran again and found no user"
            );
        } else {
            // The control: what a read alone allows.
            assert_eq!(rows, ["deleted", "failed login"]);
        }
    }
}

/// An outbox row on topic `topic` (the test reads its topic back).
fn outbox_row(
    txn: &mut dyn usercenter::store::WriteTxn,
    topic: &str,
) -> Result<(), usercenter::store::StoreError> {
    let record = usercenter::outbox::OutboxRecord {
        topic: topic.to_owned(),
        key: None,
        value: b"{}".to_vec(),
        headers: Default::default(),
        created_ms: 0,
    };
    usercenter::outbox::append(txn, &record)
}
