//! The PostgreSQL backend of [`Store`]: several instances share one database.
//!
//! Each KV table maps onto a typed SQL table ([`layout`], [`columns`], `rows`; schema in
//! `migrations/`), so operators query users with SQL and the database enforces the rules the
//! domain relies on (unique user names and e-mail addresses ignoring case, sessions gone with
//! their user).
//!
//! # Transactions
//! Store calls run on `spawn_blocking` threads; each round trip blocks on the async driver
//! (tokio-postgres, pooled by deadpool) through the runtime handle. A transaction sends its
//! statements in as few round trips as its reads allow (`txn`, `pipeline`). Writes run at
//! SERIALIZABLE (those that `Store::write_at_snapshot` asks for, at REPEATABLE READ): a closure
//! whose transaction fails to serialize (40001) or deadlocks (40P01) runs again on a fresh
//! snapshot, up to [`ATTEMPTS`] times. Reads run at REPEATABLE READ, READ ONLY: one snapshot,
//! never retried.
//!
//! # Outbox order
//! A transaction's outbox rows are written just before it commits, under numbers drawn from a
//! database sequence while it holds a transaction-level advisory lock ([`sequences`]). The next
//! transaction draws only once it holds the lock, after the previous one's commit is visible:
//! outbox sequences appear in commit order (with gaps where a transaction aborted), and a relay
//! that read up to n never later sees a smaller sequence appear. Writers do not conflict over
//! a counter row, so they do not run again for it.
//!
//! # Relay lease
//! [`Store::relay_lease`] takes and renews one row with an expiry and an epoch on a dedicated
//! connection ([`lease`]). Only its holder relays. When the holder's session ends (its
//! process died, or the database ended it) the next instance to ask takes the lease at once,
//! but relays only once the rest of the old term has passed: the old holder may live on (a
//! restart or failover of the database ends every session). When the holder freezes, the
//! lease expires ([`lease::TERM`]) and another takes it. Either way with a new epoch.
//!
//! # Time limits
//! Every connection (made in `connect`, with TLS through rustls) has TCP keepalives and a
//! [`TCP_USER_TIMEOUT`], so a request whose packets go unacknowledged (a failover, a cut link)
//! fails within about 30 s instead of after TCP's
//! retransmissions (about 15 minutes); the pool bounds its waits (`POOL_WAIT`); the
//! lease's round trips fail after [`lease::ROUND_TRIP_LIMIT`].
mod append_news;
mod columns;
mod connect;
mod event_numbers;
mod failure;
mod known_rows;
mod layout;
pub mod lease;
pub mod migrate;
mod pipeline;
mod rows;
pub mod sequences;
mod txn;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::runtime::{Handle, RuntimeFlavor};

use connect::POOL_WAIT;
pub use connect::TCP_USER_TIMEOUT;

use crate::store::{ReadTxn, Result, Store, StoreError, WriteConflicts, WriteTxn};
use failure::Failure;
use txn::PgTxn;

/// Runs of one write closure before giving up on a contended transaction.
pub const ATTEMPTS: u32 = 50;

/// The PostgreSQL store.
pub struct PgStore {
    pool: Pool,
    handle: Handle,
    lease: lease::Lease,
    conflicts: ConflictCounts,
    /// Event sequences drawn ahead for this process's transactions.
    events: event_numbers::EventNumbers,
    /// The appends to announce to other instances, one announcement at a time.
    announcer: Arc<append_news::Announcer>,
}

/// [`WriteConflicts`] as the writers count them.
#[derive(Debug, Default)]
struct ConflictCounts {
    retries: AtomicU64,
    retried: AtomicU64,
    given_up: AtomicU64,
}

impl ConflictCounts {
    /// One write transaction ended (committed, failed or given up) after `attempts` runs:
    /// each run but the last conflicted and was run again.
    fn count(&self, attempts: u32, given_up: bool) {
        let retries = u64::from(attempts.saturating_sub(1));
        if retries > 0 {
            self.retries.fetch_add(retries, Ordering::Relaxed);
            self.retried.fetch_add(1, Ordering::Relaxed);
        }
        if given_up {
            self.given_up.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("pool", &self.pool.status())
            .finish_non_exhaustive()
    }
}

/// Applies the missing migrations to the database at `url` (TLS trusting `ca_file`'s CAs when
/// given, see [`connect::tls`]); returns the versions applied.
pub async fn migrate(url: &str, ca_file: Option<&std::path::Path>) -> Result<Vec<i64>> {
    let (config, tls) = connect::settings(url, ca_file)?;
    let (mut client, connection) = config.connect(tls).await.map_err(StoreError::Postgres)?;
    let task = tokio::spawn(connection);
    let applied = migrate::apply(&mut client).await;
    drop(client);
    // The connection ends once the client is gone; its own error changes nothing now.
    let _closed = task.await;
    applied
}

impl PgStore {
    /// Connects a pool of up to `pool_size` connections to `url` and applies the missing
    /// migrations. Must be called inside a tokio runtime, whose handle the store keeps.
    pub async fn connect(url: &str, pool_size: usize) -> Result<Self> {
        Self::open(url, pool_size, None, true).await
    }

    /// [`Self::connect`] with TLS trusting the CA certificates of `ca_file` alone, when given
    /// (`store.tls_ca_file`), rather than Mozilla's roots.
    pub async fn connect_trusting(
        url: &str,
        pool_size: usize,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self> {
        Self::open(url, pool_size, ca_file, true).await
    }

    /// [`Self::connect`] for an operator's tool: applies no migration, and fails with
    /// [`StoreError::SchemaNotCurrent`] unless the database has exactly this binary's schema
    /// (instances of another version may be running on it, and a dry run changes nothing).
    pub async fn connect_current(
        url: &str,
        pool_size: usize,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self> {
        Self::open(url, pool_size, ca_file, false).await
    }

    /// A pool on `url`, TLS trusting `ca_file` when given; with `migrate`, the missing
    /// migrations applied, else the schema checked.
    async fn open(
        url: &str,
        pool_size: usize,
        ca_file: Option<&std::path::Path>,
        migrate: bool,
    ) -> Result<Self> {
        let (config, tls) = connect::settings(url, ca_file)?;
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .recycle_timeout(Some(POOL_WAIT))
            .build()
            .map_err(StoreError::PoolBuild)?;
        let mut client = pool.get().await.map_err(StoreError::Pool)?;
        if migrate {
            migrate::apply(&mut client).await?;
        } else {
            migrate::check_current(&client).await?;
        }
        drop(client);
        Ok(Self {
            pool,
            handle: Handle::current(),
            lease: lease::Lease::new(config, tls),
            conflicts: ConflictCounts::default(),
            events: event_numbers::EventNumbers::default(),
            announcer: Arc::default(),
        })
    }

    /// Marks the database as used by this process alone, for an operator's tool that must
    /// not run beside the service (`group reset-offsets`): `false` while any instance runs.
    /// Held for as long as this store lives.
    pub fn claim_exclusive(&self) -> Result<bool> {
        allow_blocking(|| self.lease.claim_exclusive(&self.handle))
    }

    fn client(&self) -> Result<deadpool_postgres::Object> {
        self.handle
            .block_on(self.pool.get())
            .map_err(StoreError::Pool)
    }
}

/// A short, growing, jittered pause between attempts, so contenders spread out.
fn backoff(attempt: u32) {
    let jitter = getrandom::u32().unwrap_or(0) % 1_000;
    let micros = 500 * u64::from(attempt.min(20)) + u64::from(jitter);
    std::thread::sleep(Duration::from_micros(micros));
}

/// Runs `f`, which blocks on the driver, where blocking is allowed. This is a guard, not the
/// normal path: every store call in the service runs on a `spawn_blocking` thread (or a thread
/// of its own), where `f` just runs. The `Store` trait is synchronous, so nothing stops a
/// future caller from using it inline from async code on a runtime worker; such a call goes
/// through `block_in_place`, which hands the worker's other tasks to another thread first,
/// instead of panicking in `Handle::block_on`.
fn allow_blocking<T>(f: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

impl Store for PgStore {
    fn read(&self, f: &mut dyn FnMut(&dyn ReadTxn) -> Result<()>) -> Result<()> {
        allow_blocking(|| self.read_blocking(f))
    }

    fn write(&self, f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<()>) -> Result<()> {
        allow_blocking(|| self.write_blocking(txn::BEGIN_SERIALIZABLE, f))
    }

    fn write_at_snapshot(&self, f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<()>) -> Result<()> {
        allow_blocking(|| self.write_blocking(txn::BEGIN_SNAPSHOT, f))
    }

    fn relay_lease(&self) -> Result<Option<crate::store::RelayLease>> {
        allow_blocking(|| self.lease.check(&self.handle))
    }

    fn relay_lease_shared(&self) -> bool {
        true
    }

    fn release_relay_lease(&self) -> Result<()> {
        allow_blocking(|| self.lease.release(&self.handle))
    }

    fn wake_on_outbox_commits(&self, wake: std::sync::Arc<tokio::sync::Notify>) {
        self.lease.wake_on_outbox_commits(wake);
    }

    fn append_news(&self) -> Option<&dyn crate::store::AppendNews> {
        Some(self)
    }

    fn write_conflicts(&self) -> Option<WriteConflicts> {
        let c = &self.conflicts;
        Some(WriteConflicts {
            retries: c.retries.load(Ordering::Relaxed),
            retried: c.retried.load(Ordering::Relaxed),
            given_up: c.given_up.load(Ordering::Relaxed),
        })
    }
}

impl PgStore {
    fn read_blocking(&self, f: &mut dyn FnMut(&dyn ReadTxn) -> Result<()>) -> Result<()> {
        let client = self.client()?;
        // Ended by its drop: a read keeps nothing, so nothing waits for the `ROLLBACK`.
        let txn = PgTxn::new(&self.handle, &client, txn::BEGIN_READ, &self.events);
        let outcome = f(&txn);
        match (outcome, txn.failure()) {
            (Err(e), _) => Err(e),
            (Ok(()), Some(_)) => Err(StoreError::TxnFailed),
            (Ok(()), None) => Ok(()),
        }
    }

    /// Runs `f` in transactions begun with `begin` until it commits, fails for a reason other
    /// than a conflict, or every one of [`ATTEMPTS`] conflicted; counts the conflicts.
    fn write_blocking(
        &self,
        begin: &'static str,
        f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<()>,
    ) -> Result<()> {
        let client = self.client()?;
        let mut attempts = 0;
        let result = self.write_attempts(&client, begin, f, &mut attempts);
        let given_up = matches!(result, Err(StoreError::Contended { .. }));
        self.conflicts.count(attempts, given_up);
        result
    }

    /// [`PgStore::write_blocking`]'s loop; `attempts` says how many runs of `f` began.
    fn write_attempts(
        &self,
        client: &deadpool_postgres::Object,
        begin: &'static str,
        f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<()>,
        attempts: &mut u32,
    ) -> Result<()> {
        for attempt in 1..=ATTEMPTS {
            *attempts = attempt;
            let mut txn = PgTxn::new(&self.handle, client, begin, &self.events);
            let outcome = f(&mut txn).and_then(|()| txn.commit());
            let failure = txn.failure();
            // Rolls back what did not commit; the next attempt's `BEGIN` follows it.
            drop(txn);
            match (failure, outcome) {
                (None, Ok(())) => return Ok(()),
                (Some(Failure::Retry), _) => {}
                // The closure went on after the write that broke the rule, or said it failed.
                (Some(Failure::Conflict(field)), Ok(()) | Err(StoreError::TxnFailed)) => {
                    return Err(StoreError::Conflict { field });
                }
                (_, Ok(())) => return Err(StoreError::TxnFailed),
                (_, Err(e)) => return Err(e),
            }
            backoff(attempt);
        }
        Err(StoreError::Contended { attempts: ATTEMPTS })
    }
}

#[cfg(test)]
mod tests;
