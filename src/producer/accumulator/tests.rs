use std::time::Duration;

use chrono::Utc;
use rskafka::record::Record;
use tokio::time::Instant;

use super::*;
use crate::kafka::records::size::batch_len;

fn record(value_len: usize) -> Record {
    Record {
        key: Some(b"key".to_vec()),
        value: Some(vec![7; value_len]),
        headers: Default::default(),
        timestamp: Utc::now(),
    }
}

fn queue(max_records: usize, max_bytes: usize, linger_ms: u64) -> Arc<PartitionQueue> {
    PartitionQueue::new(
        0,
        BatchLimits {
            max_records,
            max_bytes,
            linger: Duration::from_millis(linger_ms),
            delivery_timeout: Duration::from_secs(600),
        },
        Arc::default(),
        1,
    )
}

fn append(q: &PartitionQueue, r: Record) {
    let fixed = crate::producer::size::measure(&r).fixed;
    assert!(q.append(r, fixed, 1).is_some());
}

#[tokio::test(start_paused = true)]
async fn closes_at_record_count() {
    let q = queue(3, 1 << 20, 60_000);
    for _ in 0..7 {
        append(&q, record(10));
    }
    let b = q.next_batch().await.unwrap();
    assert_eq!(b.records.len(), 3);
    let b = q.next_batch().await.unwrap();
    assert_eq!(b.records.len(), 3);
    // The last record lingers for a minute (paused clock: this advances instantly).
    let start = Instant::now();
    let b = q.next_batch().await.unwrap();
    assert_eq!(b.records.len(), 1);
    assert!(start.elapsed() >= Duration::from_secs(60));
}

#[tokio::test(start_paused = true)]
async fn closes_before_passing_the_encoded_byte_limit() {
    let limit = 10_000;
    let q = queue(1_000_000, limit, 60_000);
    for _ in 0..100 {
        append(&q, record(300));
    }
    q.close();
    let mut batches = Vec::new();
    while let Some(b) = q.next_batch().await {
        assert!(b.bytes <= limit, "{} > {limit}", b.bytes);
        assert_eq!(
            b.bytes,
            batch_len(&b.records),
            "tracked size is the exact size"
        );
        batches.push(b.records);
    }
    assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 100);
    assert!(batches.len() > 1, "100 records of 300 bytes exceed {limit}");
    // Every batch but the last closed because it was full: one more record would not have fit.
    for records in &batches[..batches.len() - 1] {
        let mut one_more = records.clone();
        one_more.push(record(300));
        assert!(
            batch_len(&one_more) > limit,
            "a batch of {} records closed with room for another",
            records.len()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn closes_at_linger_and_not_before() {
    let q = queue(1000, 1 << 20, 5);
    let start = Instant::now();
    append(&q, record(1));
    tokio::time::sleep(Duration::from_millis(2)).await;
    append(&q, record(1));
    let b = q.next_batch().await.unwrap();
    assert_eq!(b.records.len(), 2);
    assert_eq!(start.elapsed(), Duration::from_millis(5));
}

#[tokio::test(start_paused = true)]
async fn flush_closes_the_open_batch_now() {
    let q = queue(1000, 1 << 20, 60_000);
    append(&q, record(1));
    let target = q.request_flush();
    assert_eq!(target, 1);
    let start = Instant::now();
    let b = q.next_batch().await.unwrap();
    assert_eq!(b.records.len(), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);
    q.completed(1);
    q.wait_completed(target).await;
}

#[tokio::test(start_paused = true)]
async fn closed_and_drained_returns_none() {
    let q = queue(10, 1 << 20, 60_000);
    q.close();
    assert!(q.next_batch().await.is_none());
    let r = record(1);
    let fixed = crate::producer::size::measure(&r).fixed;
    assert!(
        q.append(r, fixed, 1).is_none(),
        "a closed queue takes nothing"
    );
}
