//! Batches the consumer cannot read, against a real broker (another client's, an old format, one
//! damaged at rest): each is dead-lettered as one record, and the partition goes on after it.
use std::{
    sync::{Arc, atomic::Ordering::Relaxed},
    time::Duration,
};

use rskafka::{client::partition::Compression, record::Record};
use testkit::{
    Broker, client, create_topic, eventually, hex, peer, produce_events,
    protocol::kafka_client,
    proxy::{Faults, broker_behind},
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
    create_topics(&broker.addr).await;
    let before = produce_events(&broker.addr, 0..20).await;

    let bomb = Record {
        key: Some(b"bomb".to_vec()),
        value: Some(vec![0; 17 << 20]),
        headers: Default::default(),
        timestamp: chrono::Utc::now(),
    };
    let batch = encode_batch(&[bomb], Compression::Zstd, ANONYMOUS).unwrap();
    assert!(batch.len() < 4096, "{} bytes", batch.len());
    let bomb_offset = produce_raw(&broker.addr, &batch).await;
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

    let letters = dead_letters(&broker.addr, 1);
    let letter = &letters[0];
    let header = |name: &str| header(letter, name);
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

/// A batch of no producer id.
const ANONYMOUS: Stamp = Stamp {
    producer_id: -1,
    producer_epoch: -1,
    base_sequence: -1,
};

/// The service's topics, 3 partitions each.
async fn create_topics(broker: &str) {
    let topics = client(broker).await;
    for topic in [
        "user.events",
        "user.notifications",
        "user.analytics",
        "user.events.dlq",
    ] {
        create_topic(&topics, topic, 3).await;
    }
}

/// Writes `batch` to partition 0 of `user.events` as it is; its offset.
async fn produce_raw(broker: &str, batch: &[u8]) -> i64 {
    let produce = Produce {
        topic: "user.events".into(),
        partition: 0,
        batch: bytes::Bytes::copy_from_slice(batch),
        timeout_ms: 10_000,
    };
    let answer = kafka_client(broker).call_any(&produce).await.unwrap();
    let (code, offset) = produce.answer(&answer.body).unwrap();
    assert_eq!(code, ErrorCode::NONE);
    offset
}

/// The `n` records of `user.events.dlq`, read by the independent client.
fn dead_letters(broker: &str, n: usize) -> Vec<serde_json::Value> {
    let expect = n.to_string();
    let out = peer(
        broker,
        &[
            "consume",
            "--topic",
            "user.events.dlq",
            "--expect",
            &expect,
            "--timeout",
            "60",
        ],
    );
    let records = out["records"].as_array().cloned().unwrap_or_default();
    assert_eq!(records.len(), n, "{out}");
    records
}

/// A dead letter's header `name`, in hex as the peer gives it.
fn header(letter: &serde_json::Value, name: &str) -> String {
    letter["headers"][name]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A message in Kafka's old format (magic 1) whose value starts with `value`, its CRC-32
/// right. Nisshi parses what it is sent as a v2 batch and checks it as one, so the bytes where
/// v2 has its fields say: no attributes, one record, no producer id, a CRC-32C that matches
/// (the value holds a salt tried until one does), and from byte 61 on one v2 record (the end
/// of the key, then a record whose value is the message's value, but for its last byte, 0:
/// the record's header count) without a timestamp.
fn old_format_message(value: &[u8]) -> Vec<u8> {
    fn varint(n: i64, out: &mut Vec<u8>) {
        let mut z = ((n << 1) ^ (n >> 63)) as u64;
        while z >= 0x80 {
            out.push((z as u8) | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
    }
    for salt in 0u32.. {
        let value = [value, &salt.to_be_bytes(), &[0]].concat();
        // The v2 record: attributes, timestamp and offset deltas 0, a null key, then as its
        // value the message's value length (4 bytes) and value, but its last byte.
        let record_value = 4 + value.len() as i64 - 1;
        // v2's base timestamp is the key's length (its 3 low bytes, then 5 zeros of the key),
        // so the record's timestamp delta makes its timestamp -1 (none), which brokers let
        // through whatever their clock; and the key's length holds that delta.
        let mut key = Vec::new();
        for _ in 0..4 {
            let mut record = vec![0];
            varint(-1 - ((key.len() as i64) << 40), &mut record);
            record.push(0);
            varint(-1, &mut record);
            varint(record_value, &mut record);
            let record_len = record.len() as i64 + record_value + 1;
            let mut next = vec![0u8; 31];
            next[5..27].fill(0xff); // v2's max timestamp, producer id, epoch, sequence: -1
            next[27..31].copy_from_slice(&1i32.to_be_bytes()); // v2's record count
            varint(record_len, &mut next);
            next.extend_from_slice(&record);
            let settled = next.len() == key.len();
            key = next;
            if settled {
                break;
            }
        }
        let mut body = vec![1, 0]; // magic 1, no compression (v2's CRC byte 0: attributes)
        body.extend_from_slice(&0i64.to_be_bytes()); // timestamp (v2's CRC bytes 1-3 first)
        for part in [&key[..], &value] {
            body.extend_from_slice(&(part.len() as i32).to_be_bytes());
            body.extend_from_slice(part);
        }
        // v2's CRC-32C is at bytes 17-21 of the message (1-5 of the body) and covers the
        // bytes from 21 on (5 on).
        let v2_crc = crc32c::crc32c(&body[5..]).to_be_bytes();
        if v2_crc[0] != 0 {
            continue;
        }
        body[2..5].copy_from_slice(&v2_crc[1..]);
        let mut crc = flate2::Crc::new();
        crc.update(&body);
        let mut out = 0i64.to_be_bytes().to_vec();
        out.extend_from_slice(&(4 + body.len() as i32).to_be_bytes());
        out.extend_from_slice(&crc.sum().to_be_bytes());
        out.extend_from_slice(&body);
        return out;
    }
    unreachable!("one salt in 256 gives a CRC-32C whose first byte is 0")
}

/// What no fetch can read as the log holds it: a message in the old format, and a batch
/// damaged at rest (the fault proxy flips a bit of it in every answer that carries it, as a
/// damaged disk under a broker would; brokers refuse a damaged batch when it is produced).
/// Before, the consumer asked for each again every 500 ms, for good, and the partition stopped
/// there. Now each is one dead letter and the partition goes on; the damaged batch once it
/// came twice with the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_format_message_and_a_damaged_batch_are_dead_lettered_and_the_partition_goes_on() {
    let faults = Arc::new(Faults::default());
    let (broker, _proxy) = broker_behind(Arc::clone(&faults), 7).await;
    create_topics(&broker.addr).await;
    let mut events = produce_events(&broker.addr, 0..10).await.len();
    let old_offset = produce_raw(&broker.addr, &old_format_message(b"from an old writer")).await;
    events += produce_events(&broker.addr, 10..20).await.len();
    const AT_REST: &[u8] = b"a value damaged at rest";
    let record = Record {
        key: Some(b"damaged".to_vec()),
        value: Some(AT_REST.to_vec()),
        headers: Default::default(),
        timestamp: chrono::Utc::now(),
    };
    let batch = encode_batch(&[record], Compression::NoCompression, ANONYMOUS).unwrap();
    let damaged_offset = produce_raw(&broker.addr, &batch).await;
    events += produce_events(&broker.addr, 20..40).await.len();
    *faults.damage.lock().unwrap() = Some(AT_REST.to_vec());

    let data = tempfile::tempdir().unwrap();
    let (service, metrics) = testkit::start_service(&broker.addr, data.path(), |_| {}).await;
    eventually(Duration::from_secs(60), "every event handled", || {
        metrics.handled.get() >= events as u64 && metrics.dead_letters.get() >= 2
    })
    .await;
    assert_eq!(metrics.handled.get(), 40);
    assert_eq!(metrics.dead_letters.get(), 2);
    assert!(
        faults.corrupted.load(Relaxed) >= 2,
        "the batch was damaged fewer than twice"
    );

    let letters = dead_letters(&broker.addr, 2);
    let at = |offset: i64| {
        letters
            .iter()
            .find(|l| header(l, "dlq_source_offset") == hex(offset.to_string().as_bytes()))
            .unwrap_or_else(|| panic!("no dead letter of offset {offset}: {letters:?}"))
    };
    let error = header(at(old_offset), "dlq_error");
    let expected = hex(b"unreadable batch: old message format (magic 1");
    assert!(error.starts_with(&expected), "{error}");
    let error = header(at(damaged_offset), "dlq_error");
    let expected = hex(b"unreadable batch: CRC mismatch");
    assert!(error.starts_with(&expected), "{error}");
    service.stop().await;
}
