//! The domain's row types as typed columns: a user, a session, an outbox row, a high water and
//! a dedupe mark, each written as the parameters of its table's upsert (column order of the
//! layout) and read back from its selected columns into the same value. The one room of the
//! PostgreSQL backend that knows the users', the outbox's and the consumer's row types.
use serde::Serialize;
use tokio_postgres::Row;
use uuid::Uuid;

use super::columns::{Param, bad, column, decode, encode, high_water_key, seq_key, uuid_key};
use crate::{
    consumer::{process::HighWater, prune::Mark},
    outbox::OutboxRecord,
    store::{Result, Table},
    users::{Session, User, lookup_key},
};

/// A status or role as the name its column holds.
fn status_text<T: Serialize>(table: Table, value: &T) -> Result<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => Ok(s),
        _ => Err(bad(table, "status or role is not a name")),
    }
}

/// A status or role from the name its column holds.
fn from_text<T: serde::de::DeserializeOwned>(table: Table, text: String) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(text))
        .map_err(|_| bad(table, "unknown status or role in the row"))
}

/// A [`User`] as its columns, with the lookup keys of its name and e-mail address.
pub(super) fn user_params(key: &[u8], value: &[u8]) -> Result<Vec<Param>> {
    let table = Table::Users;
    let u: User = decode(table, value)?;
    if uuid_key(table, key)? != u.id {
        return Err(bad(table, "key differs from the row's id"));
    }
    let (username_key, email_key) = (lookup_key(&u.username), lookup_key(&u.email));
    Ok(vec![
        Box::new(u.id),
        Box::new(u.username),
        Box::new(u.email),
        Box::new(u.nickname),
        Box::new(u.avatar_url),
        Box::new(status_text(table, &u.status)?),
        Box::new(status_text(table, &u.role)?),
        Box::new(u.password_hash),
        Box::new(u.created_ms),
        Box::new(u.updated_ms),
        Box::new(u.last_login_ms),
        Box::new(username_key),
        Box::new(email_key),
    ])
}

/// The [`User`] of a selected row.
pub(super) fn user_of(row: &Row) -> Result<Vec<u8>> {
    let table = Table::Users;
    encode(
        table,
        &User {
            id: column(row, 1)?,
            username: column(row, 2)?,
            email: column(row, 3)?,
            nickname: column(row, 4)?,
            avatar_url: column(row, 5)?,
            status: from_text(table, column(row, 6)?)?,
            role: from_text(table, column(row, 7)?)?,
            password_hash: column(row, 8)?,
            created_ms: column(row, 9)?,
            updated_ms: column(row, 10)?,
            last_login_ms: column(row, 11)?,
        },
    )
}

/// A [`Session`] as its columns.
pub(super) fn session_params(key: &[u8], value: &[u8]) -> Result<Vec<Param>> {
    let s: Session = decode(Table::Sessions, value)?;
    Ok(vec![
        Box::new(key.to_vec()),
        Box::new(s.user_id),
        Box::new(s.created_ms),
        Box::new(s.expires_ms),
    ])
}

/// The [`Session`] of a selected row.
pub(super) fn session_of(row: &Row) -> Result<Vec<u8>> {
    encode(
        Table::Sessions,
        &Session {
            user_id: column(row, 1)?,
            created_ms: column(row, 2)?,
            expires_ms: column(row, 3)?,
        },
    )
}

/// An [`OutboxRecord`] (of the outbox or of the parked rows) as its columns.
pub(super) fn outbox_params(table: Table, key: &[u8], value: &[u8]) -> Result<Vec<Param>> {
    let mut params = vec![Box::new(seq_key(table, key)?) as Param];
    params.extend(outbox_columns(table, value)?);
    Ok(params)
}

/// The columns of an outbox row after its sequence, from its [`OutboxRecord`].
pub(super) fn outbox_columns(table: Table, value: &[u8]) -> Result<Vec<Param>> {
    let r: OutboxRecord = decode(table, value)?;
    let (names, values): (Vec<String>, Vec<Vec<u8>>) = r.headers.into_iter().unzip();
    Ok(vec![
        Box::new(r.topic),
        Box::new(r.key),
        Box::new(r.value),
        Box::new(names),
        Box::new(values),
        Box::new(r.created_ms),
    ])
}

/// The [`OutboxRecord`] of a selected row.
pub(super) fn outbox_of(table: Table, row: &Row) -> Result<Vec<u8>> {
    let names: Vec<String> = column(row, 4)?;
    let values: Vec<Vec<u8>> = column(row, 5)?;
    encode(
        table,
        &OutboxRecord {
            topic: column(row, 1)?,
            key: column(row, 2)?,
            value: column(row, 3)?,
            headers: names.into_iter().zip(values).collect(),
            created_ms: column(row, 6)?,
        },
    )
}

/// A [`HighWater`] as its columns (the `u64` sequence as the bits of a `bigint`).
pub(super) fn high_water_params(key: &[u8], value: &[u8]) -> Result<Vec<Param>> {
    let (topic, partition, producer) = high_water_key(key)?;
    let high: HighWater = decode(Table::HighWaters, value)?;
    Ok(vec![
        Box::new(topic),
        Box::new(partition),
        Box::new(producer),
        Box::new(i64::from_ne_bytes(high.sequence.to_ne_bytes())),
        Box::new(high.seen_ms),
    ])
}

/// The [`HighWater`] of a selected row.
pub(super) fn high_water_of(row: &Row) -> Result<Vec<u8>> {
    encode(
        Table::HighWaters,
        &HighWater {
            sequence: u64::from_ne_bytes(column::<i64>(row, 1)?.to_ne_bytes()),
            seen_ms: column(row, 2)?,
        },
    )
}

/// A dedupe [`Mark`] as its columns; marks from before the event id was kept are a bare time.
pub(super) fn mark_params(key: &[u8], value: &[u8]) -> Result<Vec<Param>> {
    let mark = match postcard::take_from_bytes::<Mark>(value) {
        Ok((mark, [])) => mark,
        _ => Mark {
            seen_ms: decode(Table::Dedupe, value)?,
            event_id: None,
        },
    };
    Ok(vec![
        Box::new(key.to_vec()),
        Box::new(mark.seen_ms),
        Box::new(mark.event_id.map(Uuid::from_bytes)),
    ])
}

/// The dedupe [`Mark`] of a selected row.
pub(super) fn mark_of(row: &Row) -> Result<Vec<u8>> {
    encode(
        Table::Dedupe,
        &Mark {
            seen_ms: column(row, 1)?,
            event_id: column::<Option<Uuid>>(row, 2)?.map(Uuid::into_bytes),
        },
    )
}
