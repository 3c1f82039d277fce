//! The store side of a reset: the service's store, not Kafka, decides where its consumer
//! resumes (offsets commit with their effects, see [`crate::consumer`]), so a reset writes the
//! new offsets there too, under the consumer's own keys; and with `--replay` it deletes the
//! dedupe marks of the records to be read again.
use std::path::Path;

use crate::{
    consumer::process::{offset_key, stored_offset},
    store::{self, RedbStore, StoreError, StoreExt, Table},
};

use super::GroupError;

/// The store file in `dir`, as the service opens it. `None` when `create` is false and there is
/// no store yet. Refused with [`GroupError::StoreInUse`] while the service holds it.
pub fn open(dir: &Path, create: bool) -> Result<Option<RedbStore>, GroupError> {
    if !create && !dir.join("usercenter.redb").exists() {
        return Ok(None);
    }
    match RedbStore::open(dir) {
        Ok(s) => Ok(Some(s)),
        Err(StoreError::Open {
            path,
            source: redb::Error::DatabaseAlreadyOpen,
        }) => Err(GroupError::StoreInUse(path)),
        Err(e) => Err(GroupError::Store(e)),
    }
}

/// The stored next offset of each of `partitions` of `topic`.
pub fn offsets(
    store: &RedbStore,
    topic: &str,
    partitions: &[i32],
) -> Result<Vec<Option<i64>>, GroupError> {
    store.read_with(|txn| {
        partitions
            .iter()
            .map(|&p| Ok(stored_offset(txn, topic, p)?))
            .collect()
    })
}

/// Sets the stored offsets of `topic`, all in one transaction.
pub fn set_offsets(
    store: &RedbStore,
    topic: &str,
    offsets: &[(i32, i64)],
) -> Result<(), GroupError> {
    store.write_with(|txn| {
        for &(p, offset) in offsets {
            store::put(txn, Table::Offsets, &offset_key(topic, p), &offset)?;
        }
        Ok(())
    })
}

/// Deletes the dedupe marks `keys`; how many there were.
pub fn forget_marks(store: &RedbStore, keys: &[Vec<u8>]) -> Result<u64, GroupError> {
    store.write_with(|txn| {
        let mut deleted = 0;
        for key in keys {
            deleted += u64::from(txn.delete(Table::Dedupe, key)?);
        }
        Ok(deleted)
    })
}
