use bytes::Bytes;
use rskafka::protocol::{
    record::{
        ControlBatchOrRecords, Record, RecordBatch, RecordBatchCompression,
        RecordBatchTimestampType, RecordHeader,
    },
    traits::WriteType,
};

use super::{FetchedRecord, RawHeaders, RecordSet, RecordsError, read};

const CAP: usize = 1 << 20;

/// The records of `data`, with no aborted transactions.
fn records_of(data: &Bytes, cap: usize) -> Result<Vec<FetchedRecord>, RecordsError> {
    read(data, cap, &[]).map(|set| set.records)
}

fn records(n: i32) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            timestamp_delta: i64::from(i) * 3,
            offset_delta: i,
            key: (i % 3 != 0).then(|| format!("key-{i}").into_bytes()),
            value: (i % 4 != 1).then(|| vec![b'v'; i as usize * 7]),
            headers: vec![
                RecordHeader {
                    key: "ce_id".into(),
                    value: format!("id-{i}").into_bytes(),
                },
                RecordHeader {
                    key: "ce_sequence".into(),
                    value: i.to_string().into_bytes(),
                },
            ],
        })
        .collect()
}

fn batch(base: i64, n: i32, compression: RecordBatchCompression) -> RecordBatch {
    RecordBatch {
        base_offset: base,
        partition_leader_epoch: 0,
        last_offset_delta: n - 1,
        first_timestamp: 1_000,
        max_timestamp: 1_000 + i64::from(n),
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        records: ControlBatchOrRecords::Records(records(n)),
        compression,
        is_transactional: false,
        timestamp_type: RecordBatchTimestampType::CreateTime,
    }
}

fn encode(batches: &[RecordBatch]) -> Vec<u8> {
    let mut out = Vec::new();
    for b in batches {
        b.write(&mut out).unwrap();
    }
    out
}

fn expected(base: i64, n: i32) -> Vec<FetchedRecord> {
    records(n)
        .into_iter()
        .map(|r| FetchedRecord {
            offset: base + i64::from(r.offset_delta),
            timestamp_ms: 1_000 + r.timestamp_delta,
            key: r.key.map(Bytes::from),
            value: r.value.map(Bytes::from),
            headers: RawHeaders::encode(
                r.headers
                    .iter()
                    .map(|h| (h.key.as_str(), h.value.as_slice())),
            ),
        })
        .collect()
}

const CODECS: [RecordBatchCompression; 5] = [
    RecordBatchCompression::NoCompression,
    RecordBatchCompression::Gzip,
    RecordBatchCompression::Snappy,
    RecordBatchCompression::Lz4,
    RecordBatchCompression::Zstd,
];

#[test]
fn every_codec_round_trips() {
    for codec in CODECS {
        let data = Bytes::from(encode(&[batch(40, 9, codec), batch(49, 3, codec)]));
        let got = records_of(&data, CAP).unwrap();
        let mut want = expected(40, 9);
        want.extend(expected(49, 3));
        assert_eq!(got, want, "{codec:?}");
        assert_eq!(got[2].headers.get("ce_id"), Some(&b"id-2"[..]));
        assert_eq!(got[2].headers.get("ce_sequence"), Some(&b"2"[..]));
        assert_eq!(got[2].headers.get("nope"), None);
        assert_eq!(got[2].headers.len(), 2);
        assert_eq!(got[2].headers.to_map()["ce_id"], b"id-2");
    }
}

#[test]
fn java_snappy_framing_is_read() {
    let plain = encode(&[batch(0, 5, RecordBatchCompression::NoCompression)]);
    let body = &plain[super::BATCH_HEADER..];
    let mut framed = super::codec::XERIAL_MAGIC.to_vec();
    framed.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
    for part in body.chunks(40) {
        let block = snap::raw::Encoder::new().compress_vec(part).unwrap();
        framed.extend_from_slice(&(block.len() as u32).to_be_bytes());
        framed.extend_from_slice(&block);
    }
    let mut data = plain[..super::BATCH_HEADER].to_vec();
    data.extend_from_slice(&framed);
    let length = (data.len() - 12) as i32;
    data[8..12].copy_from_slice(&length.to_be_bytes());
    data[22] = (data[22] & !0x07) | 2;
    let crc = crc32c::crc32c(&data[super::CRC_START..]);
    data[17..21].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(records_of(&Bytes::from(data), CAP).unwrap(), expected(0, 5));
}

#[test]
fn a_partial_trailing_batch_is_ignored() {
    let data = encode(&[
        batch(0, 4, RecordBatchCompression::NoCompression),
        batch(4, 4, RecordBatchCompression::Lz4),
    ]);
    let first = encode(&[batch(0, 4, RecordBatchCompression::NoCompression)]).len();
    for cut in [first, first + 5, first + 30, data.len() - 1] {
        let got = records_of(&Bytes::copy_from_slice(&data[..cut]), CAP).unwrap();
        assert_eq!(got, expected(0, 4), "cut at {cut}");
    }
}

#[test]
fn a_bad_crc_is_an_error_that_carries_the_batch() {
    let mut data = encode(&[batch(7, 3, RecordBatchCompression::NoCompression)]);
    let last = data.len() - 1;
    data[last] ^= 1;
    let error = records_of(&Bytes::from(data.clone()), CAP).unwrap_err();
    assert!(
        matches!(&error, RecordsError::Damaged { offset: 7, last_offset: 9, raw, why: "CRC mismatch", .. } if raw[..] == data[..]),
        "{error:?}"
    );
}

/// A damaged batch's last offset is its header's, which may be damaged too: it ends before
/// the batch that follows it, whole or cut short.
#[test]
fn a_bad_crc_s_last_offset_is_before_the_next_batch() {
    let mut first = encode(&[batch(7, 3, RecordBatchCompression::NoCompression)]);
    first[23..27].copy_from_slice(&1000i32.to_be_bytes());
    let second = encode(&[batch(10, 2, RecordBatchCompression::NoCompression)]);
    // Alone in the answer, the record count (3) bounds the damaged delta.
    let alone = records_of(&Bytes::from(first.clone()), CAP).unwrap_err();
    assert_eq!(
        damage(&alone),
        Some((7, 9, false, "CRC mismatch")),
        "{alone:?}"
    );
    // Both damaged: the smaller stands.
    let mut counted = first.clone();
    counted[57..61].copy_from_slice(&500i32.to_be_bytes());
    let alone = records_of(&Bytes::from(counted), CAP).unwrap_err();
    assert_eq!(
        damage(&alone),
        Some((7, 506, false, "CRC mismatch")),
        "{alone:?}"
    );
    for follows in [&second[..], &second[..20]] {
        let data = Bytes::from([&first[..], follows].concat());
        let error = records_of(&data, CAP).unwrap_err();
        assert_eq!(
            damage(&error),
            Some((7, 9, true, "CRC mismatch")),
            "{error:?}"
        );
    }
}

/// A [`RecordsError::Damaged`]'s offsets, whether a batch after it bounds them, and why.
fn damage(error: &RecordsError) -> Option<(i64, i64, bool, &'static str)> {
    match error {
        RecordsError::Damaged {
            offset,
            last_offset,
            bounded,
            why,
            ..
        } => Some((*offset, *last_offset, *bounded, *why)),
        _ => None,
    }
}

/// A negative last offset delta, under a CRC that matches (its writer sent it): unreadable,
/// as one offset, not an error of every fetch from there.
#[test]
fn a_batch_whose_last_offset_delta_is_negative_is_unreadable() {
    let mut data = encode(&[batch(7, 3, RecordBatchCompression::NoCompression)]);
    data[23..27].copy_from_slice(&(-2i32).to_be_bytes());
    let crc = crc32c::crc32c(&data[super::CRC_START..]);
    data[17..21].copy_from_slice(&crc.to_be_bytes());
    let set = read(&Bytes::from(data), CAP, &[]).unwrap();
    assert!(set.records.is_empty());
    let bad = set.unreadable.expect("unreadable");
    assert_eq!((bad.base_offset, bad.last_offset), (7, 7));
    assert!(bad.error.contains("-2"), "{}", bad.error);
}

/// A message in an old format (its CRC-32 matching) after a v2 batch: the batch is read, the
/// message ends the set as unreadable, and a set that starts with it is that message alone.
#[test]
fn an_old_format_message_is_unreadable() {
    let first = encode(&[batch(0, 3, RecordBatchCompression::NoCompression)]);
    let old = super::legacy::tests::message(3, 0);
    let set = read(&Bytes::from([first, old.clone()].concat()), CAP, &[]).unwrap();
    assert_eq!((offsets(&set), set.next_offset), (vec![0, 1, 2], Some(3)));
    let bad = set.unreadable.expect("unreadable");
    assert_eq!((bad.base_offset, bad.last_offset), (3, 3));
    assert_eq!(bad.raw[..], old[..]);
    let alone = read(&Bytes::from(old), CAP, &[]).unwrap();
    assert_eq!(alone.next_offset, None);
    assert!(alone.unreadable.is_some());
}

/// A magic we do not know may be a v2 batch's damaged on the way (the CRC-32C does not cover
/// it), and so may a v2 batch read as an old format: both are damaged, with the offsets of the
/// v2 header, whose CRC-32C matches.
#[test]
fn an_unknown_magic_may_be_damage() {
    for magic in [3, 1, 0] {
        let mut data = encode(&[batch(7, 3, RecordBatchCompression::NoCompression)]);
        data[16] = magic;
        let error = read(&Bytes::from(data), CAP, &[]).unwrap_err();
        let expected = Some((7, 9, false, "unknown magic"));
        assert_eq!(damage(&error), expected, "magic {magic}: {error:?}");
    }
}

fn offsets(set: &RecordSet) -> Vec<i64> {
    set.records.iter().map(|r| r.offset).collect()
}

/// A record outside its batch's offsets, or one whose offset does not rise: the batch is
/// unreadable (dead-lettered whole), so no record of it vanishes unseen or skips another.
#[test]
fn a_batch_whose_record_offsets_do_not_rise_within_it_is_unreadable() {
    // Records at deltas 0-2 in a batch that says it ends at delta 1: the third is not where
    // it says it is.
    let mut lying = batch(10, 3, RecordBatchCompression::NoCompression);
    lying.last_offset_delta = 1;
    let set = read(&Bytes::from(encode(&[lying])), CAP, &[]).unwrap();
    assert!(set.records.is_empty());
    let bad = set.unreadable.expect("unreadable");
    assert_eq!((bad.base_offset, bad.last_offset), (10, 11));
    // Deltas 0, 2, 1: the record at 12 would have made the one at 11 a "duplicate".
    for deltas in [[0, 2, 1], [0, 0, 0]] {
        let mut shuffled = batch(10, 3, RecordBatchCompression::NoCompression);
        if let ControlBatchOrRecords::Records(records) = &mut shuffled.records {
            for (r, d) in records.iter_mut().zip(deltas) {
                r.offset_delta = d;
            }
        }
        let set = read(&Bytes::from(encode(&[shuffled])), CAP, &[]).unwrap();
        assert!(set.records.is_empty(), "{deltas:?}");
        let bad = set.unreadable.expect("unreadable");
        assert_eq!((bad.base_offset, bad.last_offset), (10, 12), "{deltas:?}");
    }
}

#[test]
fn a_batch_past_the_cap_is_unreadable_and_ends_the_set() {
    for codec in CODECS.into_iter().skip(1) {
        let good = encode(&[batch(0, 2, RecordBatchCompression::NoCompression)]);
        let bomb = encode(&[batch(2, 50, codec)]);
        let after = encode(&[batch(52, 2, RecordBatchCompression::NoCompression)]);
        let data = Bytes::from([good, bomb.clone(), after].concat());
        // Room for 50 records, not for their bytes.
        let cap = 50 * std::mem::size_of::<FetchedRecord>() + 100;
        let set = read(&data, cap, &[]).unwrap();
        assert_eq!(
            (offsets(&set), set.next_offset),
            (vec![0, 1], Some(2)),
            "{codec:?}"
        );
        let bad = set.unreadable.expect("unreadable");
        assert_eq!((bad.base_offset, bad.last_offset), (2, 51), "{codec:?}");
        let error = format!("batch decompresses to more than {cap} bytes");
        assert_eq!(bad.error, error, "{codec:?}");
        assert_eq!(&bad.raw[..], &bomb[..], "the batch, whole");
    }
}

#[test]
fn a_batch_of_more_records_than_the_cap_holds_in_memory_is_unreadable() {
    let data = Bytes::from(encode(&[batch(
        0,
        50,
        RecordBatchCompression::NoCompression,
    )]));
    let record = std::mem::size_of::<FetchedRecord>();
    let set = read(&data, record * 50 - 1, &[]).unwrap();
    assert!(set.records.is_empty());
    let bad = set.unreadable.expect("unreadable");
    assert_eq!((bad.base_offset, bad.last_offset), (0, 49));
    assert!(
        bad.error.starts_with("batch of 50 records, more than 49"),
        "{}",
        bad.error
    );
    assert_eq!(read(&data, CAP, &[]).unwrap().records.len(), 50);
}

#[test]
fn an_error_in_a_later_batch_ends_the_set_before_it() {
    let first = encode(&[batch(0, 3, RecordBatchCompression::NoCompression)]);
    let mut second = encode(&[batch(3, 3, RecordBatchCompression::Lz4)]);
    let last = second.len() - 1;
    second[last] ^= 1; // a CRC mismatch: maybe damaged on the way, so read again later
    let data = Bytes::from([first, second.clone()].concat());
    let set = read(&data, CAP, &[]).unwrap();
    assert_eq!((offsets(&set), set.next_offset), (vec![0, 1, 2], Some(3)));
    assert_eq!(set.unreadable, None);
    // First in the set, it is the set's error.
    assert!(matches!(
        read(&Bytes::from(second), CAP, &[]),
        Err(RecordsError::Damaged {
            offset: 3,
            last_offset: 5,
            ..
        })
    ));
}

#[test]
fn the_set_stops_at_a_batch_boundary_once_its_batches_took_the_cap() {
    let batches: Vec<Vec<u8>> = (0..4)
        .map(|i| encode(&[batch(i * 10, 10, RecordBatchCompression::NoCompression)]))
        .collect();
    // What one batch costs: its records' bytes (uncompressed: all but the header) and the
    // records' own size.
    let cost = batches[0].len() - super::BATCH_HEADER + 10 * std::mem::size_of::<FetchedRecord>();
    let data = Bytes::from(batches.concat());
    let ends = |cap| read(&data, cap, &[]).unwrap().next_offset;
    assert_eq!(ends(CAP), Some(40));
    assert_eq!(ends(2 * cost + 1), Some(30));
    assert_eq!(ends(2 * cost), Some(20));
    // The first batch is read whatever the set's batches took before.
    assert_eq!(ends(cost), Some(10));
}

#[test]
fn garbage_never_panics() {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for codec in CODECS {
        let clean = encode(&[batch(0, 6, codec)]);
        for _ in 0..300 {
            let mut data = clean.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % data.len();
                data[at] = next() as u8;
            }
            // Recompute the CRC so the flips reach the record decoder.
            if data.len() > super::CRC_START && next() % 2 == 0 {
                let crc = crc32c::crc32c(&data[super::CRC_START..]);
                data[17..21].copy_from_slice(&crc.to_be_bytes());
            }
            let _ = records_of(&Bytes::from(data), CAP);
        }
    }
    for len in 0..200 {
        let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let _ = records_of(&Bytes::from(data), CAP);
    }
}

mod misplaced;
mod transactions;
