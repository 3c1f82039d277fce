//! A zero-copy reader of Kafka record batches (magic 2), as a Fetch response carries them.
//!
//! rskafka's decoder builds a `Record` per record with owned key and value and a
//! `BTreeMap<String, Vec<u8>>` of headers; in the consumer loop that was most of the CPU. Here a
//! record's key, value and raw header bytes are [`Bytes`] slices of the response (or of the
//! decompressed batch), and headers are parsed only when looked up.
//!
//! What it checks: every length and varint against the bytes left, the batch CRC-32C, and the
//! decompressed size against a caller's cap (a malicious broker cannot make it allocate more).
//! A partial trailing batch (brokers cut at `max_bytes`) is ignored, as Kafka clients do; the
//! old message formats (magic 0/1) are an error.
//!
//! What it leaves out, as a read_committed Kafka consumer does: control batches (transaction
//! markers) and the batches of aborted transactions ([`transactions`]). Where the reading may
//! go on is the end of the last complete batch ([`RecordSet::next_offset`]), not the last
//! record: a log may end in markers, or in a batch that compaction emptied.
use bytes::Bytes;

mod codec;
pub mod encode;
pub mod size;
mod transactions;
mod wire;

pub use transactions::Aborted;
use transactions::AbortedSoFar;
use wire::Cursor;

/// Why a record set could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordsError {
    /// A batch in the old message format.
    #[error("unsupported message format (magic {0})")]
    Magic(i8),
    /// The CRC-32C in the batch header does not match its bytes.
    #[error("batch at offset {offset}: CRC mismatch")]
    Crc {
        /// The batch's base offset.
        offset: i64,
    },
    /// A length, count or varint does not fit the bytes.
    #[error("malformed record batch: {0}")]
    Malformed(&'static str),
    /// The compression codec in the attributes is unknown.
    #[error("unknown compression codec {0}")]
    Codec(u8),
    /// Decompression failed.
    #[error("decompression failed")]
    Decompress(#[source] std::io::Error),
    /// The batch decompresses to more than the cap.
    #[error("batch decompresses to more than {cap} bytes")]
    TooLarge {
        /// The cap.
        cap: usize,
    },
}

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

/// The headers of a record as they came over the wire: a count and the encoded pairs. Their
/// lengths were checked when the record was read, so lookups cannot fail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawHeaders {
    count: usize,
    raw: Bytes,
}

impl RawHeaders {
    /// Encodes `pairs` (for tests and tools that build records by hand).
    pub fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Self {
        let mut raw = Vec::new();
        let mut count = 0;
        for (name, value) in pairs {
            wire::put_varint(&mut raw, name.len() as i64);
            raw.extend_from_slice(name.as_bytes());
            wire::put_varint(&mut raw, value.len() as i64);
            raw.extend_from_slice(value);
            count += 1;
        }
        Self {
            count,
            raw: raw.into(),
        }
    }

    /// The number of headers.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The value of the first header named `name` (a null value reads as empty).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(n, _)| *n == name.as_bytes())
            .map(|(_, v)| v)
    }

    /// The headers in wire order: name bytes and value bytes.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let mut cursor = Cursor::new(&self.raw);
        (0..self.count).map_while(move |_| wire::header(&mut cursor).ok())
    }

    /// The headers as the event layer's map (names that are not UTF-8 are dropped).
    pub fn to_map(&self) -> std::collections::BTreeMap<String, Vec<u8>> {
        self.iter()
            .filter_map(|(n, v)| Some((std::str::from_utf8(n).ok()?.to_owned(), v.to_vec())))
            .collect()
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
    /// The offset after the last complete batch, whatever it held (records, transaction
    /// markers, an aborted transaction's records, nothing); `None` when there was none.
    pub next_offset: Option<i64>,
}

/// Reads every complete batch in `data`, in order, leaving out control batches and the
/// batches of the transactions in `aborted` (a read_committed Fetch answer's list; empty for
/// a set with no transactions). A batch may decompress to at most `max_decompressed` bytes.
pub fn read(
    data: &Bytes,
    max_decompressed: usize,
    aborted: &[Aborted],
) -> Result<RecordSet, RecordsError> {
    let mut out = RecordSet::default();
    let mut aborted = AbortedSoFar::new(aborted);
    let mut at = 0;
    while data.len() - at >= 17 {
        let head = &data[at..];
        let length = i32::from_be_bytes([head[8], head[9], head[10], head[11]]);
        let magic = head[16] as i8;
        if magic != 2 {
            return Err(RecordsError::Magic(magic));
        }
        let length =
            usize::try_from(length).map_err(|_| RecordsError::Malformed("batch length"))?;
        let Some(end) = length.checked_add(12).filter(|&end| end <= head.len()) else {
            break; // a partial trailing batch
        };
        if end < BATCH_HEADER {
            return Err(RecordsError::Malformed("batch shorter than its header"));
        }
        let next = read_batch(
            &data.slice(at..at + end),
            max_decompressed,
            &mut aborted,
            &mut out.records,
        )?;
        out.next_offset = Some(next);
        at += end;
    }
    Ok(out)
}

/// Reads one complete batch into `out` unless it is a control batch or aborted; returns the
/// offset after it.
fn read_batch(
    batch: &Bytes,
    max_decompressed: usize,
    aborted: &mut AbortedSoFar,
    out: &mut Vec<FetchedRecord>,
) -> Result<i64, RecordsError> {
    let b = &batch[..];
    let be64 = |i: usize| {
        let mut a = [0; 8];
        a.copy_from_slice(&b[i..i + 8]);
        i64::from_be_bytes(a)
    };
    let base_offset = be64(0);
    let crc = u32::from_be_bytes([b[17], b[18], b[19], b[20]]);
    if crc32c::crc32c(&b[CRC_START..]) != crc {
        return Err(RecordsError::Crc {
            offset: base_offset,
        });
    }
    let attributes = u16::from_be_bytes([b[21], b[22]]);
    let last_offset_delta = i32::from_be_bytes([b[23], b[24], b[25], b[26]]);
    let last_offset = base_offset
        .checked_add(i64::from(last_offset_delta))
        .filter(|&last| last >= base_offset && last < i64::MAX)
        .ok_or(RecordsError::Malformed("last offset delta"))?;
    let producer_id = be64(43);
    if attributes & 0x20 != 0 {
        // A control batch: the marker that ends a transaction of its producer.
        aborted.marker(producer_id, last_offset);
        return Ok(last_offset + 1);
    }
    if aborted.skips(producer_id, last_offset, attributes & 0x10 != 0) {
        return Ok(last_offset + 1);
    }
    let log_append_time = attributes & 0x08 != 0;
    let first_timestamp = be64(27);
    let max_timestamp = be64(35);
    let count = i32::from_be_bytes([b[57], b[58], b[59], b[60]]);
    let count = usize::try_from(count).map_err(|_| RecordsError::Malformed("record count"))?;
    let body = batch.slice(BATCH_HEADER..);
    let records = codec::decompress((attributes & 0x07) as u8, body, max_decompressed)?;
    // Each record takes at least 7 bytes: do not reserve for a count the bytes cannot hold.
    out.reserve(count.min(records.len() / 7));
    let mut cursor = Cursor::new(&records);
    for _ in 0..count {
        let r = wire::record(&mut cursor)?;
        // A record whose offset lies outside its batch's (a writer's forgery: brokers check
        // the batch's record count against its last offset delta, not each record's delta) is
        // left out. Failing the batch would stop the partition at it for good; keeping the
        // record would put an offset past the set's `next_offset`, up to i64::MAX.
        if !(0..=i64::from(last_offset_delta)).contains(&r.offset_delta) {
            continue;
        }
        out.push(FetchedRecord {
            offset: base_offset + r.offset_delta,
            timestamp_ms: if log_append_time {
                max_timestamp
            } else {
                first_timestamp.wrapping_add(r.timestamp_delta)
            },
            key: r.key,
            value: r.value,
            headers: r.headers,
        });
    }
    if !cursor.is_empty() {
        return Err(RecordsError::Malformed("bytes after the last record"));
    }
    Ok(last_offset + 1)
}

#[cfg(test)]
mod tests;
