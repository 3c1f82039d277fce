//! A fetched batch applied inside one store transaction ([`apply_batch`]): skip duplicates,
//! dead-letter poison records, apply handler effects, mark dedupe keys, and store the next
//! offset, all committed together. A handler failure stops the batch there; what came before
//! it commits, and the partition loop applies the rest again later.

mod dead_letter;
mod dedupe;
mod effects;
mod read_ahead;

use std::panic::AssertUnwindSafe;

use dedupe::Dedupe;
pub use dedupe::{HighWater, Key, high_water_key, poison_key};
use effects::{apply, effects_bytes, row_bytes};
pub use read_ahead::{READ_AHEAD, read_ahead};

use super::handler::{Effects, HandlerError, RecordError, RecordHandler};
use crate::{
    event::{HeaderLookup, header},
    kafka::records::{FetchedRecord, Unreadable},
    outbox::{self, OutboxRecord},
    store::{self, ReadTxn, Result, Table, WriteTxn},
};

/// The dedupe mark key of a record: its event id, as `u/<16 bytes>` when it is a UUID (ours
/// are: version 7, so that marks are written in time order, at the end of the table) and as
/// `e/<ce_id>` otherwise (the nil and the max UUID name no event: as no `ce_id`); else its
/// producer id and sequence as written
/// (`p/<producer>/<sequence>`, or `q/<length>:<producer>/<sequence>` for a producer id with a
/// `/` in it); else none. A key longer than [`MAX_MARK_KEY`] (an id or
/// header a foreign writer made long) is `h/` and its SHA-256 instead: PostgreSQL refuses a
/// primary key past about 2.7 KB, and a batch that cannot commit would stall its partition.
/// See `dedupe`'s module docs for why the event id comes first.
pub fn dedupe_key(headers: &impl HeaderLookup) -> Option<Vec<u8>> {
    let text = |name: &str| headers.header(name).filter(|v| !v.is_empty());
    // The nil or the max UUID names no event (a writer that never set an id writes it on
    // every event): as no id, so that such records do not all share one mark.
    let named =
        |id: &&[u8]| uuid::Uuid::try_parse_ascii(id).map_or(true, |u| !u.is_nil() && !u.is_max());
    if let Some(id) = text(header::ID).filter(named) {
        return Some(match uuid::Uuid::try_parse_ascii(id) {
            Ok(uuid) => [UUID_MARK.as_slice(), uuid.as_bytes()].concat(),
            Err(_) => bounded([b"e/".as_slice(), id].concat()),
        });
    }
    let (p, s) = (text(header::PRODUCER_ID)?, text(header::SEQUENCE)?);
    // `p/<producer>/<sequence>` is read up to the first `/`: a producer id with one in it
    // (never ours: it is a number) is written with its length, so that ("1/2", "3") and
    // ("1", "2/3") are not one key.
    let mut key = if p.contains(&b'/') {
        format!("q/{}:", p.len()).into_bytes()
    } else {
        b"p/".to_vec()
    };
    key.extend_from_slice(p);
    key.push(b'/');
    key.extend_from_slice(s);
    Some(bounded(key))
}

/// The longest mark key kept as it is (see [`dedupe_key`]): a poison mark adds the topic (at
/// most 249 bytes) and the partition to it, and stays under PostgreSQL's ~2.7 KB. Marks of
/// longer keys written before the bound existed are not found under their hash: no
/// producer of ours or of Kafka's writes ids that long.
pub const MAX_MARK_KEY: usize = 2_048;

/// `key`, or `h/` and its SHA-256 when it is longer than [`MAX_MARK_KEY`].
fn bounded(key: Vec<u8>) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    if key.len() <= MAX_MARK_KEY {
        return key;
    }
    [b"h/".as_slice(), &Sha256::digest(&key)].concat()
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

/// Stores `offset` as the next offset of `topic`/`partition`.
pub fn put_offset(txn: &mut dyn WriteTxn, topic: &str, partition: i32, offset: i64) -> Result<()> {
    store::put(txn, Table::Offsets, &offset_key(topic, partition), &offset)
}

/// Where a batch is applied and what to do with its records.
#[derive(Debug, Clone)]
pub struct BatchInput<'a> {
    /// Source topic.
    pub topic: &'a str,
    /// Source partition.
    pub partition: i32,
    /// The next offset to handle; earlier records in the batch are skipped.
    pub next_offset: i64,
    /// Where the fetched batches end: the next offset stored once every record is handled.
    /// Past the last record when the batches end in some that hold none for the consumer
    /// (transaction markers, an aborted transaction, a batch compaction emptied).
    pub ends: i64,
    /// Dead-letter topic.
    pub dlq_topic: &'a str,
    /// A record (by offset) whose handler failed too often: dead-letter it with this error.
    pub give_up: Option<(i64, String)>,
    /// A batch after the records that cannot be read: dead-lettered as one record once every
    /// record before it is handled (`ends` is past it).
    pub unreadable: Option<&'a Unreadable>,
    /// Time stamped on dedupe marks and outbox rows.
    pub now_ms: i64,
    /// Where to record each handler call's duration, in seconds.
    pub handler_seconds: Option<&'a crate::metrics::Histogram>,
    /// Producer id stamped with a sequence from the store ([`outbox::stamp`]) on every output
    /// and dead letter, so a replay of the outbox row keeps its dedupe key.
    pub producer_id: u64,
}

/// What applying a batch did.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// The next offset to read (stored with the batch's transaction).
    pub next_offset: i64,
    /// Records handled.
    pub handled: u64,
    /// Records skipped as duplicates.
    pub duplicates: u64,
    /// Records sent to the dead-letter topic.
    pub dead: u64,
    /// Offset and reason of each of them, to be logged once the transaction committed.
    pub dead_letters: Vec<(i64, String)>,
    /// Records written to the outbox (outputs and dead letters).
    pub outbox_rows: u64,
    /// The handler failed on the record at this offset; the batch stopped before it.
    pub failed: Option<(i64, HandlerError)>,
    /// The transaction stopped at [`MAX_RECORDS_PER_TRANSACTION`] or
    /// [`MAX_BYTES_PER_TRANSACTION`]: the batch goes on from `next_offset` in the next one.
    pub more: bool,
}

/// The most records one transaction applies. Every record may write outbox rows (a poison
/// record a dead letter of a few hundred bytes) that the store holds until the commit, and a
/// few kilobytes of compressed batch can hold a hundred thousand empty records: a batch past
/// this commits in parts. A fetch of ordinary events holds fewer.
pub const MAX_RECORDS_PER_TRANSACTION: usize = 10_000;

/// The most headers a record may have for the consumer to look into it. Each lookup walks the
/// headers, and a record of 16 MiB could hold 8 million (2 bytes each, a few kilobytes
/// compressed): past this many, a record is poison before any lookup, has no identity the
/// consumer reads (no dedupe mark: a copy is dead-lettered again), and its dead letter leaves
/// the headers out (each kept one costs a map entry of about 100 bytes). No event has more
/// than a dozen.
pub const MAX_HEADERS: usize = 4096;

/// The identity of `r` ([`Key::of`]) as the consumer reads it: none when it has more than
/// [`MAX_HEADERS`] headers.
pub fn key_of(r: &FetchedRecord) -> Option<Key> {
    (r.headers.len() <= MAX_HEADERS)
        .then(|| Key::of(&r.headers))
        .flatten()
}

/// The bytes of rows (outbox rows, dead letters and the handlers' other writes) past which a
/// transaction applies no further record; its dedupe marks (tens of bytes a record) and the
/// dead letter of an unreadable batch (at most 512 KiB) come besides. PostgreSQL's
/// transaction holds what it writes until its commit, and a few kilobytes of compressed
/// records can become far more: 8 KiB texts that JSON escapes six bytes a character, in a
/// welcome and an analytics record each. One record's effects are bounded (texts of at most
/// 8 KiB, at most 4,096 headers), so a transaction holds at most this and one record's rows.
pub const MAX_BYTES_PER_TRANSACTION: usize = 8 << 20;

/// Applies `records` from `input.next_offset` on inside `txn`: skips duplicates,
/// dead-letters poison records, applies handler effects with their dedupe marks, and stores
/// the next offset. A handler failure stops it there; what came before commits with `txn`.
pub fn apply_batch(
    txn: &mut dyn WriteTxn,
    handler: &dyn RecordHandler,
    records: &[FetchedRecord],
    input: &BatchInput<'_>,
) -> Result<BatchOutcome> {
    // The stored offset, read with the first records' rows. The loop stores every offset it
    // moves to (a reset to the earliest too) before reading from it, so a stored offset
    // ahead of the batch's start is a commit of this batch that landed though its answer was
    // lost (a connection lost during PostgreSQL's COMMIT): applied again from there, what no
    // mark tells apart (a poison record with no identity, a batch that cannot be read) is not
    // dead-lettered twice.
    let offset_key = offset_key(input.topic, input.partition);
    let head = &records[..records.len().min(READ_AHEAD)];
    let also = [(Table::Offsets, offset_key.as_slice())];
    read_ahead(&*txn, handler, head, input.next_offset, &also)?;
    let stored = stored_offset(&*txn, input.topic, input.partition)?;
    let mut batch = Applying {
        txn,
        handler,
        input,
        dedupe: Dedupe::new(input.topic, input.partition),
        written: 0,
        outcome: BatchOutcome {
            next_offset: stored.map_or(input.next_offset, |s| s.max(input.next_offset)),
            ..Default::default()
        },
    };
    let mut applied = 0usize;
    for (i, r) in records.iter().enumerate() {
        if applied == MAX_RECORDS_PER_TRANSACTION || batch.written >= MAX_BYTES_PER_TRANSACTION {
            batch.outcome.more = true;
            break;
        }
        if i > 0 && i % READ_AHEAD == 0 {
            let run = &records[i..records.len().min(i + READ_AHEAD)];
            read_ahead(&*batch.txn, handler, run, batch.outcome.next_offset, &[])?;
        }
        if r.offset >= batch.outcome.next_offset {
            applied += 1;
        }
        if !batch.record(r)? {
            break;
        }
    }
    batch.finish()
}

/// A batch being applied: the transaction, what to do, and what was done so far.
struct Applying<'t, 'a> {
    /// The batch's one store transaction.
    txn: &'t mut dyn WriteTxn,
    /// What each record becomes.
    handler: &'a dyn RecordHandler,
    /// Where the batch is applied.
    input: &'a BatchInput<'a>,
    /// The dedupe of this partition.
    dedupe: Dedupe<'a>,
    /// Bytes of the rows written so far ([`MAX_BYTES_PER_TRANSACTION`]).
    written: usize,
    /// What was done so far; its `next_offset` follows the records handled.
    outcome: BatchOutcome,
}

impl Applying<'_, '_> {
    /// Handles `r` (skipped when before the next offset); false when its handler failed and
    /// the batch stops before it.
    fn record(&mut self, r: &FetchedRecord) -> Result<bool> {
        if r.offset < self.outcome.next_offset {
            return Ok(true);
        }
        let key = key_of(r);
        if let Some(k) = &key
            && self.dedupe.seen(&*self.txn, k)?
        {
            self.duplicate(r);
            return Ok(true);
        }
        match self.verdict(r) {
            Ok(effects) => self.handled(key.as_ref(), effects)?,
            Err(RecordError::Poison(error)) => {
                // A record given up on had nothing applied: marked per partition like any
                // poison, so that a readable copy of its event elsewhere (the same event id
                // under another writer's data version) is still applied once.
                if self.poison_seen(key.as_ref())? {
                    self.duplicate(r);
                    return Ok(true);
                }
                let error = dead_letter::clamped(error);
                let letter = dead_letter::of_record(r, self.input, &error);
                self.dead_letter(letter, r.offset, error)?;
            }
            Err(RecordError::Failed(error)) => {
                self.outcome.failed = Some((r.offset, error));
                return Ok(false);
            }
        }
        self.outcome.next_offset = r.offset + 1;
        Ok(true)
    }

    /// What `r` becomes: poison with the recorded error when its handler was given up on, or
    /// when it has more than [`MAX_HEADERS`] headers; else its handler's verdict, timed. A
    /// handler that panics failed on `r`: it is tried again and given up on after
    /// `handler_attempts` like any failure, rather than failing the whole pass, which would
    /// be run again for ever with the partition stuck behind it (a handler only reads; its
    /// writes are the effects it returns).
    fn verdict(&self, r: &FetchedRecord) -> Result<Effects, RecordError> {
        match &self.input.give_up {
            Some((offset, error)) if *offset == r.offset => Err(RecordError::Poison(error.clone())),
            _ if r.headers.len() > MAX_HEADERS => Err(RecordError::Poison(format!(
                "{} headers, more than the {MAX_HEADERS} a record may have",
                r.headers.len()
            ))),
            _ => {
                let started = std::time::Instant::now();
                let handle = AssertUnwindSafe(|| self.handler.handle(r, &*self.txn));
                let verdict = std::panic::catch_unwind(handle).unwrap_or_else(|panic| {
                    let why = crate::logging::panic_message(&*panic);
                    Err(RecordError::Failed(HandlerError::Panicked(why)))
                });
                if let Some(h) = self.input.handler_seconds {
                    h.observe(started.elapsed().as_secs_f64());
                }
                verdict
            }
        }
    }

    /// `r` was seen before: skipped.
    fn duplicate(&mut self, r: &FetchedRecord) {
        self.outcome.duplicates += 1;
        self.outcome.next_offset = r.offset + 1;
    }

    /// Applies a handled record's effects and marks it.
    fn handled(&mut self, key: Option<&Key>, effects: Effects) -> Result<()> {
        self.written += effects_bytes(&effects);
        self.outcome.outbox_rows += apply(self.txn, effects, self.input)?;
        self.outcome.handled += 1;
        // The event-log entry of the mark's event id is pruned with the mark.
        if let Some(k) = key {
            self.dedupe.handled(self.txn, k, self.input.now_ms)?;
        }
        Ok(())
    }

    /// Marks a poison record per partition (also one whose handler was given up on: nothing
    /// of it was applied). Whether a copy was dead-lettered from this partition already.
    fn poison_seen(&mut self, key: Option<&Key>) -> Result<bool> {
        let Some(k) = key else { return Ok(false) };
        self.dedupe.poison(self.txn, k, self.input.now_ms)
    }

    /// Writes `letter`, the dead letter of the record (or batch) at `offset`, to the outbox.
    fn dead_letter(&mut self, mut letter: OutboxRecord, offset: i64, error: String) -> Result<()> {
        outbox::stamp(self.txn, self.input.producer_id, &mut letter.headers)?;
        self.written += row_bytes(&letter);
        outbox::append(self.txn, &letter)?;
        self.outcome.outbox_rows += 1;
        self.outcome.dead += 1;
        self.outcome.dead_letters.push((offset, error));
        Ok(())
    }

    /// Stores the next offset in the transaction (where the batches end, once every record is
    /// handled); what was done.
    fn finish(mut self) -> Result<BatchOutcome> {
        let input = self.input;
        if self.outcome.failed.is_none() && !self.outcome.more {
            if let Some(bad) = input.unreadable
                && bad.last_offset >= self.outcome.next_offset
            {
                let error = format!("unreadable batch: {}", bad.error);
                let letter = dead_letter::of_batch(bad, self.input, &error);
                self.dead_letter(letter, bad.base_offset, error)?;
            }
            self.outcome.next_offset = self.outcome.next_offset.max(input.ends);
        }
        put_offset(
            self.txn,
            input.topic,
            input.partition,
            self.outcome.next_offset,
        )?;
        Ok(self.outcome)
    }
}

#[cfg(test)]
mod tests;
