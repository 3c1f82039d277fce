//! The default backend: one redb file (pure Rust, ACID, copy-on-write B-trees, fsync on commit).
use std::{cell::RefCell, path::Path};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::{ReadTxn, Result, Store, StoreError, Table, WriteTxn};

fn def(table: Table) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(table.name())
}

fn backend(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Backend(e.into())
}

/// Page cache of the store file.
const CACHE_BYTES: usize = 32 << 20;

/// The redb store.
#[derive(Debug)]
pub struct RedbStore {
    db: Database,
    /// The first I/O error of the file (a full disk, EIO), once one happened: redb then
    /// fails every later transaction of this handle ([`redb::Error::PreviousIo`]) until the
    /// file is opened again, which is a restart of the process ([`Store::failed`]).
    failed: std::sync::OnceLock<String>,
}

/// Whether `e` leaves the file unusable until it is opened again.
fn is_io(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Backend(
            redb::Error::Io(_) | redb::Error::PreviousIo | redb::Error::DatabaseClosed
        )
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
        // Create every table once, so readers never meet a missing one.
        let txn = db.begin_write().map_err(|e| open_error(e.into()))?;
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
    /// Runs `transaction`; notes its error when it is the file's first I/O error, and says so.
    fn noting(&self, transaction: impl FnOnce() -> Result<()>) -> Result<()> {
        let outcome = transaction();
        if let Err(e) = &outcome
            && is_io(e)
            && self.failed.set(e.to_string()).is_ok()
        {
            tracing::error!(error = %e, "store: the redb file failed with an I/O error; no write succeeds until it is opened again (GET /health answers 503, and the service stops)");
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

struct Read<'a>(&'a redb::ReadTransaction);

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
            let txn = self.db.begin_read().map_err(backend)?;
            f(&Read(&txn))
        })
    }

    fn write(&self, f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<()>) -> Result<()> {
        self.noting(|| {
            let txn = self.db.begin_write().map_err(backend)?;
            // The open tables borrow the transaction: drop them before committing.
            let (outcome, wrote) = {
                let mut write = Write::new(&txn);
                (f(&mut write), write.wrote)
            };
            match outcome {
                Ok(()) if wrote => txn.commit().map_err(backend),
                // Read only (a profile update that changes nothing): no fsync.
                Ok(()) => txn.abort().map_err(backend),
                Err(e) => {
                    txn.abort().map_err(backend)?;
                    Err(e)
                }
            }
        })
    }

    fn failed(&self) -> Option<String> {
        self.failed.get().cloned()
    }
}

/// A redb store file opened read-only: for a look that must change nothing (a dry run of
/// `usercenter group reset-offsets`). Nothing is created, moved or repaired; every write fails
/// with [`StoreError::ReadOnly`].
pub struct ReadOnlyRedbStore {
    db: redb::ReadOnlyDatabase,
}

impl std::fmt::Debug for ReadOnlyRedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOnlyRedbStore").finish_non_exhaustive()
    }
}

impl ReadOnlyRedbStore {
    /// Opens the store file [`RedbStore::FILE`] in `dir`, which must exist. A file the last
    /// process did not close (it was killed) needs a repair, which only [`RedbStore::open`]
    /// makes: [`redb::Error::RepairAborted`] here.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(RedbStore::FILE);
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .open_read_only(&path)
            .map_err(|e| StoreError::Open {
                path,
                source: e.into(),
            })?;
        Ok(Self { db })
    }
}

impl Store for ReadOnlyRedbStore {
    fn read(&self, f: &mut dyn FnMut(&dyn ReadTxn) -> Result<()>) -> Result<()> {
        let txn = self.db.begin_read().map_err(backend)?;
        f(&Read(&txn))
    }

    fn write(&self, _: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<()>) -> Result<()> {
        Err(StoreError::ReadOnly)
    }
}
