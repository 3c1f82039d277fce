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
        Some(bytes) => decode(table, &bytes).map(Some),
    }
}

/// Decodes a value of `table` (one a range read returned).
pub fn decode<T: DeserializeOwned>(table: Table, bytes: &[u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|source| StoreError::Decode {
        table: table.name(),
        source,
    })
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
