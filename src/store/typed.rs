//! postcard-encoded values on top of the byte tables.
use serde::{Serialize, de::DeserializeOwned};

use super::{ReadTxn, Result, StoreError, Table, WriteTxn};

/// Reads and decodes `key` from `table`.
pub fn get<T: DeserializeOwned>(
    txn: &(impl ReadTxn + ?Sized),
    table: Table,
    key: &[u8],
) -> Result<Option<T>> {
    match txn.get(table, key)? {
        None => Ok(None),
        Some(bytes) => {
            postcard::from_bytes(&bytes)
                .map(Some)
                .map_err(|source| StoreError::Decode {
                    table: table.name(),
                    source,
                })
        }
    }
}

/// Encodes and writes `value` at `key` in `table`.
pub fn put<T: Serialize>(
    txn: &mut (impl WriteTxn + ?Sized),
    table: Table,
    key: &[u8],
    value: &T,
) -> Result<()> {
    let bytes = postcard::to_allocvec(value).map_err(|source| StoreError::Encode {
        table: table.name(),
        source,
    })?;
    txn.put(table, key, &bytes)
}
