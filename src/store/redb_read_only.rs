//! A redb store file opened read-only: what an operator's dry run reads.
use std::path::Path;

use redb::ReadableDatabase;

use super::{
    ReadTxn, Result, Store, StoreError, WriteTxn, redb_layout as layout,
    redb_store::{CACHE_BYTES, Read, RedbStore, backend, def},
};

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
        let open_error = |e: redb::Error| StoreError::Open {
            path: path.clone(),
            source: e,
        };
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .open_read_only(&path)
            .map_err(|e| open_error(e.into()))?;
        let stored = {
            let txn = db.begin_read().map_err(|e| open_error(e.into()))?;
            match txn.open_table(def(layout::TABLE)) {
                Ok(meta) => meta
                    .get(layout::KEY)
                    .map_err(|e| open_error(e.into()))?
                    .map(|v| v.value().to_vec()),
                // A file no release wrote yet: nothing to read in it either.
                Err(redb::TableError::TableDoesNotExist(_)) => None,
                Err(e) => return Err(open_error(e.into())),
            }
        };
        if let Err(found) = layout::judge(stored.as_deref()) {
            return Err(layout::refused(path, found));
        }
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
