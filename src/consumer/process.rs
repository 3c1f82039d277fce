//! One pass over a fetched batch inside one store transaction: skip duplicates, dead-letter
//! poison records, apply handler effects, mark dedupe keys, and store the next offset, all
//! committed together. A handler failure stops the pass there; what came before it commits.

mod dedupe;

use dedupe::Dedupe;
pub use dedupe::{HighWater, Key, high_water_key, poison_key};

use super::handler::{Effects, HandlerError, RecordError, RecordHandler, Write};
use crate::{
    event::{HeaderLookup, header},
    kafka::records::FetchedRecord,
    outbox::{self, OutboxRecord},
    store::{self, ReadTxn, Result, Table, WriteTxn},
};

/// The dedupe mark key of a record: its event id, as `u/<16 bytes>` when it is a UUID (ours
/// are: version 7, so that marks are written in time order, at the end of the table) and as
/// `e/<ce_id>` otherwise; else its producer id and sequence as written
/// (`p/<producer>/<sequence>`); else none. See `dedupe`'s module docs for why the event id
/// comes first.
pub fn dedupe_key(headers: &impl HeaderLookup) -> Option<Vec<u8>> {
    let text = |name: &str| headers.header(name).filter(|v| !v.is_empty());
    if let Some(id) = text(header::ID) {
        return Some(match uuid::Uuid::try_parse_ascii(id) {
            Ok(uuid) => [UUID_MARK.as_slice(), uuid.as_bytes()].concat(),
            Err(_) => [b"e/".as_slice(), id].concat(),
        });
    }
    let (p, s) = (text(header::PRODUCER_ID)?, text(header::SEQUENCE)?);
    let mut key = b"p/".to_vec();
    key.extend_from_slice(p);
    key.push(b'/');
    key.extend_from_slice(s);
    Some(key)
}

/// The prefix of the mark of a record whose event id is a UUID.
pub const UUID_MARK: &[u8; 2] = b"u/";

/// The event id of a mark key written by [`dedupe_key`] for a UUID event id.
pub fn event_id_of_mark(key: &[u8]) -> Option<[u8; 16]> {
    key.strip_prefix(UUID_MARK.as_slice())?.try_into().ok()
}

/// The store key of a partition's offset.
pub fn offset_key(topic: &str, partition: i32) -> Vec<u8> {
    format!("{topic}/{partition}").into_bytes()
}

/// The stored next offset of a partition.
pub fn stored_offset(txn: &dyn ReadTxn, topic: &str, partition: i32) -> Result<Option<i64>> {
    store::get(txn, Table::Offsets, &offset_key(topic, partition))
}

/// Where a pass over a batch is and what to do with its records.
#[derive(Debug, Clone)]
pub struct PassInput<'a> {
    /// Source topic.
    pub topic: &'a str,
    /// Source partition.
    pub partition: i32,
    /// The next offset to handle; earlier records in the batch are skipped.
    pub next_offset: i64,
    /// Dead-letter topic.
    pub dlq_topic: &'a str,
    /// A record (by offset) whose handler failed too often: dead-letter it with this error.
    pub give_up: Option<(i64, String)>,
    /// Time stamped on dedupe marks and outbox rows.
    pub now_ms: i64,
    /// Where to record each handler call's duration, in seconds.
    pub handler_seconds: Option<&'a crate::metrics::Histogram>,
    /// Producer id stamped with a sequence from the store ([`outbox::stamp`]) on every output
    /// and dead letter, so a replay of the outbox row keeps its dedupe key.
    pub producer_id: u64,
}

/// What a pass did.
#[derive(Debug, Default)]
pub struct PassOutcome {
    /// The next offset to read (stored with the pass).
    pub next_offset: i64,
    /// Records handled.
    pub handled: u64,
    /// Records skipped as duplicates.
    pub duplicates: u64,
    /// Records sent to the dead-letter topic.
    pub dead: u64,
    /// Offset and reason of each of them, to be logged once the pass committed.
    pub dead_letters: Vec<(i64, String)>,
    /// Records written to the outbox (outputs and dead letters).
    pub outbox_rows: u64,
    /// The handler failed on the record at this offset; the pass stopped before it.
    pub failed: Option<(i64, HandlerError)>,
}

/// Runs one pass inside `txn`.
pub fn pass(
    txn: &mut dyn WriteTxn,
    handler: &dyn RecordHandler,
    records: &[FetchedRecord],
    input: &PassInput<'_>,
) -> Result<PassOutcome> {
    let mut out = PassOutcome {
        next_offset: input.next_offset,
        ..Default::default()
    };
    let dedupe = Dedupe::new(input.topic, input.partition);
    for r in records {
        if r.offset < out.next_offset {
            continue;
        }
        let key = Key::of(&r.headers);
        if let Some(k) = &key
            && dedupe.seen(&*txn, k)?
        {
            out.duplicates += 1;
            out.next_offset = r.offset + 1;
            continue;
        }
        let (verdict, given_up) = match &input.give_up {
            Some((offset, error)) if *offset == r.offset => {
                (Err(RecordError::Poison(error.clone())), true)
            }
            _ => {
                let started = std::time::Instant::now();
                let verdict = handler.handle(r, &*txn);
                if let Some(h) = input.handler_seconds {
                    h.observe(started.elapsed().as_secs_f64());
                }
                (verdict, false)
            }
        };
        match verdict {
            Ok(effects) => {
                out.outbox_rows += apply(txn, effects, input)?;
                out.handled += 1;
                // The event-log entry of the mark's event id is pruned with the mark.
                if let Some(k) = &key {
                    dedupe.handled(txn, k, input.now_ms)?;
                }
            }
            Err(RecordError::Poison(error)) => {
                if let Some(k) = &key {
                    let seen = if given_up {
                        dedupe.handled(txn, k, input.now_ms)?;
                        false
                    } else {
                        dedupe.poison(txn, k, input.now_ms)?
                    };
                    if seen {
                        out.duplicates += 1;
                        out.next_offset = r.offset + 1;
                        continue;
                    }
                }
                let mut letter = dead_letter(r, input, &error);
                outbox::stamp(txn, input.producer_id, &mut letter.headers)?;
                outbox::append(txn, &letter)?;
                out.outbox_rows += 1;
                out.dead += 1;
                out.dead_letters.push((r.offset, error));
            }
            Err(RecordError::Failed(error)) => {
                out.failed = Some((r.offset, error));
                break;
            }
        }
        out.next_offset = r.offset + 1;
    }
    store::put(
        txn,
        Table::Offsets,
        &offset_key(input.topic, input.partition),
        &out.next_offset,
    )?;
    Ok(out)
}

fn apply(txn: &mut dyn WriteTxn, effects: Effects, input: &PassInput<'_>) -> Result<u64> {
    for write in effects.writes {
        match write {
            Write::Put { table, key, value } => txn.put(table, &key, &value)?,
            Write::Delete { table, key } => {
                txn.delete(table, &key)?;
            }
        }
    }
    let rows = effects.outputs.len() as u64;
    for mut record in effects.outputs {
        if record.created_ms == 0 {
            record.created_ms = input.now_ms;
        }
        outbox::stamp(txn, input.producer_id, &mut record.headers)?;
        outbox::append(txn, &record)?;
    }
    Ok(rows)
}

/// The dead letter of `r`: its key, value and headers, plus headers naming the error and source.
/// Its identity headers are replaced when it is stamped: a dead letter is a new record.
fn dead_letter(r: &FetchedRecord, input: &PassInput<'_>, error: &str) -> OutboxRecord {
    let mut headers = r.headers.to_map();
    headers.insert("dlq_error".into(), error.as_bytes().to_vec());
    headers.insert("dlq_source_topic".into(), input.topic.as_bytes().to_vec());
    headers.insert(
        "dlq_source_partition".into(),
        input.partition.to_string().into_bytes(),
    );
    headers.insert(
        "dlq_source_offset".into(),
        r.offset.to_string().into_bytes(),
    );
    OutboxRecord {
        topic: input.dlq_topic.to_owned(),
        key: r.key.as_deref().map(<[u8]>::to_vec),
        value: r.value.as_deref().map(<[u8]>::to_vec).unwrap_or_default(),
        headers,
        created_ms: input.now_ms,
    }
}

#[cfg(test)]
mod tests;
