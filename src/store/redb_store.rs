//! The default backend: one redb file (pure Rust, ACID, copy-on-write B-trees, fsync on commit).
use std::{cell::RefCell, path::Path};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::{ReadTxn, Result, Store, StoreError, Table, WriteTxn, redb_layout as layout};

pub(super) fn def(table: Table) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(table.name())
}

/// A backend error met inside a transaction; an I/O error, which leaves the file unusable, is
/// also noted for the transaction running on this thread ([`FATAL_IN_TXN`]). A page that reads
/// as corrupted here fails this transaction only: the ones that do not read it go on.
pub(super) fn backend(e: impl Into<redb::Error>) -> StoreError {
    noted(StoreError::Backend(e.into()), is_io)
}

/// A backend error of a transaction's begin, commit or abort, where corruption and a poisoned
/// lock also leave the file unusable ([`is_fatal`]), noted as [`backend`] notes.
fn ending(e: impl Into<redb::Error>) -> StoreError {
    noted(StoreError::Backend(e.into()), is_fatal)
}

fn noted(e: StoreError, fatal: fn(&StoreError) -> bool) -> StoreError {
    if fatal(&e) {
        FATAL_IN_TXN.with_borrow_mut(|seen| {
            seen.get_or_insert_with(|| e.to_string());
        });
    }
    e
}

thread_local! {
    /// The first error that left the file unusable in the transaction this thread runs: a
    /// closure may turn it into another error ([`super::StoreExt`] hands the backend only
    /// [`StoreError::Aborted`]), and it must still mark the store failed. A transaction and
    /// its closure run on one thread, without awaiting.
    static FATAL_IN_TXN: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Page cache of the store file.
pub(super) const CACHE_BYTES: usize = 32 << 20;

/// The redb store.
#[derive(Debug)]
pub struct RedbStore {
    db: Database,
    /// The first error that left the file unusable (a full disk, EIO, a commit that failed
    /// half-way), once one happened: redb then fails every later transaction of this handle
    /// ([`redb::Error::PreviousIo`], or `Corrupted` asking for the file to be opened again),
    /// until the file is opened again, which is a restart of the process ([`Store::failed`]).
    failed: std::sync::OnceLock<String>,
}

/// Whether `e` is an I/O error, after which redb fails every later transaction of the handle
/// (`PreviousIo`) until the file is opened again.
pub(super) fn is_io(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Backend(
            redb::Error::Io(_) | redb::Error::PreviousIo | redb::Error::DatabaseClosed
        )
    )
}

/// Whether `e`, from a transaction's begin, commit or abort, leaves the file unusable until it
/// is opened again: an I/O error ([`is_io`]), a commit that failed part-way (redb discards its
/// allocator state and refuses every later write as `Corrupted` until the file is opened
/// again, which repairs it), a lock poisoned by a panic inside redb.
pub(super) fn is_fatal(e: &StoreError) -> bool {
    is_io(e)
        || matches!(
            e,
            StoreError::Backend(redb::Error::Corrupted(_) | redb::Error::LockPoisoned(_))
        )
}

impl RedbStore {
    /// The store file's name in its directory.
    pub const FILE: &str = "usercenter.redb";

    /// Opens (or creates) the store file [`Self::FILE`] in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(Self::FILE);
        let open_error = |e: redb::Error| StoreError::Open {
            path: path.clone(),
            source: e,
        };
        std::fs::create_dir_all(dir).map_err(|e| open_error(e.into()))?;
        // redb caches up to 1 GiB by default; the service's memory bound wants far less.
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .set_repair_callback(repair_progress())
            .create(&path)
            .map_err(|e| open_error(e.into()))?;
        Self::prepare(db, path)
    }

    /// A store in `backend` (a test's), with no page cache: every read reaches the backend.
    #[cfg(test)]
    pub(super) fn in_backend(backend: impl redb::StorageBackend) -> Result<Self> {
        let db = redb::Builder::new()
            .set_cache_size(0)
            .create_with_backend(backend)
            .map_err(|e| StoreError::Backend(e.into()))?;
        Self::prepare(db, "(a test's backend)".into())
    }

    /// Checks the layout of the file `db` has open at `path`, and readies it.
    fn prepare(db: Database, path: std::path::PathBuf) -> Result<Self> {
        let open_error = |e: redb::Error| StoreError::Open {
            path: path.clone(),
            source: e,
        };
        let txn = db.begin_write().map_err(|e| open_error(e.into()))?;
        // The layout first: a file a newer release wrote is left as it is.
        {
            let mut meta = txn
                .open_table(def(layout::TABLE))
                .map_err(|e| open_error(e.into()))?;
            let stored = meta
                .get(layout::KEY)
                .map_err(|e| open_error(e.into()))?
                .map(|v| v.value().to_vec());
            match layout::judge(stored.as_deref()) {
                Err(found) => return Err(layout::refused(path, found)),
                Ok(layout::Verdict::Current) => {}
                Ok(layout::Verdict::Record) => {
                    meta.insert(layout::KEY, layout::current_row().as_slice())
                        .map_err(|e| open_error(e.into()))?;
                }
            }
        }
        // Create every table once, so readers never meet a missing one.
        for table in Table::ALL {
            txn.open_table(def(table))
                .map_err(|e| open_error(e.into()))?;
        }
        move_legacy_high_waters(&txn).map_err(open_error)?;
        txn.commit().map_err(|e| open_error(e.into()))?;
        Ok(Self {
            db,
            failed: std::sync::OnceLock::new(),
        })
    }
}

/// The progress of a repair, which redb runs when it opens a file the last process did not
/// close (SIGKILL, an OOM kill, a power cut): scans of the whole file before the service
/// listens, which on a large store is long enough to be taken for a hang. redb reports at its
/// stages (at the start, then at 30 %, 60 % and 90 %); each is said.
fn repair_progress() -> impl Fn(&mut redb::RepairSession) + 'static {
    |session| {
        tracing::warn!(
            progress_percent = (session.progress() * 100.0).round(),
            "store: repairing the redb file after an unclean stop; the service listens once it is done"
        );
    }
}

impl RedbStore {
    /// Runs `transaction`; notes the first error that left the file unusable, whether the
    /// transaction returned it or its closure turned it into another, and says so.
    fn noting(&self, transaction: impl FnOnce() -> Result<()>) -> Result<()> {
        FATAL_IN_TXN.set(None);
        let outcome = transaction();
        let fatal = FATAL_IN_TXN.take();
        if outcome.is_err()
            && let Some(why) = fatal
            && self.failed.set(why.clone()).is_ok()
        {
            tracing::error!(error = %why, "store: the redb file failed; no write succeeds until it is opened again (GET /health answers 503, and the service stops)");
        }
        outcome
    }
}

/// Moves the consumer's high waters that earlier versions kept in the offsets table (as
/// `h/topic/partition/producer`) into their own table (as `topic/partition/producer`), in the
/// transaction that opens the store; none are left after the first open, so later opens find
/// nothing to move. A legacy key has three `/` (a topic name has none); the offsets of a topic
/// named `h` (`h/partition`, one `/`) share its prefix and stay where they are.
fn move_legacy_high_waters(txn: &redb::WriteTransaction) -> Result<(), redb::Error> {
    let mut offsets = txn.open_table(def(Table::Offsets))?;
    let legacy: Vec<(Vec<u8>, Vec<u8>)> = offsets
        .range::<&[u8]>(&b"h/"[..]..&b"h0"[..])?
        .map(|entry| entry.map(|(k, v)| (k.value().to_vec(), v.value().to_vec())))
        .filter(|entry| {
            entry
                .as_ref()
                .map_or(true, |(k, _)| k.iter().filter(|&&b| b == b'/').count() == 3)
        })
        .collect::<Result<_, _>>()?;
    if legacy.is_empty() {
        return Ok(());
    }
    let mut high_waters = txn.open_table(def(Table::HighWaters))?;
    for (key, value) in &legacy {
        high_waters.insert(&key[2..], value.as_slice())?;
        offsets.remove(key.as_slice())?;
    }
    tracing::info!(
        moved = legacy.len(),
        "store: consumer high waters moved to their own table"
    );
    Ok(())
}

pub(super) struct Read<'a>(pub(super) &'a redb::ReadTransaction);

type BytesTable<'a> = redb::Table<'a, &'static [u8], &'static [u8]>;

/// A write transaction that opens each table once and keeps it open until the closure ends
/// (opening a redb table costs a catalogue lookup; a batch touches the same few tables
/// thousands of times).
struct Write<'a> {
    txn: &'a redb::WriteTransaction,
    open: RefCell<[Option<BytesTable<'a>>; Table::ALL.len()]>,
    /// Whether a row was put or deleted: a transaction that only read is not committed (a
    /// commit is an fsync, whatever it holds).
    wrote: bool,
}

impl<'a> Write<'a> {
    fn new(txn: &'a redb::WriteTransaction) -> Self {
        Self {
            txn,
            open: RefCell::new(std::array::from_fn(|_| None)),
            wrote: false,
        }
    }

    fn with<T>(&self, table: Table, f: impl FnOnce(&mut BytesTable<'a>) -> Result<T>) -> Result<T> {
        let mut open = self.open.borrow_mut();
        let slot = &mut open[table as usize];
        let t = match slot {
            Some(t) => t,
            None => slot.insert(self.txn.open_table(def(table)).map_err(backend)?),
        };
        f(t)
    }
}

impl ReadTxn for Read<'_> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let t = self.0.open_table(def(table)).map_err(backend)?;
        Ok(t.get(key).map_err(backend)?.map(|v| v.value().to_vec()))
    }

    fn range_from(
        &self,
        table: Table,
        start: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let t = self.0.open_table(def(table)).map_err(backend)?;
        collect_range(&t, start, limit, usize::MAX)
    }

    fn range_within(
        &self,
        table: Table,
        start: &[u8],
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let t = self.0.open_table(def(table)).map_err(backend)?;
        collect_range(&t, start, limit, max_bytes)
    }

    fn count(&self, table: Table) -> Result<u64> {
        self.0
            .open_table(def(table))
            .map_err(backend)?
            .len()
            .map_err(backend)
    }
}

/// Up to `limit` entries from `start` on, ending with the one whose value brings theirs to
/// `max_bytes` or past ([`ReadTxn::range_within`]); a value is copied only when it is kept.
fn collect_range(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    start: &[u8],
    limit: usize,
    max_bytes: usize,
) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut bytes = 0usize;
    for entry in t.range(start..).map_err(backend)?.take(limit) {
        if bytes >= max_bytes && !out.is_empty() {
            break;
        }
        let (k, v) = entry.map_err(backend)?;
        let value = v.value().to_vec();
        bytes = bytes.saturating_add(value.len());
        out.push((k.value().to_vec(), value));
    }
    Ok(out)
}

impl ReadTxn for Write<'_> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.with(table, |t| {
            Ok(t.get(key).map_err(backend)?.map(|v| v.value().to_vec()))
        })
    }

    fn range_from(
        &self,
        table: Table,
        start: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.with(table, |t| collect_range(t, start, limit, usize::MAX))
    }

    fn range_within(
        &self,
        table: Table,
        start: &[u8],
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.with(table, |t| collect_range(t, start, limit, max_bytes))
    }

    fn count(&self, table: Table) -> Result<u64> {
        self.with(table, |t| t.len().map_err(backend))
    }
}

impl WriteTxn for Write<'_> {
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        self.wrote = true;
        self.with(table, |t| t.insert(key, value).map(drop).map_err(backend))
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<bool> {
        self.wrote = true;
        self.with(table, |t| Ok(t.remove(key).map_err(backend)?.is_some()))
    }
}

impl Store for RedbStore {
    fn read(&self, f: &mut dyn FnMut(&dyn ReadTxn) -> Result<()>) -> Result<()> {
        self.noting(|| {
            let txn = self.db.begin_read().map_err(ending)?;
            f(&Read(&txn))
        })
    }

    fn write(&self, f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<()>) -> Result<()> {
        self.noting(|| {
            let txn = self.db.begin_write().map_err(ending)?;
            // The open tables borrow the transaction: drop them before committing.
            let (outcome, wrote) = {
                let mut write = Write::new(&txn);
                (f(&mut write), write.wrote)
            };
            match outcome {
                Ok(()) if wrote => txn.commit().map_err(ending),
                // Read only (a profile update that changes nothing): no fsync.
                Ok(()) => txn.abort().map_err(ending),
                Err(e) => {
                    txn.abort().map_err(ending)?;
                    Err(e)
                }
            }
        })
    }

    fn failed(&self) -> Option<String> {
        self.failed.get().cloned()
    }
}
