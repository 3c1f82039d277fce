//! Per-key order through long outages (issue 15, point 7; invariant 5): the outbox relay and
//! the producer against a real broker behind the fault proxy, which cuts every produce request
//! while an outage lasts. Whatever the point the outage starts at, every user's events arrive in
//! the order they were written, none lost (duplicates of a record whose acknowledgement was lost
//! may follow it; consumers drop those by `ce_id`, so the order that counts is that of first
//! appearances).
//!
//! A topic missing at the broker is not tested here: Nisshi creates topics on first use. The
//! relay's unit tests (`src/outbox/relay/tests.rs`) cover it against the mock broker.
//!
//! Before the fix, a relay round still enqueueing (waiting for buffer space) when the failed
//! batches of an outage longer than `delivery_timeout_ms` were given up sent the rows it
//! enqueued afterwards once the broker was back, and retried the failed ones in a later round:
//! `C, D, A, B` for one key.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, atomic::Ordering::Relaxed},
    time::Duration,
};

use testkit::{
    Broker, outbox_backlog,
    proxy::{Faults, Proxy, broker_behind},
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use usercenter::{
    outbox::{self, OutboxRecord},
    producer::{BufferFullPolicy, Codec, Producer, ProducerConfig},
    store::{RedbStore, Store},
};

const USERS: u64 = 20;
const PARTITIONS: i32 = 3;

/// A broker behind the proxy (faults off, armed to cut every produce request), `topic` created
/// there, and an empty store in its own directory.
async fn setup(topic: &str) -> (Broker, Proxy, tempfile::TempDir, Arc<RedbStore>) {
    let faults = Faults::produce_only();
    faults.skip_frames.store(0, Relaxed);
    faults.cut_request_ppm.store(1_000_000, Relaxed);
    let (broker, proxy) = broker_behind(faults, 7).await;
    let client = testkit::client(proxy.addr()).await;
    testkit::create_topic(&client, topic, PARTITIONS).await;
    let data = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(data.path()).unwrap());
    (broker, proxy, data, store)
}

/// `per_user` rows for each of `USERS` users on `topic`, interleaved, ~`size` bytes each.
fn write_rows(store: &RedbStore, topic: &str, first: u64, per_user: u64, size: usize) {
    store
        .write(&mut |txn| {
            for i in first..first + per_user {
                for user in 0..USERS {
                    let mut headers = BTreeMap::new();
                    outbox::stamp(txn, 77, &mut headers)?;
                    let mut value = format!("{user}:{i}:").into_bytes();
                    value.resize(size, b'.');
                    let row = OutboxRecord {
                        topic: topic.into(),
                        key: Some(format!("user-{user}").into_bytes()),
                        value,
                        headers,
                        created_ms: 0,
                    };
                    outbox::append(txn, &row)?;
                }
            }
            Ok(())
        })
        .unwrap();
}

/// The idempotent producer the service runs, with short timeouts so an outage of a few seconds
/// outlasts `delivery_timeout_ms`.
async fn producer(addr: &str, buffer_bytes: usize, delivery_timeout_ms: u64) -> Producer {
    let kafka = usercenter::config::KafkaConfig {
        brokers: vec![addr.to_owned()],
        ..Default::default()
    };
    let config = ProducerConfig {
        compression: Codec::None,
        buffer_bytes,
        batch_max_bytes: 4_096,
        on_buffer_full: BufferFullPolicy::Wait,
        delivery_timeout_ms,
        request_timeout_ms: 500,
        retry_backoff_ms: 50,
        retry_backoff_max_ms: 200,
        ..Default::default()
    };
    let client = testkit::protocol::kafka_client(&kafka.brokers[0]);
    let transport = usercenter::producer::BrokerTransport::connect(client, &config).await;
    assert!(
        !transport.identity().is_none(),
        "the broker gave no producer id"
    );
    Producer::new(Arc::new(transport), config)
}

struct Relay {
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    wake: Arc<Notify>,
}

fn start_relay(store: &Arc<RedbStore>, producer: Producer) -> Relay {
    let cancel = CancellationToken::new();
    let wake = Arc::new(Notify::new());
    let task = tokio::spawn(outbox::relay::run(
        Arc::clone(store) as Arc<dyn Store>,
        producer,
        Arc::clone(&wake),
        cancel.clone(),
    ));
    Relay { cancel, task, wake }
}

async fn drained(store: &RedbStore, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while outbox_backlog(store) > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "outbox not drained: {} rows left",
            outbox_backlog(store)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every user's events on `topic` in first-appearance order are 0, 1, 2, ... `expected - 1`.
async fn assert_in_order(addr: &str, topic: &str, expected: u64) {
    let client = testkit::client(addr).await;
    let mut seen: HashMap<String, Vec<u64>> = HashMap::new();
    let mut duplicates = 0;
    for p in 0..PARTITIONS {
        let mut firsts = std::collections::HashSet::new();
        for r in testkit::read_partition(&client, topic, p).await {
            let value = String::from_utf8(r.record.value.unwrap()).unwrap();
            let mut parts = value.split(':');
            let user = parts.next().unwrap().to_owned();
            let i: u64 = parts.next().unwrap().parse().unwrap();
            if firsts.insert((user.clone(), i)) {
                seen.entry(user).or_default().push(i);
            } else {
                duplicates += 1;
            }
        }
    }
    eprintln!("{topic}: {duplicates} duplicates after their first appearance");
    assert_eq!(seen.len() as u64, USERS, "every user's events arrived");
    for (user, events) in &seen {
        let want: Vec<u64> = (0..expected).collect();
        assert!(events == &want, "user {user}: {events:?}");
    }
}

/// The relay is mid-round, waiting for buffer space, when the outage starts; the outage
/// outlasts `delivery_timeout_ms` (2 s) and ends while that round is still enqueueing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_while_a_round_waits_for_buffer_space() {
    let (broker, proxy, _data, store) = setup("waiting").await;
    let per_user = 50; // 1,000 rows of 300 B: one relay round, 25x the buffer
    let rows = USERS * per_user;
    write_rows(&store, "waiting", 0, per_user, 300);
    const BUFFER: usize = 12_000;
    let producer = producer(proxy.addr(), BUFFER, 2_000).await;
    let metrics = Arc::clone(producer.metrics());
    let relay = start_relay(&store, producer);
    // The outage starts once the round waits for buffer space: the buffer within 2 KiB of full
    // (a 300-byte row holds about 1 KiB of it, with its key, headers and their map) while rows
    // of the round are still to be sent. Polled every millisecond: the round may last only
    // tens of them.
    let full = (BUFFER - 2_048) as i64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while metrics.buffer_bytes.get() < full {
        assert!(
            metrics.records_sent.get() < rows,
            "the round ended before its buffer was seen full: {} of {rows} rows sent",
            metrics.records_sent.get()
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after 30 s waiting for the relay to fill the producer's buffer ({} of \
             {BUFFER} bytes used)",
            metrics.buffer_bytes.get()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    proxy.faults.enabled.store(true, Relaxed);
    let sent = metrics.records_sent.get();
    assert!(
        sent < rows,
        "the outage started after the round: {sent} of {rows} rows already sent"
    );
    eprintln!("outage started mid-round: {sent} of {rows} rows sent");
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    proxy.faults.enabled.store(false, Relaxed);
    let (_, _, cut) = proxy.faults.counts();
    assert!(cut > 0, "the outage cut produce requests");
    drained(&store, Duration::from_secs(60)).await;
    assert_in_order(proxy.addr(), "waiting", per_user).await;
    // The case the test is for: batches given up at the delivery timeout, not a short outage.
    assert!(
        metrics.errors_timeout.get() > 0,
        "no batch was given up in the outage"
    );
    relay.cancel.cancel();
    relay.task.await.unwrap();
    drop(broker);
}

/// Everything enqueued, then an outage longer than `delivery_timeout_ms` fails every batch;
/// rows written during the outage and after it follow in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_longer_than_the_delivery_timeout() {
    let (broker, proxy, _data, store) = setup("long").await;
    proxy.faults.enabled.store(true, Relaxed);
    write_rows(&store, "long", 0, 10, 100);
    let producer = producer(proxy.addr(), 64 << 20, 1_000).await;
    let metrics = Arc::clone(producer.metrics());
    let relay = start_relay(&store, producer);
    for round in 1..4 {
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        write_rows(&store, "long", round * 10, 10, 100);
        relay.wake.notify_one();
    }
    proxy.faults.enabled.store(false, Relaxed);
    write_rows(&store, "long", 40, 10, 100);
    relay.wake.notify_one();
    drained(&store, Duration::from_secs(60)).await;
    assert_in_order(proxy.addr(), "long", 50).await;
    let (_, _, cut) = proxy.faults.counts();
    assert!(cut > 0, "the outage cut produce requests");
    assert!(
        metrics.errors_timeout.get() > 0,
        "no batch was given up in the outage"
    );
    relay.cancel.cancel();
    relay.task.await.unwrap();
    drop(broker);
}
