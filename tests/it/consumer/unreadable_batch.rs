//! A batch another client wrote that the consumer cannot read, against a real broker: it is
//! dead-lettered as one record, and the partition goes on after it.
use std::time::Duration;

use rskafka::{client::partition::Compression, record::Record};
use testkit::{
    Broker, client, create_topic, eventually, hex, peer, produce_events, protocol::kafka_client,
};
use usercenter::kafka::{
    error_code::ErrorCode,
    protocol::Produce,
    records::encode::{Stamp, encode_batch},
};

/// One record of 17 MiB of zeros compresses to about a KiB with zstd. The broker takes it (Nisshi
/// decodes batches of up to 100 MiB), and it inflates past the consumer's cap (16 times
/// `fetch_max_bytes`, 1 MiB by default). Before, the partition asked for it again every 500 ms,
/// for good, and dropped the good batches fetched before it each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_inflates_past_the_cap_is_dead_lettered_whole_and_the_partition_goes_on() {
    let broker = Broker::memory().await;
    // Everything is in the log before the service starts, so that its first fetch of partition
    // 0 holds good batches, then the bomb, then more.
    let topics = client(&broker.addr).await;
    for topic in [
        "user.events",
        "user.notifications",
        "user.analytics",
        "user.events.dlq",
    ] {
        create_topic(&topics, topic, 3).await;
    }
    let before = produce_events(&broker.addr, 0..20).await;

    let bomb = Record {
        key: Some(b"bomb".to_vec()),
        value: Some(vec![0; 17 << 20]),
        headers: Default::default(),
        timestamp: chrono::Utc::now(),
    };
    let anonymous = Stamp {
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
    };
    let batch = encode_batch(&[bomb], Compression::Zstd, anonymous).unwrap();
    assert!(batch.len() < 4096, "{} bytes", batch.len());
    let produce = Produce {
        topic: "user.events".into(),
        partition: 0,
        batch: batch.clone(),
        timeout_ms: 10_000,
    };
    let answer = kafka_client(&broker.addr).call_any(&produce).await.unwrap();
    let (code, bomb_offset) = produce.answer(&answer.body).unwrap();
    assert_eq!(code, ErrorCode::NONE);
    let after = produce_events(&broker.addr, 20..60).await;
    let data = tempfile::tempdir().unwrap();
    let (service, metrics) = testkit::start_service(&broker.addr, data.path(), |_| {}).await;

    eventually(Duration::from_secs(60), "every event handled", || {
        metrics.handled.get() >= (before.len() + after.len()) as u64
    })
    .await;
    eventually(Duration::from_secs(10), "the batch dead-lettered", || {
        metrics.dead_letters.get() >= 1
    })
    .await;
    assert_eq!(metrics.handled.get(), 60);
    assert_eq!(metrics.dead_letters.get(), 1);

    let out = peer(
        &broker.addr,
        &[
            "consume",
            "--topic",
            "user.events.dlq",
            "--expect",
            "1",
            "--timeout",
            "60",
        ],
    );
    let records = out["records"].as_array().cloned().unwrap_or_default();
    assert_eq!(records.len(), 1, "{out}");
    // The peer gives headers and values in hex.
    let letter = &records[0];
    let header = |name: &str| {
        letter["headers"][name]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let offset = bomb_offset.to_string();
    assert_eq!(header("dlq_source_offset"), hex(offset.as_bytes()));
    assert_eq!(header("dlq_source_last_offset"), hex(offset.as_bytes()));
    assert_eq!(header("dlq_source_partition"), hex(b"0"));
    let error = header("dlq_error");
    let expected = hex(b"unreadable batch: batch decompresses to more than");
    assert!(error.starts_with(&expected), "{error}");
    // The batch as the broker stored it (it sets the offsets and may set the timestamps), as
    // long as what we sent.
    let value = letter["value"].as_str().unwrap_or_default();
    assert_eq!(value.len(), hex(&batch).len(), "{value}");
    service.stop().await;
}
