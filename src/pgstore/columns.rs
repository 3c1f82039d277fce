//! Between the store's bytes and the typed columns: keys to SQL parameters, postcard values
//! to column parameters on `put`, and columns back to the same postcard value on `get`. The
//! values are the domain's own row types, so what the domain reads back is what it wrote;
//! which columns each row type has is [`super::rows`]' part.
use serde::{Serialize, de::DeserializeOwned};
use tokio_postgres::{Row, types::ToSql};
use uuid::Uuid;

use super::rows;
use crate::store::{Result, StoreError, Table};

/// One statement parameter.
pub(super) type Param = Box<dyn ToSql + Sync + Send>;

pub(super) fn bad(table: Table, reason: &'static str) -> StoreError {
    StoreError::KeyFormat {
        table: table.name(),
        reason,
    }
}

pub(super) fn decode<T: DeserializeOwned>(table: Table, bytes: &[u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|source| StoreError::Decode {
        table: table.name(),
        source,
    })
}

pub(super) fn encode<T: Serialize>(table: Table, value: &T) -> Result<Vec<u8>> {
    postcard::to_allocvec(value).map_err(|source| StoreError::Encode {
        table: table.name(),
        source,
    })
}

pub(super) fn column<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    i: usize,
) -> Result<T> {
    row.try_get(i).map_err(StoreError::Postgres)
}

pub(super) fn uuid_key(table: Table, key: &[u8]) -> Result<Uuid> {
    Uuid::from_slice(key).map_err(|_| bad(table, "not a 16-byte id"))
}

pub(super) fn seq_key(table: Table, key: &[u8]) -> Result<i64> {
    let bytes: [u8; 8] = key
        .try_into()
        .map_err(|_| bad(table, "not an 8-byte sequence"))?;
    i64::try_from(u64::from_be_bytes(bytes)).map_err(|_| bad(table, "sequence above i64::MAX"))
}

fn text_key(table: Table, key: &[u8]) -> Result<String> {
    String::from_utf8(key.to_vec()).map_err(|_| bad(table, "not UTF-8"))
}

pub(super) fn offsets_key(key: &[u8]) -> Result<(String, i32)> {
    let text = text_key(Table::Offsets, key)?;
    let (topic, partition) = text
        .rsplit_once('/')
        .ok_or(bad(Table::Offsets, "no '/' between topic and partition"))?;
    let partition = partition
        .parse()
        .map_err(|_| bad(Table::Offsets, "partition is not an i32"))?;
    Ok((topic.to_owned(), partition))
}

/// A `topic/partition/producer` key as its columns. The producer id is a `u64`; the `bigint`
/// column holds its bits (the ids this service makes are below 2^63, so they read as themselves).
pub(super) fn high_water_key(key: &[u8]) -> Result<(String, i32, i64)> {
    let table = Table::HighWaters;
    let text = text_key(table, key)?;
    let (rest, producer) = text
        .rsplit_once('/')
        .ok_or(bad(table, "no '/' before the producer id"))?;
    let (topic, partition) = rest
        .rsplit_once('/')
        .ok_or(bad(table, "no '/' between topic and partition"))?;
    let partition = partition
        .parse()
        .map_err(|_| bad(table, "partition is not an i32"))?;
    let producer: u64 = producer
        .parse()
        .map_err(|_| bad(table, "producer id is not a u64"))?;
    Ok((
        topic.to_owned(),
        partition,
        i64::from_ne_bytes(producer.to_ne_bytes()),
    ))
}

/// The parameters of a point key.
pub(super) fn key_params(table: Table, key: &[u8]) -> Result<Vec<Param>> {
    Ok(match table {
        Table::Users => vec![Box::new(uuid_key(table, key)?)],
        Table::Usernames | Table::Emails => vec![Box::new(text_key(table, key)?)],
        Table::Outbox | Table::Parked => vec![Box::new(seq_key(table, key)?)],
        Table::UserSessions => {
            if key.len() < 16 {
                return Err(bad(table, "shorter than a user id"));
            }
            vec![
                Box::new(uuid_key(table, &key[..16])?),
                Box::new(key[16..].to_vec()),
            ]
        }
        Table::Offsets => {
            let (topic, partition) = offsets_key(key)?;
            vec![Box::new(topic), Box::new(partition)]
        }
        Table::HighWaters => {
            let (topic, partition, producer) = high_water_key(key)?;
            vec![Box::new(topic), Box::new(partition), Box::new(producer)]
        }
        Table::Sessions | Table::Dedupe | Table::EventLog | Table::Meta => {
            vec![Box::new(key.to_vec())]
        }
    })
}

/// `start` as a fixed-width key: shorter starts are padded with zeros (every longer key with
/// that prefix is greater or equal), longer ones round up to the next key (no key of the width
/// with that prefix is as great); `None` when nothing of the width can be that great.
fn fixed_start(start: &[u8], width: usize) -> Option<Vec<u8>> {
    let mut key = start.iter().copied().take(width).collect::<Vec<u8>>();
    key.resize(width, 0);
    if start.len() > width {
        for i in (0..width).rev() {
            if key[i] == u8::MAX {
                key[i] = 0;
                if i == 0 {
                    return None;
                }
            } else {
                key[i] += 1;
                break;
            }
        }
    }
    Some(key)
}

/// The parameters of a range start; `None` when no key of the table can be that great.
pub(super) fn start_params(table: Table, start: &[u8]) -> Result<Option<Vec<Param>>> {
    Ok(match table {
        Table::Users => fixed_start(start, 16)
            .map(|k| uuid_key(table, &k))
            .transpose()?
            .map(|id| vec![Box::new(id) as Param]),
        Table::Outbox | Table::Parked => match fixed_start(start, 8) {
            Some(k) if k[0] < 0x80 => Some(vec![Box::new(seq_key(table, &k)?) as Param]),
            _ => None,
        },
        Table::UserSessions => {
            let Some(user) = fixed_start(&start[..start.len().min(16)], 16) else {
                return Ok(None);
            };
            let rest = start.get(16..).unwrap_or_default().to_vec();
            Some(vec![Box::new(uuid_key(table, &user)?), Box::new(rest)])
        }
        Table::Usernames
        | Table::Emails
        | Table::Offsets
        | Table::HighWaters
        | Table::Sessions
        | Table::Dedupe
        | Table::EventLog
        | Table::Meta => Some(vec![Box::new(start.to_vec())]),
    })
}

/// The parameters of an upsert of `key` → `value` (column order of the layout).
pub(super) fn put_params(table: Table, key: &[u8], value: &[u8]) -> Result<Vec<Param>> {
    Ok(match table {
        Table::Users => rows::user_params(key, value)?,
        Table::Sessions => rows::session_params(key, value)?,
        Table::Outbox | Table::Parked => rows::outbox_params(table, key, value)?,
        Table::Offsets => {
            let (topic, partition) = offsets_key(key)?;
            let next: i64 = decode(table, value)?;
            vec![Box::new(topic), Box::new(partition), Box::new(next)]
        }
        Table::HighWaters => rows::high_water_params(key, value)?,
        Table::Dedupe => rows::mark_params(key, value)?,
        Table::EventLog => {
            let applied: u32 = decode(table, value)?;
            vec![Box::new(key.to_vec()), Box::new(i64::from(applied))]
        }
        Table::Meta => vec![Box::new(key.to_vec()), Box::new(value.to_vec())],
        Table::Usernames | Table::Emails | Table::UserSessions => Vec::new(),
    })
}

/// The stored value of a row selected by the layout (key in column 0).
pub(super) fn value_of(table: Table, row: &Row) -> Result<Vec<u8>> {
    match table {
        Table::Users => rows::user_of(row),
        Table::Usernames | Table::Emails => column(row, 1),
        Table::UserSessions => Ok(Vec::new()),
        Table::Sessions => rows::session_of(row),
        Table::Outbox | Table::Parked => rows::outbox_of(table, row),
        Table::Offsets => encode(table, &column::<i64>(row, 1)?),
        Table::HighWaters => rows::high_water_of(row),
        Table::Dedupe => rows::mark_of(row),
        Table::EventLog => {
            let applied = u32::try_from(column::<i64>(row, 1)?)
                .map_err(|_| bad(table, "applied count above u32::MAX"))?;
            encode(table, &applied)
        }
        Table::Meta => column(row, 1),
    }
}
