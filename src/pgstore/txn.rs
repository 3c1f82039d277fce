//! A PostgreSQL transaction seen through the synchronous [`ReadTxn`]/[`WriteTxn`] API.
//!
//! Store calls run on `spawn_blocking` threads, so each statement blocks on the async driver
//! through the runtime's handle. The first failing statement poisons the transaction (the
//! database refuses anything after it): the kind of failure is kept so that the store can
//! retry the whole closure after a serialization failure or a deadlock, even when the closure
//! turned the error into one of its own.
use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
};

use deadpool_postgres::Transaction;
use tokio::runtime::Handle;
use tokio_postgres::{Row, error::SqlState, types::ToSql};

use super::{
    columns::{self, Param},
    layout::layout,
    sequences,
};
use crate::store::{ReadTxn, Result, StoreError, Table, WriteTxn};

/// Why a statement of the transaction failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    /// Serialization failure or deadlock: run the closure again.
    Retry,
    /// A unique rule of the domain (`users` username or e-mail).
    Conflict(&'static str),
    /// Anything else.
    Other,
}

/// Sorts a database error: retryable, a domain conflict, or other.
pub(super) fn classify(e: tokio_postgres::Error) -> (Failure, StoreError) {
    let Some(code) = e.code() else {
        return (Failure::Other, StoreError::Postgres(e));
    };
    if code == &SqlState::T_R_SERIALIZATION_FAILURE || code == &SqlState::T_R_DEADLOCK_DETECTED {
        return (Failure::Retry, StoreError::Postgres(e));
    }
    if code == &SqlState::UNIQUE_VIOLATION {
        let field = match e.as_db_error().and_then(|d| d.constraint()) {
            Some("users_username_key") => Some("username"),
            Some("users_email_key") => Some("email"),
            _ => None,
        };
        return match field {
            Some(field) => (Failure::Conflict(field), StoreError::Conflict { field }),
            // Two first inserts of one key (a counter in meta): the loser retries and reads it.
            None => (Failure::Retry, StoreError::Postgres(e)),
        };
    }
    (Failure::Other, StoreError::Postgres(e))
}

/// One open transaction.
pub(super) struct PgTxn<'a> {
    handle: &'a Handle,
    txn: Transaction<'a>,
    failure: Cell<Option<Failure>>,
    /// The `meta` rows this transaction wrote (`None`: deleted), read back without a round
    /// trip: a transaction that wrote a row holds its lock, so no one else can change it.
    own_meta: RefCell<HashMap<Vec<u8>, Option<Vec<u8>>>>,
    /// Outbox rows appended, written by [`PgTxn::write_outbox`] just before the commit.
    outbox: Vec<Vec<u8>>,
}

impl<'a> PgTxn<'a> {
    pub fn new(handle: &'a Handle, txn: Transaction<'a>) -> Self {
        Self {
            handle,
            txn,
            failure: Cell::new(None),
            own_meta: RefCell::new(HashMap::new()),
            outbox: Vec::new(),
        }
    }

    /// Writes the outbox rows appended, under sequences drawn now, with the lock that keeps
    /// them in commit order ([`sequences`]); the caller commits next. Nothing to do without
    /// rows.
    pub fn write_outbox(&mut self) -> Result<()> {
        if self.outbox.is_empty() {
            return Ok(());
        }
        let rows = i64::try_from(self.outbox.len()).unwrap_or(i64::MAX);
        let drawn = self.query(
            sequences::DRAW_OUTBOX_SEQUENCES,
            &[Box::new(sequences::OUTBOX_LOCK), Box::new(rows)],
        )?;
        let mut seqs = drawn
            .iter()
            .map(|row| row.try_get::<_, i64>(0).map_err(StoreError::Postgres))
            .collect::<Result<Vec<i64>>>()?;
        // A sequence's numbers only grow; the rows keep the order they were appended in.
        seqs.sort_unstable();
        let values = std::mem::take(&mut self.outbox);
        for (sql, params) in sequences::outbox_inserts(&seqs, &values)? {
            self.query(&sql, &params)?;
        }
        Ok(())
    }

    /// The transaction back, with the first failure of its statements.
    pub fn finish(self) -> (Transaction<'a>, Option<Failure>) {
        (self.txn, self.failure.get())
    }

    fn query(&self, sql: &str, params: &[Param]) -> Result<Vec<Row>> {
        if self.failure.get().is_some() {
            return Err(StoreError::TxnFailed);
        }
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let result = self.handle.block_on(async {
            let statement = self.txn.prepare_cached(sql).await?;
            self.txn.query(&statement, &refs).await
        });
        result.map_err(|e| {
            let (failure, error) = classify(e);
            self.failure.set(Some(failure));
            error
        })
    }
}

/// Rows selected as (KV key, value columns…), as key-value pairs.
fn key_values(table: Table, rows: &[Row]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    rows.iter()
        .map(|row| {
            let key: Vec<u8> = row.try_get(0).map_err(StoreError::Postgres)?;
            Ok((key, columns::value_of(table, row)?))
        })
        .collect()
}

impl ReadTxn for PgTxn<'_> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if table == Table::Meta
            && self.failure.get().is_none()
            && let Some(value) = self.own_meta.borrow().get(key)
        {
            return Ok(value.clone());
        }
        let params = columns::key_params(table, key)?;
        let rows = self.query(&layout(table).get(), &params)?;
        rows.first()
            .map(|row| columns::value_of(table, row))
            .transpose()
    }

    fn range_from(
        &self,
        table: Table,
        start: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let Some(mut params) = columns::start_params(table, start)? else {
            return Ok(Vec::new());
        };
        let sql = layout(table).range(params.len());
        params.push(Box::new(i64::try_from(limit).unwrap_or(i64::MAX)));
        let rows = self.query(&sql, &params)?;
        key_values(table, &rows)
    }

    /// One user's sessions by their own column, so that the scan, and the read locks it
    /// takes at SERIALIZABLE, stop at that user's rows; other prefixes as the default does.
    fn range_prefix(
        &self,
        table: Table,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        if table != Table::UserSessions || prefix.len() != 16 {
            return crate::store::prefix_by_range(self, table, prefix, limit);
        }
        let user = columns::uuid_key(table, prefix)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = layout(table).range_where("user_id = $1");
        let rows = self.query(&sql, &[Box::new(user), Box::new(limit)])?;
        key_values(table, &rows)
    }

    fn count(&self, table: Table) -> Result<u64> {
        let rows = self.query(&layout(table).count(), &[])?;
        let n: i64 = match rows.first() {
            Some(row) => row.try_get(0).map_err(StoreError::Postgres)?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

impl WriteTxn for PgTxn<'_> {
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        let Some(sql) = layout(table).upsert() else {
            // Derived tables: the row they index carries the key (users, sessions).
            return Ok(());
        };
        let params = columns::put_params(table, key, value)?;
        self.query(&sql, &params)?;
        if table == Table::Meta {
            self.own_meta
                .borrow_mut()
                .insert(key.to_vec(), Some(value.to_vec()));
        }
        Ok(())
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<bool> {
        let params = columns::key_params(table, key)?;
        let deleted = !self.query(&layout(table).delete(), &params)?.is_empty();
        if table == Table::Meta {
            self.own_meta.borrow_mut().insert(key.to_vec(), None);
        }
        Ok(deleted)
    }

    /// One statement for the outbox tables (one round trip for a relay round's rows, where
    /// one per row cost a round trip each); row by row elsewhere.
    fn delete_many(&mut self, table: Table, keys: &[Vec<u8>]) -> Result<u64> {
        if !matches!(table, Table::Outbox | Table::Parked) {
            return crate::store::delete_each(self, table, keys);
        }
        let seqs = keys
            .iter()
            .map(|key| columns::seq_key(table, key))
            .collect::<Result<Vec<i64>>>()?;
        let sql = format!(
            "DELETE FROM {} WHERE seq = ANY($1) RETURNING 1",
            layout(table).from
        );
        let rows = self.query(&sql, &[Box::new(seqs)])?;
        Ok(u64::try_from(rows.len()).unwrap_or(u64::MAX))
    }

    /// `nextval` of the event sequence: no counter row, so no conflict between writers.
    fn next_event_sequence(&mut self) -> Result<u64> {
        let rows = self.query(sequences::DRAW_EVENT_SEQUENCE, &[])?;
        let n: i64 = match rows.first() {
            Some(row) => row.try_get(0).map_err(StoreError::Postgres)?,
            None => return Err(StoreError::NotFound("event sequence")),
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Kept until [`PgTxn::write_outbox`], which draws the rows' sequences under the lock
    /// that puts them in commit order.
    fn append_outbox(&mut self, value: &[u8]) -> Result<()> {
        if self.failure.get().is_some() {
            return Err(StoreError::TxnFailed);
        }
        self.outbox.push(value.to_vec());
        Ok(())
    }
}
