//! The store side of a reset: the service's store, not Kafka, decides where its consumer
//! resumes (offsets commit with their effects, see [`crate::consumer`]), so a reset writes the
//! new offsets there too, under the consumer's own keys; and with `--replay` it deletes the
//! dedupe marks of the records to be read again.
use std::sync::Arc;

use crate::{
    config::{StoreBackend, StoreConfig},
    consumer::{
        fence,
        process::{put_offset, stored_offset},
    },
    pgstore::PgStore,
    store::{ReadOnlyRedbStore, RedbStore, Store, StoreError, StoreExt, Table},
};

use super::GroupCommandError;

/// The service's store as its configuration names it (the redb file in `data_dir`, or the
/// PostgreSQL database at `url`). Without `exclusive` (a dry run), the redb file read-only. With
/// `exclusive` (about to write), held by this process alone:
/// [`GroupCommandError::StoreInUse`] while the service holds the redb file, and
/// [`GroupCommandError::DatabaseInUse`] while any instance runs on the database. For redb, `None` when
/// there is no store file: none is created (the caller decides what that means).
pub async fn open(
    config: &StoreConfig,
    exclusive: bool,
) -> Result<Option<Arc<dyn Store>>, GroupCommandError> {
    match config.backend {
        StoreBackend::Postgres => {
            // No migration: instances of another version may run on the database, and a dry
            // run changes nothing.
            let pg =
                PgStore::connect_current(&config.url, 2, config.tls_ca_file.as_deref()).await?;
            // About to write: no instance may relay beside it (whether it joins a group or
            // reads its partitions statically).
            if exclusive && !pg.claim_exclusive()? {
                return Err(GroupCommandError::DatabaseInUse);
            }
            Ok(Some(Arc::new(pg)))
        }
        StoreBackend::Redb => open_redb(&config.data_dir, !exclusive),
    }
}

/// The redb store in `dir`, for writing, or read-only (`read_only`, a dry run: nothing
/// created, migrated or repaired). `None` when there is no store file: none is created.
pub(super) fn open_redb(
    dir: &std::path::Path,
    read_only: bool,
) -> Result<Option<Arc<dyn Store>>, GroupCommandError> {
    if !dir.join(RedbStore::FILE).exists() {
        return Ok(None);
    }
    let store: Arc<dyn Store> = if read_only {
        Arc::new(ReadOnlyRedbStore::open(dir).map_err(open_failed)?)
    } else {
        Arc::new(RedbStore::open(dir).map_err(open_failed)?)
    };
    Ok(Some(store))
}

/// Why a redb store did not open, as the operator needs to hear it: held by a running service,
/// or (read-only) left needing a repair.
fn open_failed(e: StoreError) -> GroupCommandError {
    match e {
        StoreError::Open {
            path,
            source: redb::Error::DatabaseAlreadyOpen,
        } => GroupCommandError::StoreInUse(path),
        StoreError::Open {
            path,
            source: redb::Error::RepairAborted,
        } => GroupCommandError::NeedsRepair(path),
        e => GroupCommandError::Store(e),
    }
}

/// The stored next offset of each of `partitions` of `topic`.
pub fn offsets(
    store: &dyn Store,
    topic: &str,
    partitions: &[i32],
) -> Result<Vec<Option<i64>>, GroupCommandError> {
    store.read_with(|txn| {
        partitions
            .iter()
            .map(|&p| Ok(stored_offset(txn, topic, p)?))
            .collect()
    })
}

/// Sets the stored offsets of `topic` and claims their partitions for the operator
/// ([`fence::OPERATOR`]), all in one transaction.
pub fn set_offsets(
    store: &dyn Store,
    topic: &str,
    offsets: &[(i32, i64)],
) -> Result<(), GroupCommandError> {
    store.write_with(|txn| {
        for &(p, offset) in offsets {
            put_offset(txn, topic, p, offset)?;
            // A partition task of an instance started while the reset ran is fenced by this
            // claim rather than committing its old position over the new one; it starts
            // again from here.
            fence::claim(txn, topic, p, fence::OPERATOR)?;
        }
        Ok(())
    })
}

/// Deletes the dedupe marks `keys`; how many there were.
pub fn forget_marks(store: &dyn Store, keys: &[Vec<u8>]) -> Result<u64, GroupCommandError> {
    store.write_with(|txn| {
        let mut deleted = 0;
        for key in keys {
            deleted += u64::from(txn.delete(Table::Dedupe, key)?);
        }
        Ok(deleted)
    })
}
