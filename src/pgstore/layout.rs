//! Where each key-value [`Table`] of the store lives in the SQL schema (migrations/): which
//! typed table, which columns form its key, and the statements over them.
//!
//! Every statement selects the KV key first, as `bytea` computed by the database
//! (`uuid_send`, `int8send`, `convert_to`), so `range_from` orders and compares keys exactly as
//! the byte order of the KV key (uuids compare as bytes; sequences are non-negative). The
//! `usernames`, `emails` and `user_sessions` tables are not tables here: they are derived from
//! `users` and `sessions` (their writes are no-ops, their deletes only report whether the row
//! was there); the unique indexes on `users` are what enforce them. Their keys are the
//! `username_key` and `email_key` columns, which `rows` fills with `users::lookup_key`.
use crate::store::Table;

/// How a table is written.
#[derive(Debug, Clone, Copy)]
pub(super) enum Writes {
    /// `INSERT … ON CONFLICT (conflict) DO UPDATE` of `columns`, and `DELETE`.
    Upsert {
        /// Columns in parameter order.
        columns: &'static [&'static str],
        /// The primary key's columns.
        conflict: &'static [&'static str],
    },
    /// Derived from another table: nothing to write.
    Derived,
}

/// A table's SQL shape.
#[derive(Debug, Clone, Copy)]
pub(super) struct Layout {
    /// `FROM` target.
    pub from: &'static str,
    /// The KV key as a `bytea` expression.
    pub key: &'static str,
    /// Value columns selected after the key (may be empty).
    pub columns: &'static str,
    /// `WHERE` of a point key (parameters from `$1`).
    pub eq: &'static str,
    /// `WHERE` of a range start (parameters from `$1`).
    pub ge: &'static str,
    /// `ORDER BY`, the same order as `key`.
    pub order: &'static str,
    /// How it is written.
    pub writes: Writes,
}

const USER_COLUMNS: &[&str] = &[
    "id",
    "username",
    "email",
    "nickname",
    "avatar_url",
    "status",
    "role",
    "password_hash",
    "created_ms",
    "updated_ms",
    "last_login_ms",
    "username_key",
    "email_key",
];
const OUTBOX_COLUMNS: &[&str] = &[
    "seq",
    "topic",
    "key",
    "value",
    "header_names",
    "header_values",
    "created_ms",
];

const fn derived_name(
    from: &'static str,
    key: &'static str,
    eq: &'static str,
    ge: &'static str,
) -> Layout {
    Layout {
        from,
        key,
        columns: "uuid_send(id)",
        eq,
        ge,
        order: "1",
        writes: Writes::Derived,
    }
}

const fn outbox(from: &'static str) -> Layout {
    Layout {
        from,
        key: "int8send(seq)",
        columns: "topic, key, value, header_names, header_values, created_ms",
        eq: "seq = $1",
        ge: "seq >= $1",
        order: "seq",
        writes: Writes::Upsert {
            columns: OUTBOX_COLUMNS,
            conflict: &["seq"],
        },
    }
}

const fn bytes_keyed(
    from: &'static str,
    key: &'static str,
    columns: &'static str,
    eq: &'static str,
    ge: &'static str,
    all: &'static [&'static str],
    conflict: &'static [&'static str],
) -> Layout {
    Layout {
        from,
        key,
        columns,
        eq,
        ge,
        order: key,
        writes: Writes::Upsert {
            columns: all,
            conflict,
        },
    }
}

/// The KV key of a high water, `topic/partition/producer`, with the producer id's `u64` read
/// back from the `bigint` that holds its bits (a macro so that `concat!` can extend it).
macro_rules! high_water_key {
    () => {
        "convert_to(topic || '/' || partition || '/' || \
         (producer::numeric + CASE WHEN producer < 0 THEN 18446744073709551616 ELSE 0 END), 'UTF8')"
    };
}

/// The layout of `table`.
pub(super) const fn layout(table: Table) -> Layout {
    match table {
        Table::Users => Layout {
            from: "users",
            key: "uuid_send(id)",
            columns: "id, username, email, nickname, avatar_url, status, role, password_hash, \
                      created_ms, updated_ms, last_login_ms",
            eq: "id = $1",
            ge: "id >= $1",
            order: "id",
            writes: Writes::Upsert {
                columns: USER_COLUMNS,
                conflict: &["id"],
            },
        },
        Table::Usernames => derived_name(
            "users",
            "convert_to(username_key, 'UTF8')",
            "username_key = $1",
            "convert_to(username_key, 'UTF8') >= $1",
        ),
        Table::Emails => derived_name(
            "users",
            "convert_to(email_key, 'UTF8')",
            "email_key = $1",
            "convert_to(email_key, 'UTF8') >= $1",
        ),
        Table::Sessions => bytes_keyed(
            "sessions",
            "token_hash",
            "user_id, created_ms, expires_ms",
            "token_hash = $1",
            "token_hash >= $1",
            &["token_hash", "user_id", "created_ms", "expires_ms"],
            &["token_hash"],
        ),
        Table::UserSessions => Layout {
            from: "sessions",
            key: "uuid_send(user_id) || token_hash",
            columns: "",
            eq: "user_id = $1 AND token_hash = $2",
            ge: "(user_id, token_hash) >= ($1, $2)",
            order: "user_id, token_hash",
            writes: Writes::Derived,
        },
        Table::Outbox => outbox("outbox"),
        Table::Parked => outbox("outbox_parked"),
        Table::Offsets => Layout {
            from: "consumer_offsets",
            key: "convert_to(topic || '/' || partition, 'UTF8')",
            columns: "next_offset",
            eq: "topic = $1 AND partition = $2",
            ge: "convert_to(topic || '/' || partition, 'UTF8') >= $1",
            order: "convert_to(topic || '/' || partition, 'UTF8')",
            writes: Writes::Upsert {
                columns: &["topic", "partition", "next_offset"],
                conflict: &["topic", "partition"],
            },
        },
        Table::HighWaters => Layout {
            from: "consumer_high_waters",
            key: high_water_key!(),
            columns: "sequence, seen_ms",
            eq: "topic = $1 AND partition = $2 AND producer = $3",
            ge: concat!(high_water_key!(), " >= $1"),
            order: high_water_key!(),
            writes: Writes::Upsert {
                columns: &["topic", "partition", "producer", "sequence", "seen_ms"],
                conflict: &["topic", "partition", "producer"],
            },
        },
        Table::Dedupe => bytes_keyed(
            "dedupe",
            "key",
            "seen_ms, event_id",
            "key = $1",
            "key >= $1",
            &["key", "seen_ms", "event_id"],
            &["key"],
        ),
        Table::EventLog => bytes_keyed(
            "event_log",
            "event_id",
            "applied",
            "event_id = $1",
            "event_id >= $1",
            &["event_id", "applied"],
            &["event_id"],
        ),
        Table::Meta => bytes_keyed(
            "meta",
            "name",
            "value",
            "name = $1",
            "name >= $1",
            &["name", "value"],
            &["name"],
        ),
    }
}

impl Layout {
    fn select(&self) -> String {
        if self.columns.is_empty() {
            format!("SELECT {} FROM {}", self.key, self.from)
        } else {
            format!("SELECT {}, {} FROM {}", self.key, self.columns, self.from)
        }
    }

    /// One row by key.
    pub fn get(&self) -> String {
        format!("{} WHERE {}", self.select(), self.eq)
    }

    /// Up to `$n` rows from a start key on, in key order; the start takes `start_params`
    /// parameters (not always as many as a point key: a range over `topic/partition` keys
    /// starts at one byte string), the limit is the one after them.
    pub fn range(&self, start_params: usize) -> String {
        let limit = start_params + 1;
        format!(
            "{} WHERE {} ORDER BY {} LIMIT ${limit}",
            self.select(),
            self.ge,
            self.order
        )
    }

    /// Up to `$2` rows from `$1` on, in key order, ending with the one whose size brings
    /// theirs to `$3` or past ([`crate::store::ReadTxn::range_within`]): the outbox tables
    /// only. A row's size is its key's, value's and header values' bytes, which its postcard
    /// encoding holds with more; the database sends only the rows kept.
    pub fn outbox_within(&self) -> String {
        let size = "octet_length(value) + coalesce(octet_length(key), 0) \
                    + coalesce((SELECT sum(octet_length(h)) FROM unnest(header_values) h), 0)";
        format!(
            "SELECT {}, {} FROM (\
               SELECT *, sum(size) OVER w - size AS before, row_number() OVER w AS n FROM (\
                 SELECT *, {size} AS size FROM {} WHERE {} ORDER BY seq LIMIT $2\
               ) limited WINDOW w AS (ORDER BY seq)\
             ) sized WHERE before < $3::int8 OR n = 1 ORDER BY seq",
            self.key, self.columns, self.from, self.ge
        )
    }

    /// Up to `$2` rows matching `clause` (over `$1`), in key order: a prefix of the key
    /// that is a column of its own (one user's sessions: `user_id = $1`).
    pub fn range_where(&self, clause: &str) -> String {
        format!(
            "{} WHERE {clause} ORDER BY {} LIMIT $2",
            self.select(),
            self.order
        )
    }

    /// Rows in the table.
    pub fn count(&self) -> String {
        format!("SELECT count(*) FROM {}", self.from)
    }

    /// Removes a row by key (for a derived table: whether the row is there).
    pub fn delete(&self) -> String {
        match self.writes {
            Writes::Upsert { .. } => {
                format!("DELETE FROM {} WHERE {} RETURNING 1", self.from, self.eq)
            }
            Writes::Derived => format!("SELECT 1 FROM {} WHERE {}", self.from, self.eq),
        }
    }

    /// Inserts `rows` new rows in one statement (their parameters one row after the other);
    /// empty for derived tables.
    pub fn insert(&self, rows: usize) -> String {
        let Writes::Upsert { columns, .. } = self.writes else {
            return String::new();
        };
        let width = columns.len();
        let tuples: Vec<String> = (0..rows)
            .map(|row| {
                let params: Vec<String> = (1..=width)
                    .map(|i| format!("${}", row * width + i))
                    .collect();
                format!("({})", params.join(", "))
            })
            .collect();
        format!(
            "INSERT INTO {} ({}) VALUES {}",
            self.from,
            columns.join(", "),
            tuples.join(", ")
        )
    }

    /// Inserts one new row whose first column (the key) is the next number of `sequence`, and
    /// whose other columns are `$1`, `$2`…; empty for derived tables.
    pub fn insert_numbered(&self, sequence: &str) -> String {
        let Writes::Upsert { columns, .. } = self.writes else {
            return String::new();
        };
        let params: Vec<String> = (1..columns.len()).map(|i| format!("${i}")).collect();
        format!(
            "INSERT INTO {} ({}) VALUES (nextval('{sequence}'), {})",
            self.from,
            columns.join(", "),
            params.join(", ")
        )
    }

    /// Inserts or replaces a row; `None` for derived tables.
    pub fn upsert(&self) -> Option<String> {
        let Writes::Upsert { columns, conflict } = self.writes else {
            return None;
        };
        let params: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
        let set: Vec<String> = columns
            .iter()
            .filter(|c| !conflict.contains(c))
            .map(|c| format!("{c} = EXCLUDED.{c}"))
            .collect();
        Some(format!(
            "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}",
            self.from,
            columns.join(", "),
            params.join(", "),
            conflict.join(", "),
            set.join(", ")
        ))
    }
}
