use std::time::Duration;

use super::*;
use crate::producer::ProducerConfig;

fn records(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            key: Some(format!("k{i}").into_bytes()),
            value: Some(vec![b'v'; 10]),
            headers: [("h".to_owned(), vec![1])].into(),
            timestamp: chrono::DateTime::from_timestamp_millis(1_700_000_000_000 + i as i64)
                .unwrap(),
        })
        .collect()
}

const ID: ProducerIdentity = ProducerIdentity { id: 77, epoch: 2 };

#[test]
fn requests_carry_identity_and_sequence() {
    let request = produce_request("t", 3, &records(4), Compression::Snappy, ID, 40, 5_000).unwrap();
    assert_eq!(
        (
            request.topic.as_str(),
            request.partition,
            request.timeout_ms
        ),
        ("t", 3, 5_000)
    );
    let b = &request.batch;
    let at = |i: usize, n: usize| b[i..i + n].to_vec();
    // producer id, epoch, base sequence, as a batch header holds them
    assert_eq!(at(43, 8), 77i64.to_be_bytes());
    assert_eq!(at(51, 2), 2i16.to_be_bytes());
    assert_eq!(at(53, 4), 40i32.to_be_bytes());
    let back = take_records(&request).unwrap();
    assert_eq!(back.len(), 4);
    assert_eq!(back[2].key.as_deref(), Some(&b"k2"[..]));
}

#[test]
fn without_a_producer_id_the_base_sequence_is_minus_one() {
    let request = produce_request(
        "t",
        0,
        &records(2),
        Compression::NoCompression,
        ProducerIdentity::NONE,
        9,
        1,
    )
    .unwrap();
    assert_eq!(request.batch[53..57], (-1i32).to_be_bytes());
}

#[test]
fn a_rejected_request_gives_back_the_records_it_was_built_from() {
    let sent = records(5);
    let request = produce_request("t", 0, &sent, Compression::Zstd, ID, 7, 1_000).unwrap();
    assert_eq!(take_records(&request), Some(sent));
}

#[test]
fn a_batch_that_compresses_far_still_comes_back_whole() {
    // 20,000 records of 1,000 equal bytes: zstd shrinks them hundreds of times.
    let sent: Vec<Record> = (0..20_000)
        .map(|i| Record {
            key: None,
            value: Some(vec![b'x'; 1_000]),
            headers: Default::default(),
            timestamp: chrono::DateTime::from_timestamp_millis(1_700_000_000_000 + i).unwrap(),
        })
        .collect();
    let request = produce_request("t", 0, &sent, Compression::Zstd, ID, 0, 1_000).unwrap();
    assert!(
        request.batch.len() * 100 < 20_000 * 1_000,
        "{}",
        request.batch.len()
    );
    assert_eq!(take_records(&request).map(|r| r.len()), Some(20_000));
}

#[test]
fn restamp_changes_only_identity_and_sequence() {
    let mut request =
        produce_request("t", 0, &records(2), Compression::NoCompression, ID, 9, 1).unwrap();
    let before = request.batch.clone();
    restamp(&mut request, ProducerIdentity { id: 78, epoch: 0 }, 0);
    let b = &request.batch;
    assert_eq!(b[43..51], 78i64.to_be_bytes());
    assert_eq!(b[51..53], 0i16.to_be_bytes());
    assert_eq!(b[53..57], 0i32.to_be_bytes());
    // Everything else is as it was, apart from the CRC (bytes 17..21).
    assert_eq!(b[..17], before[..17]);
    assert_eq!(b[21..43], before[21..43]);
    assert_eq!(b[57..], before[57..]);
    assert_eq!(take_records(&request), Some(records(2)));
}

#[test]
fn sequences_wrap_like_kafkas() {
    assert_eq!(next_sequence(0, 5), 5);
    assert_eq!(next_sequence(i32::MAX - 1, 1), i32::MAX);
    assert_eq!(next_sequence(i32::MAX, 1), 0);
    assert_eq!(next_sequence(i32::MAX - 2, 5), 2);
}

#[test]
fn verdicts_follow_the_documented_table() {
    let classify = |code, offset, behind| classify(ErrorCode::new(code), offset, behind);
    assert_eq!(classify(0, 5, false), Verdict::Delivered(Some(5)));
    assert_eq!(classify(46, -1, false), Verdict::Delivered(None));
    // Out of order behind an earlier failure: part of that retry; at the head: renew.
    assert_eq!(classify(45, -1, true), Verdict::Retry { refresh: false });
    assert_eq!(classify(45, -1, false), Verdict::Renew);
    for code in [47, 59, 90] {
        assert_eq!(classify(code, -1, false), Verdict::Renew, "{code}");
        assert_eq!(classify(code, -1, true), Verdict::Renew, "{code}");
    }
    for code in [3, 5, 6, 74, 75] {
        assert_eq!(
            classify(code, -1, false),
            Verdict::Retry { refresh: true },
            "{code}"
        );
    }
    // Retriable in Kafka's table: REQUEST_TIMED_OUT, REPLICA_NOT_AVAILABLE, NETWORK_EXCEPTION,
    // NOT_ENOUGH_REPLICAS(_AFTER_APPEND), KAFKA_STORAGE_ERROR, THROTTLING_QUOTA_EXCEEDED: resent
    // to the leader found again.
    for code in [7, 9, 13, 19, 20, 56, 89] {
        assert_eq!(
            classify(code, -1, false),
            Verdict::Retry { refresh: true },
            "{code}"
        );
    }
    // Too large: split (or failed alone), whatever came before.
    for code in [10, 18] {
        let too_large = Verdict::TooLarge(ErrorCode::new(code));
        assert_eq!(classify(code, -1, false), too_large, "{code}");
        assert_eq!(classify(code, -1, true), too_large, "{code}");
    }
    // Damaged on the way: resent a few times, whatever came before.
    let corrupt = Verdict::Corrupt(ErrorCode::new(2));
    assert_eq!(classify(2, -1, false), corrupt);
    assert_eq!(classify(2, -1, true), corrupt);
    // Not retriable there (BROKER_NOT_AVAILABLE and CONCURRENT_TRANSACTIONS included), and a
    // code newer than the table.
    for code in [-1, 8, 29, 51, 87, 9999] {
        assert_eq!(
            classify(code, -1, false),
            Verdict::Fail(ErrorCode::new(code)),
            "{code}"
        );
    }
}

#[test]
fn defaults_allow_five_in_flight() {
    let config = ProducerConfig::default();
    assert_eq!(config.max_in_flight, 5);
    let delivery = Duration::from_millis(config.delivery_timeout_ms);
    assert!(delivery > Duration::from_millis(config.request_timeout_ms));
}
