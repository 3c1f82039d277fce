//! The rows a transaction knows without asking the database: the `meta` rows it wrote, and
//! the rows it read ahead ([`crate::store::ReadTxn::read_ahead`]).
//!
//! Both stay true until the transaction writes them again. A row it wrote is locked until it
//! ends, so no one else changes it; a row it read is from its snapshot, which does not change
//! during the transaction (REPEATABLE READ and SERIALIZABLE take one snapshot, at the first
//! statement). A write forgets what it may have changed ([`KnownRows::written`]).
use std::{cell::RefCell, collections::HashMap};

use crate::store::Table;

/// A row's value as known (`None`: the row is absent).
type Value = Option<Vec<u8>>;

/// The rows one transaction knows, by table and key.
#[derive(Debug, Default)]
pub(super) struct KnownRows(RefCell<HashMap<(Table, Vec<u8>), Value>>);

impl KnownRows {
    /// The row's value, when known (`Some(None)`: known to be absent).
    pub fn get(&self, table: Table, key: &[u8]) -> Option<Value> {
        self.0.borrow().get(&(table, key.to_vec())).cloned()
    }

    /// The rows of `rows` not known yet, each once, in their order.
    pub fn unknown<'k>(&self, rows: &[(Table, &'k [u8])]) -> Vec<(Table, &'k [u8])> {
        let known = self.0.borrow();
        let mut wanted: Vec<(Table, &[u8])> = Vec::new();
        for &(table, key) in rows {
            let new = !wanted.iter().any(|&(t, k)| t == table && k == key);
            if new && !known.contains_key(&(table, key.to_vec())) {
                wanted.push((table, key));
            }
        }
        wanted
    }

    /// The row as read from the transaction's snapshot.
    pub fn read(&self, table: Table, key: &[u8], value: Value) {
        self.0.borrow_mut().insert((table, key.to_vec()), value);
    }

    /// After a write of `key` in `table` (`value`, or `None` when deleted): a `meta` row is
    /// known as written (its value is stored as given); a row of another table is read again
    /// when asked for (its typed columns may give it back otherwise than it was written); and
    /// a write to a user table forgets every user table's rows, which derive from each other
    /// (a user's row carries its name and e-mail rows, and deleting it deletes its sessions).
    pub fn written(&self, table: Table, key: &[u8], value: Option<&[u8]>) {
        let mut known = self.0.borrow_mut();
        if table == Table::Meta {
            known.insert((table, key.to_vec()), value.map(<[u8]>::to_vec));
        } else if user_table(table) {
            known.retain(|(t, _), _| !user_table(*t));
        } else {
            known.remove(&(table, key.to_vec()));
        }
    }
}

/// The tables of users and their sessions, whose rows derive from each other.
fn user_table(table: Table) -> bool {
    matches!(
        table,
        Table::Users | Table::Usernames | Table::Emails | Table::Sessions | Table::UserSessions
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_meta_row_written_is_known_as_written() {
        let rows = KnownRows::default();
        rows.read(Table::Meta, b"a", None);
        rows.written(Table::Meta, b"a", Some(b"1"));
        assert_eq!(rows.get(Table::Meta, b"a"), Some(Some(b"1".to_vec())));
        rows.written(Table::Meta, b"a", None);
        assert_eq!(rows.get(Table::Meta, b"a"), Some(None));
    }

    #[test]
    fn a_written_row_of_another_table_is_read_again_and_only_it() {
        let rows = KnownRows::default();
        rows.read(Table::EventLog, b"a", Some(b"1".to_vec()));
        rows.read(Table::EventLog, b"b", None);
        rows.written(Table::EventLog, b"a", Some(b"2"));
        assert_eq!(rows.get(Table::EventLog, b"a"), None);
        assert_eq!(rows.get(Table::EventLog, b"b"), Some(None));
    }

    #[test]
    fn a_write_to_a_user_table_forgets_every_user_table() {
        let rows = KnownRows::default();
        rows.read(Table::Users, b"u", Some(b"user".to_vec()));
        rows.read(Table::Usernames, b"name", None);
        rows.read(Table::UserSessions, b"us", None);
        rows.read(Table::Dedupe, b"d", None);
        rows.written(Table::Sessions, b"s", None);
        for table in [Table::Users, Table::Usernames, Table::UserSessions] {
            assert_eq!(rows.get(table, b"u").or(rows.get(table, b"name")), None);
        }
        assert_eq!(rows.get(Table::UserSessions, b"us"), None);
        assert_eq!(rows.get(Table::Dedupe, b"d"), Some(None));
    }

    #[test]
    fn unknown_rows_are_named_once_each() {
        let rows = KnownRows::default();
        rows.read(Table::Meta, b"known", None);
        let wanted = rows.unknown(&[
            (Table::Meta, b"known".as_slice()),
            (Table::Dedupe, b"x"),
            (Table::Dedupe, b"x"),
            (Table::EventLog, b"x"),
        ]);
        assert_eq!(
            wanted,
            [(Table::Dedupe, b"x".as_slice()), (Table::EventLog, b"x")]
        );
    }
}
