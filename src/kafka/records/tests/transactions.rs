//! Control batches and aborted transactions in a fetched set.
use bytes::Bytes;
use rskafka::protocol::record::{
    ControlBatchOrRecords, ControlBatchRecord, Record, RecordBatchCompression,
};

use super::{CAP, batch, encode, expected, offsets};
use crate::kafka::records::{Aborted, CRC_START, read};

#[test]
fn control_batches_are_skipped() {
    // rskafka's control batch (its body the marker key alone) and Kafka's (one record).
    let mut rskafka_marker = batch(3, 1, RecordBatchCompression::NoCompression);
    rskafka_marker.records = ControlBatchOrRecords::ControlBatch(ControlBatchRecord::Commit);
    rskafka_marker.is_transactional = true;
    let data = [
        encode(&[rskafka_marker]),
        marker(4, 9, COMMIT),
        encode(&[batch(5, 2, RecordBatchCompression::NoCompression)]),
    ]
    .concat();
    let set = read(&Bytes::from(data), CAP, &[]).unwrap();
    assert_eq!(set.records, expected(5, 2));
    assert_eq!(set.next_offset, Some(7));
}

const ABORT: i16 = 0;
const COMMIT: i16 = 1;

/// The transaction marker of `producer_id` at `offset`, as Kafka writes it: a control batch of
/// one record whose key is version 0 and `kind`.
fn marker(offset: i64, producer_id: i64, kind: i16) -> Vec<u8> {
    let mut b = batch(offset, 1, RecordBatchCompression::NoCompression);
    b.is_transactional = true;
    b.producer_id = producer_id;
    b.records = ControlBatchOrRecords::Records(vec![Record {
        timestamp_delta: 0,
        offset_delta: 0,
        key: Some([0i16.to_be_bytes(), kind.to_be_bytes()].concat()),
        value: Some(vec![0; 6]),
        headers: vec![],
    }]);
    let mut out = encode(&[b]);
    out[22] |= 0x20; // the control bit of the attributes
    let crc = crc32c::crc32c(&out[CRC_START..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out
}

/// `n` records of a transaction of `producer_id` from `base` on.
fn in_transaction(base: i64, n: i32, producer_id: i64) -> Vec<u8> {
    let mut b = batch(base, n, RecordBatchCompression::Lz4);
    b.is_transactional = true;
    b.producer_id = producer_id;
    encode(&[b])
}

#[test]
fn the_set_ends_after_its_last_batch_whatever_the_batch_held() {
    // Records, then a marker: the reading goes on after the marker.
    let data = [in_transaction(0, 3, 7), marker(3, 7, COMMIT)].concat();
    let set = read(&Bytes::from(data), CAP, &[]).unwrap();
    assert_eq!((offsets(&set), set.next_offset), (vec![0, 1, 2], Some(4)));
    // A batch compaction emptied of records keeps its offsets.
    let mut emptied = batch(10, 5, RecordBatchCompression::NoCompression);
    emptied.records = ControlBatchOrRecords::Records(vec![]);
    let set = read(&Bytes::from(encode(&[emptied])), CAP, &[]).unwrap();
    assert_eq!((offsets(&set), set.next_offset), (vec![], Some(15)));
    // Nothing complete: no end.
    let set = read(&Bytes::new(), CAP, &[]).unwrap();
    assert_eq!(set.next_offset, None);
}

#[test]
fn aborted_transactions_are_left_out_up_to_their_abort_marker() {
    let data = Bytes::from(
        [
            in_transaction(0, 2, 7),                              // 0-1: aborted below
            in_transaction(2, 2, 8),                              // 2-3: committed below
            encode(&[batch(4, 1, RecordBatchCompression::Gzip)]), // 4: no transaction
            marker(5, 7, ABORT),
            marker(6, 8, COMMIT),
            in_transaction(7, 2, 7), // 7-8: producer 7's next transaction, committed
            marker(9, 7, COMMIT),
            in_transaction(10, 1, 7), // 10: and its third, aborted again
            marker(11, 7, ABORT),
        ]
        .concat(),
    );
    let aborted = [
        Aborted {
            producer_id: 7,
            first_offset: 10,
        },
        Aborted {
            producer_id: 7,
            first_offset: 0,
        },
    ];
    let set = read(&data, CAP, &aborted).unwrap();
    assert_eq!(offsets(&set), [2, 3, 4, 7, 8]);
    assert_eq!(set.next_offset, Some(12));
    // Without the list (read_uncommitted) every record is there.
    let all = read(&data, CAP, &[]).unwrap();
    assert_eq!(offsets(&all), [0, 1, 2, 3, 4, 7, 8, 10]);
}

#[test]
fn an_aborted_producer_s_records_outside_a_transaction_are_kept() {
    let mut idempotent = batch(1, 2, RecordBatchCompression::NoCompression);
    idempotent.producer_id = 7;
    let data = [
        in_transaction(0, 1, 7),
        encode(&[idempotent]),
        marker(3, 7, ABORT),
    ]
    .concat();
    let aborted = [Aborted {
        producer_id: 7,
        first_offset: 0,
    }];
    let set = read(&Bytes::from(data), CAP, &aborted).unwrap();
    assert_eq!((offsets(&set), set.next_offset), (vec![1, 2], Some(4)));
}

#[test]
fn any_marker_of_the_producer_ends_its_aborted_transaction() {
    // rskafka writes a control batch's body as the marker key alone, not as a record: a
    // marker whose record does not read. It still ends producer 7's aborted transaction, so
    // the committed one after it is kept.
    let mut unreadable = batch(1, 1, RecordBatchCompression::NoCompression);
    unreadable.records = ControlBatchOrRecords::ControlBatch(ControlBatchRecord::Abort);
    unreadable.is_transactional = true;
    unreadable.producer_id = 7;
    let data = [
        in_transaction(0, 1, 7),
        encode(&[unreadable]),
        in_transaction(2, 2, 7),
        marker(4, 7, COMMIT),
    ]
    .concat();
    let aborted = [Aborted {
        producer_id: 7,
        first_offset: 0,
    }];
    let set = read(&Bytes::from(data), CAP, &aborted).unwrap();
    assert_eq!((offsets(&set), set.next_offset), (vec![2, 3], Some(5)));
}

/// An aborted transaction's batch is left out before it is decoded: one that could not be read
/// is stepped over like the rest, not dead-lettered.
#[test]
fn an_aborted_batch_is_left_out_even_when_it_could_not_be_read() {
    let mut bomb = batch(0, 50, RecordBatchCompression::Zstd);
    bomb.producer_id = 9;
    bomb.is_transactional = true;
    let data = Bytes::from([encode(&[bomb]), marker(50, 9, 0)].concat());
    let aborted = [Aborted {
        producer_id: 9,
        first_offset: 0,
    }];
    let set = read(&data, 1_000, &aborted).unwrap();
    assert_eq!((set.records.len(), set.next_offset), (0, Some(51)));
    assert_eq!(set.unreadable, None);
    assert!(
        read(&data, 1_000, &[]).unwrap().unreadable.is_some(),
        "unreadable when not aborted"
    );
}
