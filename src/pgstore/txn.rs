//! A PostgreSQL transaction seen through the synchronous [`ReadTxn`]/[`WriteTxn`] API.
//!
//! Store calls run on `spawn_blocking` threads, so each round trip blocks on the async driver
//! through the runtime's handle. The first failing statement poisons the transaction (the
//! database refuses anything after it): the kind of failure is kept so that the store can
//! retry the whole closure after a serialization failure or a deadlock, even when the closure
//! turned the error into one of its own.
use std::cell::{Cell, RefCell};

use deadpool_postgres::ClientWrapper;
use tokio::runtime::Handle;
use tokio_postgres::Row;

use super::{
    columns::{self, Param},
    event_numbers::EventNumbers,
    failure::{Failure, classify},
    known_rows::KnownRows,
    layout::layout,
    pipeline::{self, Request},
    sequences,
};
use crate::store::{ReadTxn, Result, StoreError, Table};

mod writes;

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
    /// Rows known without asking: the `meta` rows it wrote and the rows it read ahead.
    known: KnownRows,
    /// Outbox rows appended, written by [`PgTxn::commit`].
    outbox: Vec<Vec<u8>>,
    /// Event sequences drawn ahead, shared with the store's other transactions.
    events: &'a EventNumbers,
}

impl<'a> PgTxn<'a> {
    /// A transaction that begins with `begin` (one of the `BEGIN_*` statements) once it sends
    /// its first statement.
    pub fn new(
        handle: &'a Handle,
        client: &'a ClientWrapper,
        begin: &'static str,
        events: &'a EventNumbers,
    ) -> Self {
        Self {
            handle,
            client,
            begin,
            phase: Cell::new(Phase::NotBegun),
            failure: Cell::new(None),
            deferred: RefCell::new(Vec::new()),
            known: KnownRows::default(),
            outbox: Vec::new(),
            events,
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
        self.exchange(&[], true).map(drop)
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
        let mut answers = self.exchange(&[(sql, params)], false)?;
        Ok(answers.pop().unwrap_or_default())
    }

    /// Keeps a write to send with the next statement.
    fn defer(&self, sql: String, params: Vec<Param>) -> Result<()> {
        if self.failure.get().is_some() {
            return Err(StoreError::TxnFailed);
        }
        self.deferred.borrow_mut().push((sql, params));
        Ok(())
    }

    /// One round trip: `BEGIN` if not sent, the deferred writes, then `reads` (whose rows it
    /// returns, one list each) and `COMMIT` when `commit`. The first statement that fails
    /// fails the transaction.
    fn exchange(&self, reads: &[(&str, &[Param])], commit: bool) -> Result<Vec<Vec<Row>>> {
        if self.failure.get().is_some() {
            return Err(StoreError::TxnFailed);
        }
        let deferred = std::mem::take(&mut *self.deferred.borrow_mut());
        let statements: Vec<(&str, &[Param])> = deferred
            .iter()
            .map(|(sql, params)| (sql.as_str(), params.as_slice()))
            .chain(reads.iter().copied())
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
        // Requests after one the driver refused before sending it were not sent (`pipeline`):
        // answers came back for the first `answers.len()` of them only.
        let requests = usize::from(begin.is_some()) + statements.len() + usize::from(commit);
        if commit && answers.len() == requests {
            // `COMMIT` was sent. After a failed statement it rolls back: either way nothing is
            // left open.
            self.phase.set(Phase::Ended);
        } else if begin.is_some() && !answers.is_empty() {
            // `BEGIN` was sent (perhaps alone): the transaction is open until it is ended,
            // and a drop sends `ROLLBACK`, never a `COMMIT` of what was sent before a refusal.
            self.phase.set(Phase::Open);
        }
        // The answers: `BEGIN`'s if sent, the deferred writes', the reads', `COMMIT`'s.
        let first_read = usize::from(begin.is_some()) + deferred.len();
        let mut rows = Vec::with_capacity(reads.len());
        for (i, answer) in answers.into_iter().enumerate() {
            let answer = answer.map_err(|e| self.failed(e))?;
            if (first_read..first_read + reads.len()).contains(&i) {
                rows.push(answer);
            }
        }
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

/// Rows selected as (KV key, value columns…), as key-value pairs. An outbox row with a NULL
/// where a record has a value (an edit by hand, another tool's write: a NULL in its header
/// arrays) comes back with an empty value, which does not decode either: the relay parks it
/// ([`crate::store::WriteTxn::move_rows`] moves it column for column) rather than fail every
/// read of the outbox on it, on every instance. Any other column error (a type this build does
/// not read, after a schema change of a later version) fails the read, as other tables' do:
/// it would be every row's, and parking them all would hide it.
fn key_values(table: Table, rows: &[Row]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    rows.iter()
        .map(|row| {
            let key: Vec<u8> = row.try_get(0).map_err(StoreError::Postgres)?;
            match columns::value_of(table, row) {
                Ok(value) => Ok((key, value)),
                Err(error) if matches!(table, Table::Outbox | Table::Parked) && was_null(&error) => {
                    let seq = <[u8; 8]>::try_from(key.as_slice()).map(i64::from_be_bytes);
                    tracing::warn!(table = table.name(), seq = ?seq.ok(), %error, "postgres: an outbox row's columns do not read as a record");
                    Ok((key, Vec::new()))
                }
                Err(error) => Err(error),
            }
        })
        .collect()
}

/// Whether `error` is a column read that met a NULL (`WasNull`, also of an array's element).
fn was_null(error: &StoreError) -> bool {
    let StoreError::Postgres(error) = error else {
        return false;
    };
    std::iter::successors(std::error::Error::source(error), |c| c.source())
        .any(|c| c.is::<tokio_postgres::types::WasNull>())
}

impl ReadTxn for PgTxn<'_> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if self.failure.get().is_none()
            && let Some(value) = self.known.get(table, key)
        {
            return Ok(value);
        }
        let params = columns::key_params(table, key)?;
        let rows = self.query(&layout(table).get(), &params)?;
        rows.first()
            .map(|row| columns::value_of(table, row))
            .transpose()
    }

    /// Every row not known yet in one round trip (with the writes waiting to be sent). A row
    /// it cannot ask for (a key the table cannot hold) or decode (a value a newer version
    /// wrote) stays unknown: the read that asks for it meets the error itself, where its
    /// caller deals with it (a handler's failure is retried and then dead-lettered), instead
    /// of failing every record read ahead with it.
    fn read_ahead(&self, rows: &[(Table, &[u8])]) -> Result<()> {
        let mut asked = Vec::new();
        let mut statements: Vec<(String, Vec<Param>)> = Vec::new();
        for (table, key) in self.known.unknown(rows) {
            if let Ok(params) = columns::key_params(table, key) {
                statements.push((layout(table).get(), params));
                asked.push((table, key));
            }
        }
        if statements.is_empty() {
            return Ok(());
        }
        let reads: Vec<(&str, &[Param])> = statements
            .iter()
            .map(|(sql, params)| (sql.as_str(), params.as_slice()))
            .collect();
        let answers = self.exchange(&reads, false)?;
        for ((table, key), rows) in asked.into_iter().zip(answers) {
            let value = rows
                .first()
                .map(|row| columns::value_of(table, row))
                .transpose();
            if let Ok(value) = value {
                self.known.read(table, key, value);
            }
        }
        Ok(())
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

    /// The outbox tables' rows are cut by size in the database, which sends only the rows
    /// kept; other tables as the default cuts them.
    fn range_within(
        &self,
        table: Table,
        start: &[u8],
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        if !matches!(table, Table::Outbox | Table::Parked) {
            return crate::store::cut_by_length(self, table, start, limit, max_bytes);
        }
        let Some(mut params) = columns::start_params(table, start)? else {
            return Ok(Vec::new());
        };
        params.push(Box::new(i64::try_from(limit).unwrap_or(i64::MAX)));
        params.push(Box::new(i64::try_from(max_bytes).unwrap_or(i64::MAX)));
        let rows = self.query(&layout(table).outbox_within(), &params)?;
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
