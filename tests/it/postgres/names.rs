//! Case-insensitive names on PostgreSQL: the service and the database agree on which two user
//! names or e-mail addresses are the same, also beyond ASCII. The key is the service's
//! (`users::lookup_key`, full-Unicode lower case) in a column of its own; the database's
//! `lower()` folds differently (character by character through the C library, so never to the
//! Greek final sigma; only ASCII under the C locale), so keyed by it a non-ASCII address could
//! neither log in nor conflict.

use std::{sync::Arc, time::Duration};

use testkit::{pg_serve::sql, postgres::Postgres};
use usercenter::{
    pgstore::PgStore,
    store::Store,
    users::{RequestCtx, UserError, Users, lookup_key},
};

/// Upper case with a final sigma: Rust folds it to "οδυσσευς@…", `lower()` to "οδυσσευσ@…"
/// (C.UTF-8 and other UTF-8 locales) or leaves it (C locale).
const ODYSSEUS: &str = "ΟΔΥΣΣΕΥΣ@Example.com";

fn ctx() -> RequestCtx {
    RequestCtx {
        request_id: "req-1".into(),
        ip: "10.0.0.1".into(),
        user_agent: "test".into(),
        ..RequestCtx::default()
    }
}

async fn users(url: &str) -> Arc<Users> {
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(url, 4).await.unwrap());
    Arc::new(Users::new(store, 7, "user.events", Duration::from_secs(3600)).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_ascii_address_logs_in_and_conflicts_by_the_services_lower_case() {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let u = users(&url).await;
    let id = tokio::task::spawn_blocking(move || {
        let (user, _, _) = u
            .register("odysseus", ODYSSEUS, "correct horse", &ctx())
            .unwrap();
        for login in [ODYSSEUS, "οδυσσευς@example.com", "ΟΔΥΣΣΕΥς@EXAMPLE.COM"] {
            let (again, _, _) = u
                .login(login, "correct horse", &ctx())
                .unwrap_or_else(|e| panic!("login as {login}: {e:?}"));
            assert_eq!(again.id, user.id);
        }
        let taken = u.register("nobody", "οδυσσευς@EXAMPLE.com", "correct horse", &ctx());
        assert!(
            matches!(taken, Err(UserError::Conflict { field: "email" })),
            "{taken:?}"
        );
        // PostgreSQL refuses a NUL in text: such a login names no account, and is answered
        // as an unknown one (401), not as a store failure (503).
        for login in ["odys\0seus", "odysseus\0@example.com"] {
            let refused = u.login(login, "correct horse", &ctx());
            assert!(
                matches!(refused, Err(UserError::Unauthorized)),
                "{refused:?}"
            );
        }
        user.id
    })
    .await
    .unwrap();
    let row = sql(&url)
        .await
        .query_one("SELECT id, email, email_key FROM users", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, uuid::Uuid>(0), id);
    assert_eq!(row.get::<_, String>(1), ODYSSEUS, "stored as given");
    assert_eq!(row.get::<_, String>(2), "οδυσσευς@example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_2_keys_existing_non_ascii_rows_as_the_service_does() {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    // A database at version 1 with an account made before the key columns existed.
    let db = sql(&url).await;
    super::schema_at(&db, 1).await;
    let hash = usercenter::users::hash_password("correct horse").unwrap();
    let id = uuid::Uuid::new_v4();
    db.execute(
        "INSERT INTO users (id, username, email, status, role, password_hash, created_ms,
             updated_ms) VALUES ($1, 'Odysseus', $2, 'active', 'user', $3, 0, 0)",
        &[&id, &ODYSSEUS, &hash],
    )
    .await
    .unwrap();

    let u = users(&url).await; // applies migration 2
    let keys = db
        .query_one("SELECT username_key, email_key FROM users", &[])
        .await
        .unwrap();
    assert_eq!(keys.get::<_, String>(0), lookup_key("Odysseus"));
    assert_eq!(keys.get::<_, String>(1), lookup_key(ODYSSEUS));
    let versions: Vec<i64> = db
        .query("SELECT version FROM schema_migrations ORDER BY 1", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let every: Vec<i64> = (1..=usercenter::pgstore::migrate::LATEST).collect();
    assert_eq!(versions, every);
    tokio::task::spawn_blocking(move || {
        let (user, _, _) = u
            .login("οδυσσευς@example.com", "correct horse", &ctx())
            .unwrap();
        assert_eq!(user.id, id);
        let taken = u.register("odysseus", "o@example.com", "correct horse", &ctx());
        assert!(
            matches!(taken, Err(UserError::Conflict { field: "username" })),
            "{taken:?}"
        );
    })
    .await
    .unwrap();
}
