//! The embedded transactional store: users, sessions, outbox, consumer offsets, dedupe state.
//!
//! Two layers, so that a PostgreSQL backend later is a new implementation of one small trait:
//!
//! ```text
//!  domain code (users, outbox, offsets, dedupe) ── typed get/put (postcard) ──┐
//!                                                                            ▼
//!  Store::read / Store::write(closure over ReadTxn / WriteTxn) ── backend: redb (one file)
//! ```
//!
//! Everything a closure does in [`Store::write`] commits atomically and durably (fsync) or not
//! at all: a mutation's user row and its outbox event, or a consumer batch's offset, dedupe
//! marks and effects, are never half-written. A closure may run more than once if a backend
//! retries, so it must not have side effects outside the transaction.
//!
//! The PostgreSQL backend lives in the top-level `pgstore` module (it maps each table onto a typed SQL table,
//! so it needs the domain's row types, which this module must not import).
mod append_news;
pub mod counters;
mod error;
mod ext;
#[cfg(test)]
pub(crate) mod intercepted;
mod redb_layout;
mod redb_read_only;
mod redb_store;
/// The backend-independent store tests, run on every backend (test builds only, never in the
/// binary).
#[cfg(any(test, feature = "fixtures"))]
#[doc(hidden)]
pub mod suite;
mod table;
mod typed;

pub use append_news::{AppendNews, Appended, Hear};
pub use error::StoreError;
pub use ext::StoreExt;
pub use redb_read_only::ReadOnlyRedbStore;
pub use redb_store::RedbStore;
pub use table::Table;
pub use typed::{decode, get, put};

/// `Result` with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Reads inside a transaction.
pub trait ReadTxn {
    /// The value of `key`, if any.
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Reads `rows` (table and key) ahead of the [`ReadTxn::get`]s that will ask for them,
    /// where a backend pays a round trip per read: PostgreSQL reads them in one. A hint: a
    /// row that cannot be read ahead is left to its `get`, which fails as it would have
    /// without it; only a failure of the store itself fails this. The default, for a local
    /// store, does nothing.
    fn read_ahead(&self, rows: &[(Table, &[u8])]) -> Result<()> {
        let _ = rows;
        Ok(())
    }
    /// Up to `limit` entries with keys `>= start`, in key order.
    fn range_from(
        &self,
        table: Table,
        start: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
    /// Up to `limit` entries with keys `>= start`, in key order, ending with the one whose
    /// size brings theirs to `max_bytes` or past (the first is always read), so that a read
    /// of large rows holds about `max_bytes` of them. The size is the backend's measure of a
    /// value, at most its length as read (PostgreSQL measures an outbox row by its key, value
    /// and header values). The default reads [`ReadTxn::range_from`] and cuts it by length.
    fn range_within(
        &self,
        table: Table,
        start: &[u8],
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        cut_by_length(self, table, start, limit, max_bytes)
    }
    /// Entries in the table.
    fn count(&self, table: Table) -> Result<u64>;
    /// Up to `limit` entries whose keys start with `prefix`, in key order. The default reads
    /// [`ReadTxn::range_from`] and stops at the first key without the prefix; a backend may
    /// read only the prefix's own rows instead (PostgreSQL does for one user's sessions, so
    /// that its read locks do not cover other users' rows).
    fn range_prefix(
        &self,
        table: Table,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        prefix_by_range(self, table, prefix, limit)
    }
}

/// Reads and writes inside a transaction.
pub trait WriteTxn: ReadTxn {
    /// Sets `key` to `value`.
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()>;
    /// Removes `key`; whether it was there.
    fn delete(&mut self, table: Table, key: &[u8]) -> Result<bool>;
    /// Whether `key` is absent from `table`, asked by a transaction that goes on to claim it
    /// (a new user's name and e-mail address). This default reads it. A backend whose unique
    /// index refuses a second claim when the claiming row is written may answer `true` without
    /// reading; the write then fails with [`StoreError::Conflict`] (PostgreSQL does this for
    /// [`Table::Usernames`] and [`Table::Emails`]).
    fn is_free(&self, table: Table, key: &[u8]) -> Result<bool> {
        Ok(self.get(table, key)?.is_none())
    }
    /// Removes every key of `keys`; how many were there. A backend may do it in one
    /// statement (PostgreSQL does for the outbox tables, whose rows the relay deletes a round
    /// at a time); this default deletes them one by one.
    fn delete_many(&mut self, table: Table, keys: &[Vec<u8>]) -> Result<u64> {
        delete_each(self, table, keys)
    }
    /// Moves the rows `keys` names from `from` to `to` as they are stored (the outbox rows the
    /// relay parks); how many moved. This default reads each and writes it back; a backend
    /// that stores a row as columns may move it without reading it into a value (PostgreSQL
    /// does for the outbox tables, so that a row whose columns do not read as a record, which
    /// is why it is parked, moves all the same).
    fn move_rows(&mut self, from: Table, to: Table, keys: &[Vec<u8>]) -> Result<u64> {
        move_each(self, from, to, keys)
    }
    /// Makes this transaction's commit cost what a write's does even when it writes nothing:
    /// for a transaction whose cost must not tell whether it wrote (a login of an unknown
    /// account, beside a wrong password's event). The default does nothing: redb commits a
    /// write transaction with an fsync once it put or deleted a row (one that only read is
    /// aborted), and the login of an unknown account writes the event counter as a wrong
    /// password's does. PostgreSQL sends nothing for a transaction
    /// that wrote nothing, so it takes the outbox lock, as an outbox write does, and a
    /// transaction id, whose commit is a round trip and a WAL flush as a write's is.
    fn commit_as_a_write(&mut self) -> Result<()> {
        Ok(())
    }
    /// The next event sequence (the `ce_sequence` of a record we publish), taken in this
    /// transaction: never given out twice, so that no two records of one producer id share a
    /// dedupe key. An aborted transaction may give its number back or leave a gap. This
    /// default reads and rewrites a counter row in [`Table::Meta`] ([`counters`]).
    fn next_event_sequence(&mut self) -> Result<u64> {
        counters::next(self, counters::EVENT)
    }
    /// Writes `value` (an encoded outbox record) to [`Table::Outbox`] under the next outbox
    /// sequence, big-endian. The sequences of committed rows are allocated in commit order: a
    /// reader that has seen sequence n never later sees a smaller one appear (there may be
    /// gaps). This default takes the number from a counter row in [`Table::Meta`], which is
    /// commit order where write transactions run one at a time (redb). The row may not be
    /// visible to reads later in the same transaction (PostgreSQL writes it at commit).
    fn append_outbox(&mut self, value: &[u8]) -> Result<()> {
        counters::append_outbox(self, value)
    }
}

/// Moves the rows of `keys` from `from` to `to` one by one, read and written back; how many
/// were there. [`WriteTxn::move_rows`]'s default, and what a backend does for the tables it
/// has no single statement for.
pub fn move_each<T: WriteTxn + ?Sized>(
    txn: &mut T,
    from: Table,
    to: Table,
    keys: &[Vec<u8>],
) -> Result<u64> {
    let mut moved = 0;
    for key in keys {
        if let Some(row) = txn.get(from, key)? {
            txn.put(to, key, &row)?;
            txn.delete(from, key)?;
            moved += 1;
        }
    }
    Ok(moved)
}

/// Deletes `keys` one by one; how many were there. [`WriteTxn::delete_many`]'s default, and
/// what a backend does for the tables it has no single statement for.
pub fn delete_each<T: WriteTxn + ?Sized>(
    txn: &mut T,
    table: Table,
    keys: &[Vec<u8>],
) -> Result<u64> {
    let mut deleted = 0;
    for key in keys {
        deleted += u64::from(txn.delete(table, key)?);
    }
    Ok(deleted)
}

/// Up to `limit` entries of `table` whose keys start with `prefix`, read with
/// [`ReadTxn::range_from`]: [`ReadTxn::range_prefix`]'s default, and what a backend does for
/// the prefixes it has no narrower statement for.
pub fn prefix_by_range<T: ReadTxn + ?Sized>(
    txn: &T,
    table: Table,
    prefix: &[u8],
    limit: usize,
) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut rows = txn.range_from(table, prefix, limit)?;
    let end = rows
        .iter()
        .position(|(k, _)| !k.starts_with(prefix))
        .unwrap_or(rows.len());
    rows.truncate(end);
    Ok(rows)
}

/// [`ReadTxn::range_from`] cut to the entries a read within `max_bytes` keeps, measuring a
/// value by its length: the default of [`ReadTxn::range_within`].
pub fn cut_by_length<T: ReadTxn + ?Sized>(
    txn: &T,
    table: Table,
    start: &[u8],
    limit: usize,
    max_bytes: usize,
) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut rows = txn.range_from(table, start, limit)?;
    rows.truncate(within(rows.iter().map(|(_, v)| v.len()), max_bytes));
    Ok(rows)
}

/// How many of the entries of `sizes` a read within `max_bytes` keeps
/// ([`ReadTxn::range_within`]): those before the sizes reach it, and the one that does.
pub fn within(sizes: impl IntoIterator<Item = usize>, max_bytes: usize) -> usize {
    let mut total = 0usize;
    let mut kept = 0;
    for size in sizes {
        if total >= max_bytes && kept > 0 {
            break;
        }
        total = total.saturating_add(size);
        kept += 1;
    }
    kept
}

/// A transactional store. See the module docs.
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Runs `f` in a read transaction (a consistent snapshot).
    fn read(&self, f: &mut dyn FnMut(&dyn ReadTxn) -> Result<()>) -> Result<()>;
    /// Runs `f` in a write transaction and commits it durably if `f` returns `Ok`; an `Err`
    /// aborts it and nothing `f` wrote is kept.
    fn write(&self, f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<()>) -> Result<()>;
    /// Runs `f` as [`Store::write`] does, for a transaction that snapshot isolation keeps
    /// free of write skew: every row whose value decides what it does is a row it writes as
    /// well (a writer of that row that commits after its snapshot conflicts with it at any
    /// isolation), and the other rows it reads (a user's e-mail address) are written only by
    /// transactions that read nothing it writes. A backend may run it at snapshot isolation,
    /// where its reads do not make concurrent writers fail to serialize. PostgreSQL does
    /// (REPEATABLE READ): at SERIALIZABLE, reads of absent keys lock whole index pages, and
    /// transactions that insert at the same end of an index (the outbox's sequences, the
    /// dedupe marks and event-log entries of time-ordered event ids) failed to serialize
    /// against each other and ran again. Two kinds use it:
    /// - the relay removing the outbox rows it published;
    /// - a consumer batch: the fence it checks it writes back (`consumer::fence::check`), and
    ///   its offset, dedupe marks, event-log counts and users' handler state are rows it
    ///   writes (a mark or count written by a batch of another partition since its snapshot
    ///   conflicts with its own write of it).
    fn write_at_snapshot(&self, f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<()>) -> Result<()> {
        self.write(f)
    }
    /// Why this process can no longer use the store, when it cannot (a redb file after an I/O
    /// error or a commit that failed part-way: only opening it again, a restart, mends that). `GET /health` fails with it, and
    /// the service stops (`service::run`), so that a supervisor starts it again. `None` for a
    /// store that mends itself (PostgreSQL reconnects).
    fn failed(&self) -> Option<String> {
        None
    }
    /// The outbox relay lease when this instance holds it now: only its holder publishes, so
    /// two instances sharing a store never relay the same rows at once and the order of the
    /// rows is kept. Called before every relay round; it takes the lease when free and renews
    /// it when held. A store used by one process only (redb) always holds it, for good, and
    /// answers without I/O: the relay asks it on its own task, and asks a shared store
    /// ([`relay_lease_shared`](Self::relay_lease_shared)) on the blocking pool.
    fn relay_lease(&self) -> Result<Option<RelayLease>> {
        let now = tokio::time::Instant::now();
        let year = std::time::Duration::from_secs(86_400 * 365);
        Ok(Some(RelayLease {
            epoch: 1,
            until: now.checked_add(year).unwrap_or(now),
        }))
    }

    /// Whether other processes may relay this store's outbox ([`Store::relay_lease`] is
    /// shared): only then does a relay that cannot read the outbox step aside for them, and
    /// only then is the lease asked on the blocking pool. A store used by one process only
    /// (redb) is not: its `relay_lease` must answer without blocking (a wrapper that passes
    /// `relay_lease` through passes this through too).
    fn relay_lease_shared(&self) -> bool {
        false
    }

    /// Gives the relay lease up, when held, at a graceful stop (the relay settled everything
    /// it handed over): the next process to ask relays under it at once. A store used by one
    /// process only (redb): nothing to do.
    fn release_relay_lease(&self) -> Result<()> {
        Ok(())
    }

    /// Wakes `wake` whenever another process sharing this store commits outbox rows, so that
    /// the relay lease holder relays them at once rather than on its next idle poll. A store
    /// used by one process only (redb) has no other writers: nothing to do. Call it before
    /// the first [`relay_lease`](Self::relay_lease).
    fn wake_on_outbox_commits(&self, wake: std::sync::Arc<tokio::sync::Notify>) {
        let _ = wake;
    }

    /// How the instances sharing this store tell each other of their appends to Kafka; none
    /// for a store of one process (redb).
    fn append_news(&self) -> Option<&dyn AppendNews> {
        None
    }

    /// How often write transactions conflicted and ran again, since the store opened; `None`
    /// where writers never conflict (redb runs one write transaction at a time).
    fn write_conflicts(&self) -> Option<WriteConflicts> {
        None
    }
}

/// Write transactions that failed to serialize with concurrent ones (or deadlocked) and ran
/// again on a fresh snapshot, counted since the store opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteConflicts {
    /// Runs of a write transaction after its first, each after a conflict.
    pub retries: u64,
    /// Write transactions that needed more than one attempt.
    pub retried: u64,
    /// Write transactions given up after every attempt conflicted ([`StoreError::Contended`]).
    pub given_up: u64,
}

impl WriteConflicts {
    /// What was counted after `earlier`, a reading of the same counts.
    pub fn since(self, earlier: Self) -> Self {
        Self {
            retries: self.retries.saturating_sub(earlier.retries),
            retried: self.retried.saturating_sub(earlier.retried),
            given_up: self.given_up.saturating_sub(earlier.given_up),
        }
    }
}

/// The outbox relay lease as its holder sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayLease {
    /// Changes with every hand-over (and when a holder takes it again after it expired): the
    /// same epoch in two checks means the lease was held without a break in between.
    pub epoch: u64,
    /// Until when the lease is held for sure, by this process's monotonic clock. Past it the
    /// holder may have lost it (another instance may hold it) and publishes nothing.
    pub until: tokio::time::Instant,
}

#[cfg(test)]
mod tests;
