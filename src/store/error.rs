//! How a store call fails ([`StoreError`]), whichever backend it ran on.
use std::path::PathBuf;

/// A store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store file could not be opened or created.
    #[error("store {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why (an I/O error creating the directory, or the backend's error).
        #[source]
        source: redb::Error,
    },
    /// The store file holds a layout this binary does not know: a newer release wrote it.
    #[error(
        "store {}: layout version {found} is not this binary's ({known}): a newer usercenter wrote this store (run that version), or the row was changed by hand",
        path.display()
    )]
    Layout {
        /// The file.
        path: PathBuf,
        /// What the file's layout row says.
        found: String,
        /// The layout this binary knows.
        known: u32,
    },
    /// A write to a store opened read-only.
    #[error("store: opened read-only")]
    ReadOnly,
    /// The backend failed a read, write or commit.
    #[error("store: {0}")]
    Backend(#[source] redb::Error),
    /// A stored value does not decode (corruption, or a newer schema).
    #[error("store table {table}: undecodable value: {source}")]
    Decode {
        /// The table.
        table: &'static str,
        /// The decoder's error.
        #[source]
        source: postcard::Error,
    },
    /// A stored key does not have the length its table uses (corruption).
    #[error("store table {table}: key of {len} bytes")]
    KeyLength {
        /// The table.
        table: &'static str,
        /// The key's length.
        len: usize,
    },
    /// A value cannot be encoded for storing (a serializer refused it; not expected).
    #[error("store table {table}: cannot encode a value: {source}")]
    Encode {
        /// The table.
        table: &'static str,
        /// The encoder's error.
        #[source]
        source: postcard::Error,
    },
    /// A uniqueness rule would be broken (for example a taken username).
    #[error("{field} already taken")]
    Conflict {
        /// The field.
        field: &'static str,
    },
    /// A row the operation needs is missing.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The backend returned without running the transaction's closure (a backend bug).
    #[error("store: the transaction ran no closure")]
    NotRun,
    /// A PostgreSQL statement, commit or connection failed. The message names the database's
    /// own error (its SQLSTATE and text) where there is one: the driver's alone says "db error".
    #[error("postgres: {}", postgres_detail(.0))]
    Postgres(#[source] tokio_postgres::Error),
    /// No PostgreSQL connection could be taken from the pool.
    #[error("postgres pool: {0}")]
    Pool(#[source] deadpool_postgres::PoolError),
    /// The PostgreSQL pool could not be built from the configuration.
    #[error("postgres pool: {0}")]
    PoolBuild(#[source] deadpool_postgres::BuildError),
    /// rustls refused the TLS set-up for PostgreSQL.
    #[error("postgres TLS: {0}")]
    Tls(#[source] rustls::Error),
    /// `store.tls_ca_file` cannot be read, or holds no usable CA certificate.
    #[error("{0}")]
    TlsCaFile(String),
    /// A migration could not be applied.
    #[error("postgres migration {version}: {}", postgres_detail(source))]
    Migrate {
        /// The migration's version.
        version: i64,
        /// The database's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The database's schema is newer than this binary knows: a newer version of the service
    /// migrated it, and this one must not write to it.
    #[error(
        "postgres schema version {found} is newer than this binary knows ({known}): a newer usercenter migrated this database; run that version"
    )]
    SchemaTooNew {
        /// The newest version applied to the database.
        found: i64,
        /// The newest version this binary knows.
        known: i64,
    },
    /// An operator's tool found the database's schema other than this binary's: it does not
    /// migrate (instances of the other version may be running on it).
    #[error(
        "postgres schema version {found} is not this binary's ({known}): run `usercenter migrate` with the version the service runs, or this tool from that version"
    )]
    SchemaNotCurrent {
        /// The newest version applied to the database (0: none).
        found: i64,
        /// The newest version this binary knows.
        known: i64,
    },
    /// A migration that instances of older versions cannot run beside was about to be
    /// applied while some run on the database.
    #[error(
        "postgres: migration {version} changes how instances number events, which instances of older versions cannot follow, and {sessions} database session(s) of running usercenter instances hold the database in use: stop every instance (scale to 0; a frozen one holds it until its session ends), then start this version or run `usercenter migrate`"
    )]
    InUseByOlder {
        /// The migration.
        version: i64,
        /// How many other sessions hold the database in use.
        sessions: i64,
    },
    /// The database's `schema_migrations` table is another tool's.
    #[error(
        "postgres: the table schema_migrations ({columns}) is not usercenter's, another tool's (golang-migrate's has version and dirty): give usercenter a database or schema of its own"
    )]
    ForeignMigrations {
        /// The table's columns, as found.
        columns: String,
    },
    /// A write transaction kept failing to serialize with concurrent ones.
    #[error("store: transaction still conflicting after {attempts} attempts")]
    Contended {
        /// Attempts made.
        attempts: u32,
    },
    /// A statement ran after an earlier one of the same transaction had failed (the
    /// closure ignored that error), so the transaction cannot commit.
    #[error("store: an earlier statement of this transaction failed")]
    TxnFailed,
    /// A key that the table's typed columns cannot hold (not a UUID, a sequence above
    /// `i64::MAX`, an offsets key that is not `topic/partition`).
    #[error("store table {table}: key does not fit: {reason}")]
    KeyFormat {
        /// The table.
        table: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Inside [`StoreExt`](super::StoreExt) only: the closure failed with an error of the caller's own type,
    /// which `read_with`/`write_with` return instead of this.
    #[error("store: transaction aborted by its closure")]
    Aborted,
    /// No answer came in time (PostgreSQL: a round trip past its limit); the connection it
    /// waited on is given up.
    #[error("store: no answer from {what} within {limit:?}")]
    TimedOut {
        /// What did not answer.
        what: &'static str,
        /// How long it was given.
        limit: std::time::Duration,
    },
}

impl StoreError {
    /// Whether the database could not be reached (refused, reset, timed out, its name not
    /// resolved, or starting up or shutting down): worth waiting for, as for a failover. A
    /// refusal that names its reason (a password, a missing database, TLS) is not.
    pub fn database_unreachable(&self) -> bool {
        match self {
            Self::Pool(deadpool_postgres::PoolError::Timeout(_)) => true,
            Self::Pool(deadpool_postgres::PoolError::Backend(e))
            | Self::Postgres(e)
            | Self::Migrate { source: e, .. } => unreachable(e),
            _ => false,
        }
    }
}

/// SQLSTATEs of a database that is there but cannot serve yet (a failover, a restart, a
/// rolling update): the server starting, shutting down or shut down by an operator (57P01-03),
/// a connection that failed (08000, 08001, 08003, 08006), too many connections (53300), a
/// former primary that is read-only now (25006). Not 08P01, the protocol violation a pooler
/// (PgBouncer) also answers a refused login or startup parameter with.
const NOT_YET: [&str; 9] = [
    "57P01", "57P02", "57P03", "08000", "08001", "08003", "08006", "53300", "25006",
];

/// [`StoreError::database_unreachable`] of one driver error.
fn unreachable(e: &tokio_postgres::Error) -> bool {
    if let Some(db) = e.as_db_error() {
        return NOT_YET.contains(&db.code().code());
    }
    let io = std::iter::successors(std::error::Error::source(e), |c| c.source())
        .find_map(|cause| cause.downcast_ref::<std::io::Error>());
    match io {
        Some(io) => {
            use std::io::ErrorKind::{InvalidData, InvalidInput, PermissionDenied};
            // InvalidData: a TLS handshake the server's certificate failed.
            !matches!(io.kind(), InvalidData | InvalidInput | PermissionDenied)
        }
        // The driver's own failures without an I/O cause: the connection closed under it.
        None => e.is_closed(),
    }
}

/// What went wrong in a PostgreSQL error: the database's SQLSTATE and message when the
/// database answered with an error, else the driver's own description.
fn postgres_detail(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}
