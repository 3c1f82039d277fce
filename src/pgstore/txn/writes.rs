//! What a [`PgTxn`] writes: rows put, deleted and appended to the outbox, and the event
//! numbers it draws.
use super::PgTxn;
use crate::{
    pgstore::{columns, event_numbers, layout::layout, sequences},
    store::{ReadTxn, Result, StoreError, Table, WriteTxn},
};

/// The columns of an outbox row, as [`WriteTxn::move_rows`] moves it.
const OUTBOX_COLUMNS: &str = "seq, topic, key, value, header_names, header_values, created_ms";
/// What a moved row replaces of one already there under its sequence.
const REPLACE_COLUMNS: &str = "topic = EXCLUDED.topic, key = EXCLUDED.key, \
    value = EXCLUDED.value, header_names = EXCLUDED.header_names, \
    header_values = EXCLUDED.header_values, created_ms = EXCLUDED.created_ms";

impl WriteTxn for PgTxn<'_> {
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        let Some(sql) = layout(table).upsert() else {
            // Derived tables: the row they index carries the key (users, sessions).
            return Ok(());
        };
        let params = columns::put_params(table, key, value)?;
        self.defer(sql, params)?;
        self.known.written(table, key, Some(value));
        Ok(())
    }

    /// Names and e-mail addresses unread: a unique index refuses the `users` row that claims a
    /// taken one ([`StoreError::Conflict`]), and a read's SERIALIZABLE lock on the index page
    /// failed concurrent registrations against each other.
    fn is_free(&self, table: Table, key: &[u8]) -> Result<bool> {
        let unread = matches!(table, Table::Usernames | Table::Emails);
        Ok(unread || self.get(table, key)?.is_none())
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<bool> {
        let params = columns::key_params(table, key)?;
        let deleted = !self.query(&layout(table).delete(), &params)?.is_empty();
        self.known.written(table, key, None);
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
        for key in keys {
            self.known.written(table, key, None);
        }
        Ok(u64::try_from(rows.len()).unwrap_or(u64::MAX))
    }

    /// From the outbox to the parked rows in one statement, column for column, so that a row
    /// whose columns do not read as a record (an edit by hand, another tool's write), which is
    /// why the relay parks it, moves all the same; row by row elsewhere (a row put back in
    /// the outbox this way would skip the outbox's numbering: no caller does).
    fn move_rows(&mut self, from: Table, to: Table, keys: &[Vec<u8>]) -> Result<u64> {
        if (from, to) != (Table::Outbox, Table::Parked) {
            return crate::store::move_each(self, from, to, keys);
        }
        let seqs = keys
            .iter()
            .map(|key| columns::seq_key(from, key))
            .collect::<Result<Vec<i64>>>()?;
        let (source, target) = (layout(from).from, layout(to).from);
        let sql = format!(
            "WITH moved AS (DELETE FROM {source} WHERE seq = ANY($1) RETURNING {OUTBOX_COLUMNS}) \
             INSERT INTO {target} ({OUTBOX_COLUMNS}) SELECT {OUTBOX_COLUMNS} FROM moved \
             ON CONFLICT (seq) DO UPDATE SET {REPLACE_COLUMNS} RETURNING 1"
        );
        let rows = self.query(&sql, &[Box::new(seqs)])?;
        for key in keys {
            self.known.written(from, key, None);
            self.known.written(to, key, None);
        }
        Ok(u64::try_from(rows.len()).unwrap_or(u64::MAX))
    }

    /// What an outbox write's commit waits for and pays, sent with `COMMIT`: the outbox lock
    /// (behind the other writers of outbox rows), and a transaction id, whose commit is
    /// flushed to the WAL as a write's is.
    fn commit_as_a_write(&mut self) -> Result<()> {
        let (lock, params) = sequences::lock_outbox();
        self.defer(lock, params)?;
        self.defer("SELECT txid_current()".to_owned(), Vec::new())
    }

    /// From the block drawn ahead (`event_numbers`), drawing the next block when it ran out:
    /// no counter row, so no conflict between writers, and mostly no round trip.
    fn next_event_sequence(&mut self) -> Result<u64> {
        let n = match self.events.take() {
            Some(n) => n,
            None => {
                let rows = self.query(
                    sequences::DRAW_EVENT_SEQUENCES,
                    &[Box::new(event_numbers::BLOCK)],
                )?;
                let drawn = rows
                    .iter()
                    .map(|row| row.try_get::<_, i64>(0).map_err(StoreError::Postgres))
                    .collect::<Result<Vec<i64>>>()?;
                self.events
                    .refill(drawn)
                    .ok_or(StoreError::NotFound("event sequence"))?
            }
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
