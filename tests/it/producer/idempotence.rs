//! Exactly-once delivery under faults: a frame-aware proxy between producer and broker drops
//! produce responses (written but never acknowledged), delays them and cuts connections
//! mid-request; librdkafka then reads the log back. With idempotence off the producer's
//! retries resend and the log shows duplicates (which proves the check can fail).

use std::{
    collections::{HashMap, HashSet},
    sync::atomic::Ordering::Relaxed,
    time::Instant,
};

use testkit::{
    Broker,
    proxy::{Faults, Proxy, sqlite_broker_behind},
};
use usercenter::producer::{Producer, ProducerConfig};

const KEYS: usize = 50;
const PARTITIONS: i32 = 3;

/// The value of record `counter` of user `key`: both numbers, padded to 100 bytes.
fn value(key: usize, counter: usize) -> Vec<u8> {
    sized_value(key, counter, 100)
}

/// [`value`] padded to `len` bytes.
fn sized_value(key: usize, counter: usize, len: usize) -> Vec<u8> {
    let mut v = format!("user-{key:02}-{counter:08}-").into_bytes();
    v.resize(len, b'x');
    v
}

fn parse(value: &[u8]) -> (usize, usize) {
    let text = std::str::from_utf8(&value[..22]).expect("ascii value");
    (
        text[5..7].parse().expect("key"),
        text[8..16].parse().expect("counter"),
    )
}

/// What the log holds, as librdkafka reads it.
#[derive(Debug, Default)]
struct Readback {
    records: usize,
    /// Records whose `ce_id` was seen before.
    duplicate_ids: usize,
    /// Records whose per-key counter is not above the previous one of that key.
    out_of_order: usize,
    /// `(key, counter)` pairs present.
    present: HashSet<(usize, usize)>,
    /// Records the librdkafka peer wrote (header `peer`), their numbers, and how many came
    /// after a higher number in their partition.
    peer_records: usize,
    peer_present: HashSet<usize>,
    peer_out_of_order: usize,
}

/// Reads every partition of `topic` with the librdkafka peer (the expected count is the sum of
/// the high watermarks, read first with rskafka).
async fn read_back(addr: &str, topic: &str) -> Readback {
    let client = testkit::client(addr).await;
    let mut total = 0;
    for p in 0..PARTITIONS {
        total += testkit::read_partition(&client, topic, p).await.len();
    }
    let expect = total.to_string();
    let out = testkit::peer(addr, &["consume", "--topic", topic, "--expect", &expect]);
    let records = out["records"].as_array().expect("records");
    let mut back = Readback {
        records: records.len(),
        ..Readback::default()
    };
    let mut ids = HashSet::new();
    let mut last: HashMap<(u64, usize), usize> = HashMap::new();
    let mut sorted: Vec<&serde_json::Value> = records.iter().collect();
    sorted.sort_by_key(|r| (r["partition"].as_u64(), r["offset"].as_u64()));
    let mut peer_last: HashMap<u64, usize> = HashMap::new();
    for r in sorted {
        let partition = r["partition"].as_u64().expect("partition");
        let bytes = testkit::unhex(r["value"].as_str().expect("value"));
        if r["headers"].get("peer").is_some() {
            back.records -= 1;
            back.peer_records += 1;
            let text = String::from_utf8(bytes).expect("peer value");
            let n: usize = text
                .split('-')
                .nth(1)
                .expect("value-N-")
                .parse()
                .expect("N");
            if peer_last.insert(partition, n).is_some_and(|prev| n <= prev) {
                back.peer_out_of_order += 1;
            }
            back.peer_present.insert(n);
            continue;
        }
        let id = r["headers"]["ce_id"]
            .as_str()
            .expect("ce_id header")
            .to_owned();
        if !ids.insert(id) {
            back.duplicate_ids += 1;
        }
        let (key, counter) = parse(&bytes);
        if let Some(prev) = last.insert((partition, key), counter)
            && counter <= prev
        {
            back.out_of_order += 1;
        }
        back.present.insert((key, counter));
    }
    back
}

/// Sends `count` records (key = user id, value = per-key counter) through `producer`
/// concurrently; returns the `(key, counter)` pairs acknowledged.
async fn send_all(producer: &Producer, topic: &str, count: usize) -> HashSet<(usize, usize)> {
    send_sized(producer, topic, count, 100).await
}

/// [`send_all`] with values of `len` bytes.
async fn send_sized(
    producer: &Producer,
    topic: &str,
    count: usize,
    len: usize,
) -> HashSet<(usize, usize)> {
    let mut futures = Vec::with_capacity(count);
    for i in 0..count {
        let (key, counter) = (i % KEYS, i / KEYS);
        let record = testkit::record(
            topic,
            Some(format!("user-{key:02}").into_bytes()),
            sized_value(key, counter, len),
        );
        let future = producer.enqueue(record).await.expect("enqueue");
        futures.push(((key, counter), future));
    }
    let mut acked = HashSet::new();
    for (id, future) in futures {
        if future.wait().await.is_ok() {
            acked.insert(id);
        }
    }
    acked
}

/// Small batches so there are hundreds of produce requests to fault.
fn producer_config() -> ProducerConfig {
    ProducerConfig {
        batch_max_records: 250,
        retry_backoff_ms: 20,
        retry_backoff_max_ms: 200,
        request_timeout_ms: 5_000,
        // The test sends as fast as it can: wait for buffer space rather than fail.
        on_buffer_full: usercenter::producer::BufferFullPolicy::Wait,
        ..ProducerConfig::default()
    }
}

/// A sqlite broker in `dir` behind a fault proxy (faults off until the caller enables them).
/// Not the memory engine: when the proxy ends a connection, the broker is often still writing
/// the requests it read on it, and the producer's retry on a new connection races them, which
/// Nisshi 0.8.1's memory engine answers by writing the batch twice (see
/// `sqlite_broker_behind`).
async fn faulty_broker(seed: u64, dir: &tempfile::TempDir) -> (Broker, Proxy) {
    sqlite_broker_behind(Faults::produce_only(), seed, &dir.path().join("faulty.db")).await
}

/// Prints what the broker logged at WARN or above (its sequence checks' refusals among them):
/// shown when the test fails.
fn print_broker_warnings(broker: &Broker) {
    let lines = [broker.log_lines("WARN"), broker.log_lines("ERROR")].concat();
    eprintln!("the broker logged {} warnings and errors", lines.len());
    for line in lines.iter().take(20) {
        eprintln!("broker: {line}");
    }
}

fn set_faults(faults: &Faults) {
    faults.drop_response_ppm.store(40_000, Relaxed);
    faults.delay_response_ppm.store(40_000, Relaxed);
    faults.delay_ms.store(300, Relaxed);
    faults.cut_request_ppm.store(30_000, Relaxed);
    faults.enabled.store(true, Relaxed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_idempotence_faults_duplicate_records() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("broker directory");
    let (_broker, proxy) = faulty_broker(0x05EE_D0FF, &dir).await;
    let client = testkit::client(proxy.addr()).await;
    testkit::create_topic(&client, "faulty", PARTITIONS).await;
    // The same pipeline under producer id -1: a resend after a lost answer writes again.
    let config = ProducerConfig {
        enable_idempotence: false,
        ..producer_config()
    };
    let producer = testkit::producer(proxy.addr(), config).await;
    set_faults(&proxy.faults);

    let count = 100_000;
    let acked = send_all(&producer, "faulty", count).await;
    proxy.faults.enabled.store(false, Relaxed);
    let (dropped, delayed, cut) = proxy.faults.counts();
    let back = read_back(proxy.addr(), "faulty").await;
    eprintln!(
        "idempotence off: {count} sent, {} acked, {} in the log, {} duplicate ce_ids, \
         {} out of order; faults: {dropped} dropped, {delayed} delayed, {cut} cut; {:?}",
        acked.len(),
        back.records,
        back.duplicate_ids,
        back.out_of_order,
        started.elapsed()
    );
    assert!(
        dropped > 0 && delayed > 0 && cut > 0,
        "faults were injected"
    );
    assert!(
        acked.iter().all(|id| back.present.contains(id)),
        "an acknowledged record is missing"
    );
    assert!(
        back.duplicate_ids > 0,
        "resending without idempotence left no duplicate: the exactly-once check cannot fail"
    );
}

/// Our idempotent producer on `addr` (`[producer] enable_idempotence = true`).
async fn idempotent(addr: &str, mut config: ProducerConfig) -> Producer {
    config.enable_idempotence = true;
    config.max_in_flight = 5;
    let kafka = usercenter::config::KafkaConfig {
        brokers: vec![addr.to_owned()],
        ..Default::default()
    };
    let client = testkit::protocol::kafka_client(&kafka.brokers[0]);
    let transport = usercenter::producer::BrokerTransport::connect(client, &config).await;
    assert!(
        !transport.identity().is_none(),
        "the broker gave no producer id"
    );
    Producer::new(std::sync::Arc::new(transport), config)
}

/// Every record sent once, none repeated, per-key order intact.
fn assert_exactly_once(back: &Readback, acked: &HashSet<(usize, usize)>) {
    assert!(
        acked.iter().all(|id| back.present.contains(id)),
        "an acknowledged record is missing"
    );
    assert_eq!(back.duplicate_ids, 0, "a ce_id appears twice in the log");
    assert_eq!(
        back.records,
        back.present.len(),
        "a record appears twice in the log"
    );
    assert_eq!(back.out_of_order, 0, "per-key order broken");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_idempotence_faults_leave_each_record_once_in_order() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("broker directory");
    let (broker, proxy) = faulty_broker(0x0001_DE3F, &dir).await;
    let client = testkit::client(proxy.addr()).await;
    testkit::create_topic(&client, "exact", PARTITIONS).await;
    let producer = idempotent(proxy.addr(), producer_config()).await;
    set_faults(&proxy.faults);

    let count = 100_000;
    let acked = send_all(&producer, "exact", count).await;
    proxy.faults.enabled.store(false, Relaxed);
    let (dropped, delayed, cut) = proxy.faults.counts();
    let back = read_back(proxy.addr(), "exact").await;
    eprintln!(
        "idempotence on: {count} sent, {} acked, {} in the log, {} duplicate ce_ids, \
         {} out of order; faults: {dropped} dropped, {delayed} delayed, {cut} cut; {:?}",
        acked.len(),
        back.records,
        back.duplicate_ids,
        back.out_of_order,
        started.elapsed()
    );
    print_broker_warnings(&broker);
    assert!(
        dropped > 0 && delayed > 0 && cut > 0,
        "faults were injected"
    );
    assert_eq!(acked.len(), count, "every record acknowledged");
    assert_exactly_once(&back, &acked);
}

/// A batch the broker refuses as too large (MESSAGE_TOO_LARGE) comes back from the idempotent
/// writer with its records, since the sender keeps no copy of the batches it hands over; it is
/// split, and every record lands once and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_refused_as_too_large_come_back_split_once_in_order() {
    let broker = Broker::memory().await;
    let client = testkit::client(&broker.addr).await;
    testkit::create_topic(&client, "big", PARTITIONS).await;
    // Told the limit is 4 MiB, the producer builds 3 MiB batches the broker (1 MiB) refuses.
    let config = ProducerConfig {
        compression: usercenter::producer::Codec::None,
        batch_max_bytes: 3 << 20,
        max_message_bytes: 4 << 20,
        linger_ms: 2_000,
        on_buffer_full: usercenter::producer::BufferFullPolicy::Wait,
        ..ProducerConfig::default()
    };
    let producer = idempotent(&broker.addr, config).await;
    let count = 9_000;
    let acked = send_sized(&producer, "big", count, 1024).await;
    let splits = producer.metrics().splits.get();
    let back = read_back(&broker.addr, "big").await;
    eprintln!(
        "too large: {count} sent, {} acked, {splits} splits, {} in the log",
        acked.len(),
        back.records
    );
    assert!(splits >= 1, "the broker refused the 3 MiB batches");
    assert_eq!(acked.len(), count, "every record acknowledged");
    assert_exactly_once(&back, &acked);
}

mod broker_restart;
mod librdkafka;
