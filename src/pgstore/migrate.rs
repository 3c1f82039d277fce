//! Versioned schema migrations (the SQL files under `migrations/`, compiled in), applied at
//! start and by `usercenter migrate`.
//!
//! Several instances may start at once on an empty database: each takes the same
//! session-level advisory lock first, so one applies what is missing while the others wait
//! and then find nothing left to do. `schema_migrations` records each version applied, in the
//! same transaction as its SQL, so a crash leaves a migration either applied and recorded or
//! neither.
use tokio_postgres::{Client, types::ToSql};

use super::{columns, layout::layout, sequences};
use crate::{
    store::{Result, StoreError, Table},
    users::lookup_key,
};

/// Every migration: version, name, SQL. Append only; never edit a released one.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "schema",
        include_str!("../../migrations/0001_schema.sql"),
    ),
    (
        NAME_KEYS,
        "name_keys",
        include_str!("../../migrations/0002_name_keys.sql"),
    ),
    (
        HIGH_WATERS,
        "high_waters",
        include_str!("../../migrations/0003_high_waters.sql"),
    ),
    (
        4,
        "relay_lease",
        include_str!("../../migrations/0004_relay_lease.sql"),
    ),
    (
        5,
        "outbox_notify",
        include_str!("../../migrations/0005_outbox_notify.sql"),
    ),
    (
        SEQUENCES,
        "sequences",
        include_str!("../../migrations/0006_sequences.sql"),
    ),
];

/// The migration that adds `users.username_key` and `email_key`: its SQL keys every row by
/// `lower()`, right for ASCII only; [`rekey`] then writes the service's key into the others.
const NAME_KEYS: i64 = 2;

/// The migration that creates `consumer_high_waters`; [`move_high_waters`] then moves the rows
/// version 2 kept in `meta` into it.
const HIGH_WATERS: i64 = 3;

/// The migration that creates the outbox and event sequences; [`sequences::move_counters`]
/// then starts them where the `meta` counters left off.
const SEQUENCES: i64 = 6;

/// The advisory lock key of migrations ("usercntr" in ASCII).
const LOCK: i64 = 0x7573_6572_636e_7472;

/// The newest schema version this binary knows.
pub const LATEST: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Applies the migrations `client`'s database lacks; returns the versions applied now.
pub async fn apply(client: &mut Client) -> Result<Vec<i64>> {
    let failed = |version| move |source| StoreError::Migrate { version, source };
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK])
        .await
        .map_err(failed(0))?;
    let applied = apply_locked(client).await;
    // Released also when the connection closes; an explicit unlock frees it for the others now.
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK])
        .await
        .map_err(failed(0));
    let applied = applied?;
    unlocked?;
    Ok(applied)
}

/// Fails with [`StoreError::InUseByOlder`] when [`SEQUENCES`] is still to be applied while
/// other sessions hold this database in use ([`super::lease::IN_USE_LOCK`], which a running
/// instance holds shared from when its relay starts, once Kafka answers): instances of an older
/// version, whose next writes the migration would break (they number events from the `meta`
/// counters it retires). A process migrates before it takes that lock, so its own sessions do
/// not count.
async fn refuse_beside_older(client: &Client) -> Result<()> {
    let failed = |source| StoreError::Migrate {
        version: SEQUENCES,
        source,
    };
    let pending = client
        .query_opt(
            "SELECT 1 FROM schema_migrations WHERE version = $1",
            &[&SEQUENCES],
        )
        .await
        .map_err(failed)?
        .is_none();
    if !pending {
        return Ok(());
    }
    // A bigint advisory key shows in pg_locks as its high and low 32 bits, objsubid 1.
    let key = super::lease::IN_USE_LOCK;
    let (high, low) = ((key >> 32) & 0xffff_ffff, key & 0xffff_ffff);
    let sessions: i64 = client
        .query_one(
            "SELECT count(DISTINCT pid) FROM pg_locks
              WHERE locktype = 'advisory' AND classid::bigint = $1 AND objid::bigint = $2
                AND objsubid = 1 AND granted AND pid <> pg_backend_pid()
                AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[&high, &low],
        )
        .await
        .map_err(failed)?
        .get(0);
    if sessions > 0 {
        return Err(StoreError::InUseByOlder {
            version: SEQUENCES,
            sessions,
        });
    }
    Ok(())
}

/// Whether the database has a `schema_migrations` table; fails with
/// [`StoreError::ForeignMigrations`] when it is not ours: another tool's (golang-migrate, which
/// the Go service may have used, keeps `version` and `dirty`), whose versions would be taken
/// for ours.
async fn check_ours(client: &Client) -> Result<bool> {
    let failed = |source| StoreError::Migrate { version: 0, source };
    let columns: Vec<String> = client
        .query(
            // The table the statements below name, wherever `search_path` finds it.
            "SELECT attname::text FROM pg_attribute
              WHERE attrelid = to_regclass('schema_migrations') AND attnum > 0
                AND NOT attisdropped
              ORDER BY attname",
            &[],
        )
        .await
        .map_err(failed)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let has = |name: &str| columns.iter().any(|c| c == name);
    if columns.is_empty() || (has("version") && has("name") && has("applied_at")) {
        return Ok(!columns.is_empty());
    }
    Err(StoreError::ForeignMigrations {
        columns: columns.join(", "),
    })
}

/// Fails with [`StoreError::SchemaNotCurrent`] unless `client`'s database has exactly this
/// binary's migrations ([`LATEST`]); changes nothing.
pub async fn check_current(client: &Client) -> Result<()> {
    let failed = |source| StoreError::Migrate { version: 0, source };
    let found: Option<i64> = if check_ours(client).await? {
        client
            .query_one("SELECT max(version) FROM schema_migrations", &[])
            .await
            .map_err(failed)?
            .get(0)
    } else {
        None
    };
    match found {
        Some(LATEST) => Ok(()),
        other => Err(StoreError::SchemaNotCurrent {
            found: other.unwrap_or(0),
            known: LATEST,
        }),
    }
}

async fn apply_locked(client: &mut Client) -> Result<Vec<i64>> {
    // Created below when absent.
    check_ours(client).await?;
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    bigint PRIMARY KEY,
                 name       text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(|source| StoreError::Migrate { version: 0, source })?;
    let newest: Option<i64> = client
        .query_one("SELECT max(version) FROM schema_migrations", &[])
        .await
        .map_err(|source| StoreError::Migrate { version: 0, source })?
        .get(0);
    if let Some(found) = newest.filter(|&v| v > LATEST) {
        return Err(StoreError::SchemaTooNew {
            found,
            known: LATEST,
        });
    }
    if newest.is_some() {
        refuse_beside_older(client).await?;
    }
    let mut done = Vec::new();
    for &(version, name, sql) in MIGRATIONS {
        let failed = |source| StoreError::Migrate { version, source };
        let txn = client.transaction().await.map_err(failed)?;
        let present = txn
            .query_opt(
                "SELECT 1 FROM schema_migrations WHERE version = $1",
                &[&version],
            )
            .await
            .map_err(failed)?
            .is_some();
        if present {
            continue;
        }
        txn.batch_execute(sql).await.map_err(failed)?;
        if version == NAME_KEYS {
            rekey(&txn).await.map_err(failed)?;
        }
        if version == HIGH_WATERS {
            move_high_waters(&txn).await.map_err(failed)?;
        }
        if version == SEQUENCES {
            sequences::move_counters(&txn).await.map_err(failed)?;
        }
        txn.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&version, &name],
        )
        .await
        .map_err(failed)?;
        txn.commit().await.map_err(failed)?;
        tracing::info!(version, name, "postgres: migration applied");
        done.push(version);
    }
    Ok(done)
}

/// Writes [`lookup_key`] of each non-ASCII user name and e-mail address into its key column
/// (two accounts the same under it fail the unique index, and with it the migration).
async fn rekey(
    txn: &tokio_postgres::Transaction<'_>,
) -> std::result::Result<(), tokio_postgres::Error> {
    let rows = txn
        .query(
            "SELECT id, username, email FROM users \
             WHERE octet_length(username) <> char_length(username) \
                OR octet_length(email) <> char_length(email)",
            &[],
        )
        .await?;
    for row in rows {
        let (id, username, email): (uuid::Uuid, String, String) =
            (row.get(0), row.get(1), row.get(2));
        txn.execute(
            "UPDATE users SET username_key = $2, email_key = $3 WHERE id = $1",
            &[&id, &lookup_key(&username), &lookup_key(&email)],
        )
        .await?;
    }
    Ok(())
}

/// Moves the high waters version 2 kept in `meta` (named `offsets/h/<topic>/<partition>/<producer>`,
/// the value a postcard `HighWater`) into `consumer_high_waters`, through `columns::put_params`,
/// which writes that table, and deletes them from `meta`. A row it cannot read is left in
/// `meta` with a warning (it was not readable as a high water before either).
async fn move_high_waters(
    txn: &tokio_postgres::Transaction<'_>,
) -> std::result::Result<(), tokio_postgres::Error> {
    const PREFIX: &[u8] = b"offsets/h/";
    let rows = txn
        .query(
            "SELECT name, value FROM meta \
             WHERE substring(name FROM 1 FOR length($1::bytea)) = $1::bytea",
            &[&PREFIX],
        )
        .await?;
    let upsert = layout(Table::HighWaters).upsert().unwrap_or_default();
    let mut moved = 0usize;
    for row in rows {
        let (name, value): (Vec<u8>, Vec<u8>) = (row.get(0), row.get(1));
        let key = &name[PREFIX.len()..];
        let params = match columns::put_params(Table::HighWaters, key, &value) {
            Ok(params) => params,
            Err(error) => {
                tracing::warn!(%error, name = %String::from_utf8_lossy(&name), "postgres: meta row left in place");
                continue;
            }
        };
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        txn.execute(upsert.as_str(), &refs).await?;
        txn.execute("DELETE FROM meta WHERE name = $1", &[&name])
            .await?;
        moved += 1;
    }
    if moved > 0 {
        tracing::info!(moved, "postgres: consumer high waters moved out of meta");
    }
    Ok(())
}
