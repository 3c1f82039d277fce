//! A zero-copy reader of Kafka record batches (magic 2), as a Fetch response carries them.
//!
//! rskafka's decoder builds a `Record` per record with owned key and value and a
//! `BTreeMap<String, Vec<u8>>` of headers; in the consumer loop that was most of the CPU. Here a
//! record's key, value and raw header bytes are [`Bytes`] slices of the response (or of the
//! decompressed batch), and headers are parsed only when looked up.
//!
//! What it checks: every length and varint against the bytes left, the batch CRC-32C, the
//! decompressed size of each batch against a caller's cap and its record count against the
//! records the cap holds in memory, and what the set's batches took together (so a set takes at most about the
//! cap in decompressed bytes and record structs, plus one batch's). A batch its writer sent that
//! cannot be read ends the set as [`Unreadable`], for the consumer to dead-letter rather than
//! ask for it forever.
//! A partial trailing batch (brokers cut at `max_bytes`) is ignored, as Kafka clients do.
//! Messages in the old formats (magic 0/1, [`legacy`]) are not read: unreadable. A batch whose
//! CRC does not match, or of a magic we do not know (a byte its CRC does not cover), may have
//! been damaged on the way: an error that carries its bytes ([`RecordsError::Damaged`]).
//!
//! What it leaves out, as a read_committed Kafka consumer does: control batches (transaction
//! markers) and the batches of aborted transactions ([`transactions`]). Where the reading may
//! go on is the end of the last complete batch ([`RecordSet::next_offset`]), not the last
//! record: a log may end in markers, or in a batch that compaction emptied.
use bytes::Bytes;

mod bounds;
mod codec;
pub mod encode;
mod error;
mod framing;
mod headers;
mod legacy;
pub mod size;
mod transactions;
mod wire;

pub use bounds::Bounds;
pub use error::RecordsError;
pub use headers::RawHeaders;
pub use transactions::Aborted;
use transactions::AbortedSoFar;
use wire::Cursor;

/// One record of a fetched batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedRecord {
    /// Its offset in the partition.
    pub offset: i64,
    /// Its timestamp (ms since the epoch).
    pub timestamp_ms: i64,
    /// The key.
    pub key: Option<Bytes>,
    /// The value.
    pub value: Option<Bytes>,
    /// The headers, parsed on lookup.
    pub headers: RawHeaders,
}

impl FetchedRecord {
    /// A record built from owned parts (records that did not come through the reader: rskafka's,
    /// tests').
    pub fn from_parts(
        offset: i64,
        timestamp_ms: i64,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        headers: &std::collections::BTreeMap<String, Vec<u8>>,
    ) -> Self {
        Self {
            offset,
            timestamp_ms,
            key: key.map(Bytes::from),
            value: value.map(Bytes::from),
            headers: RawHeaders::encode(headers.iter().map(|(k, v)| (k.as_str(), v.as_slice()))),
        }
    }
}

/// The fixed part of a batch header, from the base offset to the record count.
const BATCH_HEADER: usize = 61;
/// Where the CRC-covered bytes start (the attributes).
const CRC_START: usize = 21;

/// What a record set held for the reader: its records, and where the reading may go on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordSet {
    /// The records of the complete batches that are not control batches or aborted, in order.
    pub records: Vec<FetchedRecord>,
    /// The offset after the last complete batch read, whatever it held (records, transaction
    /// markers, an aborted transaction's records, nothing); `None` when there was none.
    pub next_offset: Option<i64>,
    /// The batch the set stopped at because it cannot be read, if any.
    pub unreadable: Option<Unreadable>,
}

/// A batch whose CRC matched (its bytes are what its writer sent) but which cannot be read: a
/// record that does not fit its batch, an unknown codec, a body that does not decompress, or
/// more than the cap once decompressed. Reading it again gives the same answer, so a consumer
/// dead-letters it as one record ([`Unreadable::raw`]) and goes on after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// Its first offset.
    pub base_offset: i64,
    /// Its last offset.
    pub last_offset: i64,
    /// Why it cannot be read.
    pub error: String,
    /// The whole batch as fetched, header included.
    pub raw: Bytes,
}

impl Unreadable {
    /// The offset a consumer reads from after it: its last offset's next, which a message
    /// numbered `i64::MAX` (an old-format message carries the offset its writer or broker
    /// gave it) does not have, so that one stands for itself rather than wrapping.
    pub fn next_offset(&self) -> i64 {
        self.last_offset.saturating_add(1)
    }

    /// A batch that looked damaged ([`RecordsError::Damaged`], `why`) and came again with the
    /// same bytes: the log holds it so, and asking again gives it again.
    pub fn damaged(base_offset: i64, last_offset: i64, raw: Bytes, why: &str) -> Self {
        Self {
            base_offset,
            last_offset,
            error: format!("{why}, the same bytes fetched twice"),
            raw,
        }
    }
}

/// Reads the complete batches in `data`, in order, leaving out control batches and the
/// batches of the transactions in `aborted` (a read_committed Fetch answer's list; empty for
/// a set with no transactions).
///
/// A batch may decompress to at most `max_decompressed` bytes, and the set stops at a batch
/// boundary once its batches took that much (decompressed bytes, and the records' own size),
/// so one answer of many small batches that each inflate to near the cap cannot take memory
/// without bound; the first batch is always read. An error in a later batch ends the set
/// before it, so the batches before it are kept and the next read starts at it; an error in
/// the first is the set's, except an [`Unreadable`] batch, which ends the set as
/// [`RecordSet::unreadable`].
pub fn read(
    data: &Bytes,
    max_decompressed: usize,
    aborted: &[Aborted],
) -> Result<RecordSet, RecordsError> {
    read_within(data, max_decompressed, aborted, Bounds::ANY)
}

/// [`read`] of a Fetch answer, whose batches must lie within `bounds`, each after the one ahead
/// of it ([`Bounds`]). Either of two batches out of place may be the damaged one, so the set
/// ends before both; when that leaves nothing, the answer is [`RecordsError::Misplaced`].
pub fn read_within(
    data: &Bytes,
    max_decompressed: usize,
    aborted: &[Aborted],
    bounds: Bounds,
) -> Result<RecordSet, RecordsError> {
    let mut out = RecordSet::default();
    let mut aborted = AbortedSoFar::new(aborted);
    let mut spent = 0usize;
    // Where the set ended before the last batch read: its records and `next_offset`.
    let mut before_last: Option<(usize, Option<i64>)> = None;
    let mut at = 0;
    while data.len() - at >= 17 && spent < max_decompressed {
        let batch = match framing::next_batch(data, at) {
            Ok(Some(end)) => data.slice(at..at + end),
            Ok(None) => break, // a partial trailing batch
            Err(error) if out.next_offset.is_none() => return Err(error),
            Err(_) => break,
        };
        let kept = out.records.len();
        let read = if legacy::is_legacy(batch[16] as i8) {
            // Old-format messages in a row are one unreadable run.
            legacy::read_run(data, at, batch.len()).map(Err)
        } else {
            read_batch(&batch, max_decompressed, &mut aborted, &mut out.records)
        };
        match read.map_err(|error| framing::before_next(error, data, at + batch.len())) {
            Ok(Ok((next, cost))) => {
                let base = framing::base_offset(&batch);
                if let Some(misplaced) = bounds.misplaced(base, next, out.next_offset, true) {
                    end_before(&mut out, misplaced, (kept, before_last), base, next)?;
                    break;
                }
                before_last = Some((kept, out.next_offset));
                out.next_offset = Some(next);
                spent = spent.saturating_add(cost);
                at += batch.len();
            }
            Ok(Err(unreadable)) => {
                let (base, next) = (unreadable.base_offset, unreadable.next_offset());
                match bounds.misplaced(base, next, out.next_offset, false) {
                    Some(misplaced) => {
                        end_before(&mut out, misplaced, (kept, before_last), base, next)?;
                    }
                    None => out.unreadable = Some(unreadable),
                }
                break;
            }
            Err(error) if out.next_offset.is_none() => return Err(error),
            Err(_) => break,
        }
    }
    Ok(out)
}

/// Ends `out` before a batch out of place (`base` to `next`), and before the batch ahead of it
/// too when either may be the damaged one (`kept`: the records before this batch, and where
/// the set ended before the batch ahead of it); the answer's error when that leaves nothing.
fn end_before(
    out: &mut RecordSet,
    misplaced: bounds::Misplaced,
    (kept, before_last): (usize, Option<(usize, Option<i64>)>),
    base: i64,
    next: i64,
) -> Result<(), RecordsError> {
    let ahead = matches!(misplaced, bounds::Misplaced::WithTheOneAhead(_))
        .then_some(before_last)
        .flatten();
    let (records, ended) = ahead.unwrap_or((kept, out.next_offset));
    if ended.is_none() {
        let why = misplaced.why();
        return Err(RecordsError::Misplaced { base, next, why });
    }
    out.records.truncate(records);
    out.next_offset = ended;
    Ok(())
}

/// What one batch read gave: the offset after it and what it cost (its decompressed bytes and
/// its records' own size); or the batch cannot be read ([`Unreadable`]).
type BatchRead = Result<(i64, usize), Unreadable>;

/// Reads one complete batch into `out` unless it is a control batch or aborted. Errors that
/// come before its CRC is known to match (the bytes may have been damaged on the way) are
/// the outer `Err`; errors of bytes its writer sent make it [`Unreadable`].
fn read_batch(
    batch: &Bytes,
    max_decompressed: usize,
    aborted: &mut AbortedSoFar,
    out: &mut Vec<FetchedRecord>,
) -> Result<BatchRead, RecordsError> {
    let b = &batch[..];
    let be64 = |i: usize| {
        let mut a = [0; 8];
        a.copy_from_slice(&b[i..i + 8]);
        i64::from_be_bytes(a)
    };
    let base_offset = be64(0);
    let attributes = u16::from_be_bytes([b[21], b[22]]);
    let last_offset_delta = i32::from_be_bytes([b[23], b[24], b[25], b[26]]);
    let last_offset = match framing::last_offset(batch)? {
        Ok(last) => last,
        Err(unreadable) => return Ok(Err(unreadable)),
    };
    let producer_id = be64(43);
    if attributes & 0x20 != 0 {
        // A control batch: the marker that ends a transaction of its producer.
        aborted.marker(producer_id, last_offset);
        return Ok(Ok((last_offset + 1, 0)));
    }
    if aborted.skips(producer_id, last_offset, attributes & 0x10 != 0) {
        return Ok(Ok((last_offset + 1, 0)));
    }
    let kept = out.len();
    let header = BatchHeader {
        base_offset,
        last_offset_delta,
        log_append_time: attributes & 0x08 != 0,
        first_timestamp: be64(27),
        max_timestamp: be64(35),
    };
    let count = i32::from_be_bytes([b[57], b[58], b[59], b[60]]);
    let records = usize::try_from(count)
        .map_err(|_| RecordsError::Malformed("record count"))
        .and_then(|count| {
            let body = batch.slice(BATCH_HEADER..);
            let codec = (attributes & 0x07) as u8;
            read_records(&header, codec, body, count, max_decompressed, out)
        });
    Ok(match records {
        Ok(cost) => Ok((last_offset + 1, cost)),
        Err(error) => {
            out.truncate(kept);
            Err(Unreadable {
                base_offset,
                last_offset,
                error: error.to_string(),
                raw: batch.clone(),
            })
        }
    })
}

/// What the records of a batch take from its header.
struct BatchHeader {
    base_offset: i64,
    last_offset_delta: i32,
    log_append_time: bool,
    first_timestamp: i64,
    max_timestamp: i64,
}

/// Reads the `count` records of a batch's `body` (compressed with `codec`) into `out`; what
/// they cost (decompressed bytes and the records' own size).
fn read_records(
    header: &BatchHeader,
    codec: u8,
    body: Bytes,
    count: usize,
    max_decompressed: usize,
    out: &mut Vec<FetchedRecord>,
) -> Result<usize, RecordsError> {
    // A record takes memory of its own besides its bytes (`record_size`): a batch of millions
    // of empty records would take far more than its decompressed size (a forged zstd batch of
    // a million records inflates to about 8 MB and would take 120 MB here, per partition and
    // read-ahead, enough to kill a container on every start). So a batch may hold as many
    // records as the cap holds records (about 140,000 at the consumer's 16 MiB): a batch of
    // up to 1 MiB, Kafka's default `max.message.bytes`, holds fewer unless its records
    // average under 8 bytes.
    let record_size = std::mem::size_of::<FetchedRecord>();
    let most = max_decompressed / record_size;
    if count > most {
        return Err(RecordsError::TooManyRecords { count, most });
    }
    let records = codec::decompress(codec, body, max_decompressed)?;
    // Each record takes at least 7 bytes: do not reserve for a count the bytes cannot hold.
    out.reserve(count.min(records.len() / 7));
    let mut cursor = Cursor::new(&records);
    let mut previous = -1;
    for _ in 0..count {
        let r = wire::record(&mut cursor)?;
        // Offsets rise within a batch, and stay within its own (a writer's forgery breaks
        // this: brokers check the batch's record count against its last offset delta, not
        // each record's delta). Such a batch is unreadable, dead-lettered whole: a record left
        // out would vanish unseen, one kept out of order would skip the records it
        // overtook, one past the batch would put an offset past the set's `next_offset`.
        if r.offset_delta <= previous || r.offset_delta > i64::from(header.last_offset_delta) {
            return Err(RecordsError::Malformed(
                "record offsets that do not rise within the batch's",
            ));
        }
        previous = r.offset_delta;
        out.push(FetchedRecord {
            offset: header.base_offset + r.offset_delta,
            timestamp_ms: if header.log_append_time {
                header.max_timestamp
            } else {
                header.first_timestamp.wrapping_add(r.timestamp_delta)
            },
            key: r.key,
            value: r.value,
            headers: r.headers,
        });
    }
    if !cursor.is_empty() {
        return Err(RecordsError::Malformed("bytes after the last record"));
    }
    Ok(records
        .len()
        .saturating_add(count.saturating_mul(record_size)))
}

#[cfg(test)]
mod tests;
