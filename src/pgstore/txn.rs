//! A PostgreSQL transaction seen through the synchronous [`ReadTxn`]/[`WriteTxn`] API.
//!
//! Store calls run on `spawn_blocking` threads, so each round trip blocks on the async driver
//! through the runtime's handle. The first failing statement poisons the transaction (the
//! database refuses anything after it): the kind of failure is kept so that the store can
//! retry the whole closure after a serialization failure or a deadlock, even when the closure
//! turned the error into one of its own.
use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
};

use deadpool_postgres::ClientWrapper;
use tokio::runtime::Handle;
use tokio_postgres::{Row, error::SqlState};

use super::{
    columns::{self, Param},
    layout::layout,
    pipeline::{self, Request},
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
fn classify(e: tokio_postgres::Error) -> (Failure, StoreError) {
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

/// How a transaction begins.
pub(super) const BEGIN_SERIALIZABLE: &str = "BEGIN ISOLATION LEVEL SERIALIZABLE";
/// How a transaction at snapshot isolation begins.
pub(super) const BEGIN_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ";
/// How a read begins: one snapshot, nothing written.
pub(super) const BEGIN_READ: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

/// Where the transaction is on its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing sent yet: `BEGIN` goes out with the first statement.
    NotBegun,
    /// `BEGIN` sent: the transaction must be ended.
    Open,
    /// `COMMIT` sent: nothing to end.
    Ended,
}

/// One transaction on a pooled connection.
///
/// Round trips are what a transaction costs here, so it sends as few as it can:
/// - `BEGIN` goes out with the first statement;
/// - writes whose answer nobody reads ([`WriteTxn::put`]) wait, and go out with the next
///   statement whose answer is needed, or with the commit; a failure of one is reported by
///   that later call;
/// - the outbox rows and `COMMIT` go out together ([`PgTxn::commit`]);
/// - a transaction not committed is rolled back as it is dropped, without waiting for the
///   answer (the connection sends the `ROLLBACK` before anything its next user sends).
pub(super) struct PgTxn<'a> {
    handle: &'a Handle,
    client: &'a ClientWrapper,
    begin: &'static str,
    phase: Cell<Phase>,
    failure: Cell<Option<Failure>>,
    /// Writes not sent yet, in the order they were made.
    deferred: RefCell<Vec<(String, Vec<Param>)>>,
    /// The `meta` rows this transaction wrote (`None`: deleted), read back without a round
    /// trip: a transaction that wrote a row holds its lock, so no one else can change it.
    own_meta: RefCell<HashMap<Vec<u8>, Option<Vec<u8>>>>,
    /// Outbox rows appended, written by [`PgTxn::commit`].
    outbox: Vec<Vec<u8>>,
}

impl<'a> PgTxn<'a> {
    /// A transaction that begins with `begin` (one of the `BEGIN_*` statements) once it sends
    /// its first statement.
    pub fn new(handle: &'a Handle, client: &'a ClientWrapper, begin: &'static str) -> Self {
        Self {
            handle,
            client,
            begin,
            phase: Cell::new(Phase::NotBegun),
            failure: Cell::new(None),
            deferred: RefCell::new(Vec::new()),
            own_meta: RefCell::new(HashMap::new()),
            outbox: Vec::new(),
        }
    }

    /// Commits: the deferred writes, the outbox rows under the lock that keeps their
    /// sequences in commit order ([`sequences`]) and `COMMIT` in one round trip (two when
    /// there are more rows than [`sequences::NUMBERED_IN_PLACE`]: their numbers are drawn
    /// first); none for a transaction that sent nothing.
    pub fn commit(&mut self) -> Result<()> {
        let values = std::mem::take(&mut self.outbox);
        if !values.is_empty() {
            let writes = if values.len() <= sequences::NUMBERED_IN_PLACE {
                sequences::numbered_inserts(&values)?
            } else {
                sequences::outbox_inserts(&self.draw_outbox_sequences(values.len())?, &values)?
            };
            self.deferred.get_mut().extend(writes);
        }
        if self.phase.get() == Phase::NotBegun && self.deferred.get_mut().is_empty() {
            return Ok(());
        }
        self.exchange(None, true).map(drop)
    }

    /// `rows` outbox sequences, drawn under the lock that keeps them in commit order, in
    /// ascending order.
    fn draw_outbox_sequences(&self, rows: usize) -> Result<Vec<i64>> {
        let rows = i64::try_from(rows).unwrap_or(i64::MAX);
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
        Ok(seqs)
    }

    /// The first failure of the transaction's statements.
    pub fn failure(&self) -> Option<Failure> {
        self.failure.get()
    }

    /// Runs `sql` and returns its rows, after the deferred writes (and `BEGIN`, if not sent).
    fn query(&self, sql: &str, params: &[Param]) -> Result<Vec<Row>> {
        self.exchange(Some((sql, params)), false)
    }

    /// Keeps a write to send with the next statement.
    fn defer(&self, sql: String, params: Vec<Param>) -> Result<()> {
        if self.failure.get().is_some() {
            return Err(StoreError::TxnFailed);
        }
        self.deferred.borrow_mut().push((sql, params));
        Ok(())
    }

    /// One round trip: `BEGIN` if not sent, the deferred writes, then `last` (whose rows it
    /// returns) and `COMMIT` when `commit`. The first statement that fails fails the
    /// transaction.
    fn exchange(&self, last: Option<(&str, &[Param])>, commit: bool) -> Result<Vec<Row>> {
        if self.failure.get().is_some() {
            return Err(StoreError::TxnFailed);
        }
        let deferred = std::mem::take(&mut *self.deferred.borrow_mut());
        let statements: Vec<(&str, &[Param])> = deferred
            .iter()
            .map(|(sql, params)| (sql.as_str(), params.as_slice()))
            .chain(last)
            .collect();
        let begin = (self.phase.get() == Phase::NotBegun).then_some(self.begin);
        let client = self.client;
        let answers = self.handle.block_on(async {
            let prepared = futures::future::try_join_all(
                statements.iter().map(|(sql, _)| client.prepare_cached(sql)),
            )
            .await?;
            let requests = begin
                .map(Request::Simple)
                .into_iter()
                .chain(
                    prepared
                        .into_iter()
                        .zip(&statements)
                        .map(|(statement, (_, params))| Request::Statement(statement, params)),
                )
                .chain(commit.then_some(Request::Simple("COMMIT")))
                .collect();
            Ok::<_, tokio_postgres::Error>(pipeline::send(client, requests).await)
        });
        // Nothing was sent when a statement could not be prepared.
        let answers = answers.map_err(|e| self.failed(e))?;
        if commit {
            // A `COMMIT` after a failed statement rolls back: either way nothing is left open.
            self.phase.set(Phase::Ended);
        } else if begin.is_some() {
            self.phase.set(Phase::Open);
        }
        let mut rows = Vec::new();
        for answer in answers {
            rows = answer.map_err(|e| self.failed(e))?;
        }
        // The last answer is `last`'s rows, or `COMMIT`'s none.
        Ok(rows)
    }

    /// Notes the first failure and gives its error.
    fn failed(&self, e: tokio_postgres::Error) -> StoreError {
        let (failure, error) = classify(e);
        if self.failure.get().is_none() {
            self.failure.set(Some(failure));
        }
        error
    }
}

impl Drop for PgTxn<'_> {
    /// Rolls back a transaction that was begun and not committed, without waiting.
    fn drop(&mut self) {
        if self.phase.get() == Phase::Open {
            pipeline::send_and_forget(self.client, "ROLLBACK");
        }
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
        self.defer(sql, params)?;
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
