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
