//! The default backend: one redb file (pure Rust, ACID, copy-on-write B-trees, fsync on commit).
use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::{ReadTxn, Result, Store, StoreError, Table, WriteTxn};

fn def(table: Table) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(table.name())
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// The redb store.
#[derive(Debug)]
pub struct RedbStore {
    db: Database,
}

impl RedbStore {
    /// Opens (or creates) the store file `usercenter.redb` in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join("usercenter.redb");
        let open_error = |reason: String| StoreError::Open {
            path: path.display().to_string(),
            reason,
        };
        std::fs::create_dir_all(dir).map_err(|e| open_error(e.to_string()))?;
        let db = Database::create(&path).map_err(|e| open_error(e.to_string()))?;
        // Create every table once, so readers never meet a missing one.
        let txn = db.begin_write().map_err(|e| open_error(e.to_string()))?;
        for table in Table::ALL {
            txn.open_table(def(table))
                .map_err(|e| open_error(e.to_string()))?;
        }
        txn.commit().map_err(|e| open_error(e.to_string()))?;
        Ok(Self { db })
    }
}

struct Read<'a>(&'a redb::ReadTransaction);
struct Write<'a>(&'a redb::WriteTransaction);

macro_rules! read_ops {
    ($open:expr) => {
        fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
            let t = $open(self, table)?;
            Ok(t.get(key).map_err(backend)?.map(|v| v.value().to_vec()))
        }

        fn range_from(
            &self,
            table: Table,
            start: &[u8],
            limit: usize,
        ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
            let t = $open(self, table)?;
            let mut out = Vec::new();
            for entry in t.range(start..).map_err(backend)?.take(limit) {
                let (k, v) = entry.map_err(backend)?;
                out.push((k.value().to_vec(), v.value().to_vec()));
            }
            Ok(out)
        }

        fn count(&self, table: Table) -> Result<u64> {
            $open(self, table)?.len().map_err(backend)
        }
    };
}

impl ReadTxn for Read<'_> {
    read_ops!(|s: &Self, table| s.0.open_table(def(table)).map_err(backend));
}

impl ReadTxn for Write<'_> {
    read_ops!(|s: &Self, table| s.0.open_table(def(table)).map_err(backend));
}

impl WriteTxn for Write<'_> {
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        let mut t = self.0.open_table(def(table)).map_err(backend)?;
        t.insert(key, value).map_err(backend)?;
        Ok(())
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<bool> {
        let mut t = self.0.open_table(def(table)).map_err(backend)?;
        Ok(t.remove(key).map_err(backend)?.is_some())
    }
}

impl Store for RedbStore {
    fn read(&self, f: &mut dyn FnMut(&dyn ReadTxn) -> Result<()>) -> Result<()> {
        let txn = self.db.begin_read().map_err(backend)?;
        f(&Read(&txn))
    }

    fn write(&self, f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<()>) -> Result<()> {
        let txn = self.db.begin_write().map_err(backend)?;
        let outcome = f(&mut Write(&txn));
        match outcome {
            Ok(()) => txn.commit().map_err(backend),
            Err(e) => {
                txn.abort().map_err(backend)?;
                Err(e)
            }
        }
    }
}
