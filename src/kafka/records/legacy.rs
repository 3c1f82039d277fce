//! Messages in Kafka's old formats (magic 0 and 1), which a log may hold among v2 batches: one
//! written before Kafka 0.11, or bytes a client produced that pass a broker's checks of a v2
//! batch (Nisshi checks what it is sent as v2 whatever its magic, and keeps it as sent).
//!
//! They are not read: our events are CloudEvents in binary mode, whose attributes are headers,
//! which these formats do not have. A message whose CRC-32 matches is what its writer sent, so
//! it is [`Unreadable`], one dead letter, and the partition goes on after it. A compressed one
//! wraps several and carries the last inner offset, so its dead letter stands for every offset
//! up to that one; messages in a row are one range. A message whose CRC-32 does not match is
//! [`RecordsError::Damaged`], as a damaged v2 batch is.
use bytes::Bytes;

use super::{BATCH_HEADER, RecordsError, Unreadable, framing};

/// Whether `magic` is an old format's.
pub(super) fn is_legacy(magic: i8) -> bool {
    matches!(magic, 0 | 1)
}

/// Bytes of the smallest message: offset (8), size (4), CRC (4), magic (1), attributes (1), in
/// magic 1 a timestamp (8), and the lengths of a null key and a null value (4 each).
pub(super) fn min_len(magic: i8) -> usize {
    if magic == 0 { 26 } else { 34 }
}

/// Where the CRC-32-covered bytes start (the magic).
const CRC_START: usize = 16;

/// Whether a framed message's CRC-32 matches its bytes.
fn crc_matches(m: &[u8]) -> bool {
    let mut digest = flate2::Crc::new();
    digest.update(&m[CRC_START..]);
    digest.sum() == u32::from_be_bytes([m[12], m[13], m[14], m[15]])
}

/// The run of old-format messages at `at` in `data`, the first `len` bytes long (framed): one
/// unreadable range of every message whose CRC-32 matches, up to the first that does not
/// follow in full. The first one's CRC-32 must match, else it may be damaged: a v2 batch whose
/// magic was damaged, when its CRC-32C matches, or a damaged message.
pub(super) fn read_run(data: &Bytes, at: usize, len: usize) -> Result<Unreadable, RecordsError> {
    let first = data.slice(at..at + len);
    if !crc_matches(&first) {
        if first.len() >= BATCH_HEADER && framing::crc_matches(&first) {
            return Err(framing::damaged(&first, "unknown magic"));
        }
        let offset = framing::base_offset(&first);
        return Err(RecordsError::Damaged {
            offset,
            last_offset: offset,
            bounded: false,
            raw: first,
            why: "CRC mismatch",
        });
    }
    let base_offset = framing::base_offset(&first);
    let (mut last_offset, mut end, mut count) = (base_offset, at + len, 1);
    while data.len() - end >= 17 {
        let Ok(Some(len)) = framing::next_batch(data, end) else {
            break;
        };
        let m = &data[end..end + len];
        let offset = framing::base_offset(m);
        if !is_legacy(m[16] as i8) || !crc_matches(m) || offset <= last_offset {
            break;
        }
        (last_offset, end, count) = (offset, end + len, count + 1);
    }
    let compressed = if first[17] & 0x07 != 0 {
        ", compressed"
    } else {
        ""
    };
    Ok(Unreadable {
        base_offset,
        last_offset,
        error: format!(
            "old message format (magic {}{compressed}), {count} message(s), not read",
            first[16]
        ),
        raw: data.slice(at..end),
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A magic 1 message at `offset`: key `k`, value `v`, no compression, its CRC-32 right.
    pub(crate) fn message(offset: i64, attributes: u8) -> Vec<u8> {
        let mut body = vec![1, attributes];
        body.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
        for part in [&b"k"[..], b"v"] {
            body.extend_from_slice(&(part.len() as i32).to_be_bytes());
            body.extend_from_slice(part);
        }
        let mut digest = flate2::Crc::new();
        digest.update(&body);
        let mut out = offset.to_be_bytes().to_vec();
        out.extend_from_slice(&(4 + body.len() as i32).to_be_bytes());
        out.extend_from_slice(&digest.sum().to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    fn read(message: &[u8]) -> Result<Unreadable, RecordsError> {
        read_run(&Bytes::copy_from_slice(message), 0, message.len())
    }

    #[test]
    fn a_message_whose_crc_matches_is_unreadable_at_its_offset() {
        for attributes in [0, 2] {
            let raw = message(41, attributes);
            let bad = read(&raw).unwrap();
            assert_eq!((bad.base_offset, bad.last_offset), (41, 41));
            assert_eq!(bad.raw[..], raw[..]);
            assert!(bad.error.contains("magic 1"), "{}", bad.error);
            assert_eq!(bad.error.contains("compressed"), attributes == 2);
        }
    }

    /// A message numbered `i64::MAX` (a broker's offset, which no check bounds) is read after
    /// by asking for that offset again, not for a wrapped one.
    #[test]
    fn a_message_at_the_last_offset_is_not_read_past_it() {
        let bad = read(&message(i64::MAX, 0)).unwrap();
        assert_eq!(bad.last_offset, i64::MAX);
        assert_eq!(bad.next_offset(), i64::MAX);
        assert_eq!(read(&message(41, 0)).unwrap().next_offset(), 42);
    }

    /// Messages in a row are one range, up to one that is damaged or another format.
    #[test]
    fn messages_in_a_row_are_one_range() {
        let mut damaged = message(44, 0);
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        let run = [message(41, 0), message(42, 0), message(43, 0), damaged].concat();
        let bad = read_run(&Bytes::from(run.clone()), 0, message(41, 0).len()).unwrap();
        assert_eq!((bad.base_offset, bad.last_offset), (41, 43));
        assert_eq!(bad.raw.len(), 3 * message(41, 0).len());
        assert!(bad.error.contains("3 message(s)"), "{}", bad.error);
    }

    #[test]
    fn a_message_whose_crc_does_not_match_is_damaged() {
        let mut raw = message(41, 0);
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let error = read(&raw).unwrap_err();
        assert!(
            matches!(&error, RecordsError::Damaged { offset: 41, last_offset: 41, raw: r, why: "CRC mismatch", .. } if r[..] == raw[..]),
            "{error:?}"
        );
    }
}
