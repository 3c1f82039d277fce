//! Messages in Kafka's old formats (magic 0 and 1), which a log may hold among v2 batches: one
//! written before Kafka 0.11, or by a broker that stores what it is sent (Nisshi parses any
//! produced bytes as a v2 batch and keeps them).
//!
//! They are not read: our events are CloudEvents in binary mode, whose attributes are headers,
//! which these formats do not have. A message whose CRC-32 matches is what its writer sent, so
//! it is [`Unreadable`], one dead letter, and the partition goes on after it. A compressed one
//! wraps several and carries the last inner offset, so its dead letter stands for every offset
//! up to that one. A message whose CRC-32 does not match is [`RecordsError::Crc`], as a damaged
//! v2 batch is.
use bytes::Bytes;

use super::{RecordsError, Unreadable};

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

/// What the message (framed, at least [`min_len`] bytes) is: unreadable, or damaged.
pub(super) fn read(message: &Bytes) -> Result<Unreadable, RecordsError> {
    let m = &message[..];
    let offset = i64::from_be_bytes([m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]]);
    let crc = u32::from_be_bytes([m[12], m[13], m[14], m[15]]);
    let mut digest = flate2::Crc::new();
    digest.update(&m[CRC_START..]);
    if digest.sum() != crc {
        return Err(RecordsError::Crc {
            offset,
            last_offset: offset,
            raw: message.clone(),
        });
    }
    let compressed = if m[17] & 0x07 != 0 {
        ", compressed"
    } else {
        ""
    };
    Ok(Unreadable {
        base_offset: offset,
        last_offset: offset,
        error: format!("old message format (magic {}{compressed}), not read", m[16]),
        raw: message.clone(),
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

    #[test]
    fn a_message_whose_crc_matches_is_unreadable_at_its_offset() {
        for attributes in [0, 2] {
            let raw = Bytes::from(message(41, attributes));
            let bad = read(&raw).unwrap();
            assert_eq!((bad.base_offset, bad.last_offset), (41, 41));
            assert_eq!(bad.raw, raw);
            assert!(bad.error.contains("magic 1"), "{}", bad.error);
            assert_eq!(bad.error.contains("compressed"), attributes == 2);
        }
    }

    #[test]
    fn a_message_whose_crc_does_not_match_is_damaged() {
        let mut raw = message(41, 0);
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let error = read(&Bytes::from(raw.clone())).unwrap_err();
        assert!(
            matches!(&error, RecordsError::Crc { offset: 41, last_offset: 41, raw: r } if r[..] == raw[..]),
            "{error:?}"
        );
    }
}
