//! Batches out of place in a Fetch answer ([`Bounds`]): a base offset damaged on the way (it is
//! outside the CRC) must not move a partition past records it never handled, nor past the end
//! of the log.
use bytes::Bytes;
use rskafka::protocol::record::RecordBatchCompression::NoCompression;

use super::{batch, encode, offsets};
use crate::kafka::records::{Bounds, RecordSet, RecordsError, read_within};

/// Batches at 100..109, 110..119 and 120..129, the log ending at 130, as read for a Fetch from
/// 100 once batch `which` was given the base offset `base` (its CRC still matches: the base
/// offset is outside it).
fn answer(which: usize, base: Option<i64>) -> Result<RecordSet, RecordsError> {
    let mut data = Vec::new();
    for (i, start) in [100, 110, 120].into_iter().enumerate() {
        let mut bytes = encode(&[batch(start, 10, NoCompression)]);
        if let Some(base) = base.filter(|_| i == which) {
            bytes[..8].copy_from_slice(&base.to_be_bytes());
        }
        data.extend(bytes);
    }
    let bounds = Bounds {
        from: 100,
        end: 130,
    };
    read_within(&Bytes::from(data), 1 << 20, &[], bounds)
}

/// How the answer is out of place: where the batch it names starts, and why.
fn misplaced(answer: Result<RecordSet, RecordsError>) -> (i64, &'static str) {
    match answer {
        Err(RecordsError::Misplaced { base, why, .. }) => (base, why),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_answer_in_place_reads_whole() {
    let set = answer(0, None).unwrap();
    assert_eq!(offsets(&set), (100..130).collect::<Vec<_>>());
    assert_eq!(set.next_offset, Some(130));
}

/// Lowered below the offset asked for, the first batch's records would be skipped as read
/// before, and the partition would go on after the rest; raised past the log's end after a
/// gap, it would store an offset the broker refuses.
#[test]
fn a_first_batch_out_of_place_is_asked_for_again() {
    assert_eq!(
        misplaced(answer(0, Some(36))),
        (36, "a first batch that ends before the offset asked for")
    );
    assert_eq!(
        misplaced(answer(0, Some((1 << 40) + 100))),
        (
            (1 << 40) + 100,
            "a gap before it, and offsets past the answer's high watermark"
        )
    );
    // Behind the first batch: either may be the damaged one.
    assert_eq!(
        misplaced(answer(1, Some(105))),
        (
            105,
            "a base offset before the end of the batch ahead of it in the answer"
        )
    );
}

/// Two later batches out of place with each other: the set ends before both (either may be
/// the damaged one). One after a gap that ends past the log's end: the set ends before it.
/// The next Fetch asks from there.
#[test]
fn later_batches_out_of_place_end_the_set_before_them() {
    for (which, base, ends, why) in [
        (2, 115, 110, "behind the batch ahead of it"),
        (1, 111, 110, "one higher, so the batch after it goes back"),
        (2, 125, 120, "after a gap, past the log's end"),
    ] {
        let set = answer(which, Some(base)).unwrap();
        assert_eq!(offsets(&set), (100..ends).collect::<Vec<_>>(), "{why}");
        assert_eq!(set.next_offset, Some(ends), "{why}");
    }
}

/// Kafka reads the high watermark it reports before the records: a batch appended meanwhile
/// comes past it, right after the batch ahead of it, and is in place.
#[test]
fn a_batch_appended_after_the_high_watermark_was_read_is_in_place() {
    let both = encode(&[batch(100, 10, NoCompression), batch(110, 10, NoCompression)]);
    let appended = encode(&[batch(110, 10, NoCompression)]);
    // Behind a batch below it, and alone for a consumer that had caught up with it.
    for (data, from) in [(both, 100), (appended, 110)] {
        let bounds = Bounds { from, end: 110 };
        let set = read_within(&Bytes::from(data), 1 << 20, &[], bounds).unwrap();
        assert_eq!(set.next_offset, Some(120), "from {from}");
    }
}

/// A batch that cannot be read (here a negative last offset delta under a matching CRC),
/// with the base offset `base`: unreadable as one offset there.
fn unreadable_at(base: i64) -> Vec<u8> {
    let mut bytes = encode(&[batch(base, 3, NoCompression)]);
    bytes[23..27].copy_from_slice(&(-2i32).to_be_bytes());
    let crc = crc32c::crc32c(&bytes[crate::kafka::records::CRC_START..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    bytes
}

/// A batch that cannot be read is dead-lettered where its header says, so it is held to the
/// same rules, but for the first batch's end: a broker may count it as longer than its header
/// does, and the consumer steps over one that ends before the offset asked for.
#[test]
fn a_batch_that_cannot_be_read_is_held_to_the_same_rules_but_may_end_early() {
    let bounds = Bounds {
        from: 100,
        end: 130,
    };
    let read = |data: Vec<u8>| read_within(&Bytes::from(data), 1 << 20, &[], bounds);
    let first = encode(&[batch(100, 10, NoCompression)]);
    // In place after the first batch: it ends the set as unreadable.
    let set = read([first.clone(), unreadable_at(110)].concat()).unwrap();
    assert_eq!(set.unreadable.map(|u| u.base_offset), Some(110));
    // After a gap, past the high watermark: the set ends before it, with no dead letter.
    let set = read([first.clone(), unreadable_at(1 << 40)].concat()).unwrap();
    assert!(set.unreadable.is_none());
    assert_eq!(set.next_offset, Some(110));
    // Before the end of the batch ahead of it: the set ends before both.
    let middle = encode(&[batch(110, 10, NoCompression)]);
    let set = read([first, middle, unreadable_at(105)].concat()).unwrap();
    assert!(set.unreadable.is_none());
    assert_eq!(set.next_offset, Some(110));
    // First, ending before the offset asked for: unreadable, for the consumer to step over.
    let set = read(unreadable_at(90)).unwrap();
    assert_eq!(set.unreadable.map(|u| u.base_offset), Some(90));
}
