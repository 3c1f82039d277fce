//! Why a record set could not be read.
use bytes::Bytes;

/// Why a record set could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordsError {
    /// The batch's bytes may have been damaged on the way, or in the log: its CRC does not
    /// match, or a byte the CRC does not cover (the magic) holds no format we know. Asked for
    /// again, the same bytes are the log's ([`super::Unreadable::damaged`]).
    #[error("batch at offset {offset}: {why}")]
    Damaged {
        /// The batch's base offset, as its (maybe damaged) header says.
        offset: i64,
        /// Its last offset as its header says, at least `offset`, and before the batch that
        /// follows it in the same answer, if any.
        last_offset: i64,
        /// Whether a batch follows it in the answer (whole or cut) whose base offset is past
        /// `offset`, which bounds `last_offset` whatever this header says.
        bounded: bool,
        /// The whole batch as fetched.
        raw: Bytes,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A batch out of place in a Fetch answer ([`super::Bounds`]): its base offset, or that of the
    /// batch ahead of it, may have been damaged on the way (the CRC does not cover it). The
    /// answer is asked for again.
    #[error("batch at offsets {base} to {} out of place in the answer: {why}", next - 1)]
    Misplaced {
        /// Its base offset, as its header says.
        base: i64,
        /// The offset after it, as its header says.
        next: i64,
        /// How it is out of place.
        why: &'static str,
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
    /// The batch holds more records than the cap holds in memory (about 120 bytes each, as
    /// few as 7 on the wire): the records alone would take more than the cap.
    #[error("batch of {count} records, more than {most} (the records the cap holds in memory)")]
    TooManyRecords {
        /// Its record count.
        count: usize,
        /// The most a batch may hold.
        most: usize,
    },
}
