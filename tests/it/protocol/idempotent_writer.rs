//! The idempotent producer's partition pipeline (src/producer/pipeline) on the transport
//! `serve` uses, against a real Nisshi broker: order and exactly-once with 5 requests in flight
//! on both storage engines, broker restarts, a refused record, timeouts.

use std::{sync::Arc, time::Duration};

use testkit::protocol::{kafka_client, logged, record};
use testkit::{Broker, client, create_topic};
use usercenter::producer::{
    BrokerTransport, Codec, DeliveryFuture, ProduceError, Producer, ProducerConfig, ProducerRecord,
};

/// Record `i` of `topic` as the producer takes it: testkit's record `i` (its value starts
/// with `i`, which `logged` reads back) with producer id 7 and sequence `i`.
fn numbered(topic: &str, i: usize) -> ProducerRecord {
    let r = record(i);
    ProducerRecord::new(topic, r.key, r.value.unwrap_or_default()).with_identity(7, i as u64)
}

/// A producer with a producer id from `broker`, closing batches at `batch` records (the
/// linger is long: batches close on their count), with `config`'s `max_in_flight` (5 unless
/// said otherwise).
async fn idempotent(broker: &Broker, batch: usize, config: ProducerConfig) -> Producer {
    let config = ProducerConfig {
        enable_idempotence: true,
        batch_max_records: batch,
        linger_ms: 5_000,
        ..config
    };
    let transport = BrokerTransport::connect(kafka_client(&broker.addr), &config).await;
    assert!(
        !transport.identity().is_none(),
        "the broker gave no producer id"
    );
    Producer::new(Arc::new(transport), config)
}

/// 10,000 records in 100 batches with 5 requests in flight: every record once, in order,
/// with contiguous offsets.
async fn writes_in_order_exactly_once(broker: &Broker) {
    create_topic(&*client(&broker.addr).await, "idem", 1).await;
    let config = ProducerConfig {
        compression: Codec::Lz4,
        ..ProducerConfig::default()
    };
    let producer = idempotent(broker, 100, config).await;
    let mut deliveries = Vec::new();
    for i in 0..10_000 {
        deliveries.push(producer.enqueue(numbered("idem", i)).await.unwrap());
    }
    let mut first = None;
    for (i, d) in deliveries.into_iter().enumerate() {
        let offset = d.await.unwrap().offset;
        let base = *first.get_or_insert(offset);
        assert_eq!(offset, base + i as i64, "contiguous offsets");
    }
    assert_eq!(producer.metrics().batches_sent.get(), 100);
    producer.close(Duration::from_secs(30)).await.unwrap();
    let got = logged(broker, "idem").await;
    assert_eq!(got, (0..10_000).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_in_order_exactly_once_memory() {
    writes_in_order_exactly_once(&Broker::memory().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_in_order_exactly_once_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    writes_in_order_exactly_once(&Broker::sqlite(&dir.path().join("k.db")).await).await;
}

/// Feeds 3,000 records in bursts of 10 batches of 10 (so requests are in flight) while
/// `broker` restarts; returns whether each record was delivered and the record numbers in the
/// log.
async fn feed_through_restart(broker: &mut Broker, memory: bool) -> (Vec<bool>, Vec<usize>) {
    create_topic(&*client(&broker.addr).await, "restart", 1).await;
    let producer = idempotent(broker, 10, ProducerConfig::default()).await;
    let feeder = tokio::spawn(async move {
        let mut deliveries = Vec::new();
        for burst in 0..30 {
            for i in burst * 100..(burst + 1) * 100 {
                deliveries.push(producer.enqueue(numbered("restart", i)).await.unwrap());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        deliveries
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    broker.restart().await;
    if memory {
        // Memory storage forgets topics too: the topic is missing until created again.
        create_topic(&*client(&broker.addr).await, "restart", 1).await;
    }
    let mut delivered = Vec::new();
    for d in feeder.await.unwrap() {
        delivered.push(d.await.is_ok());
    }
    let log = logged(broker, "restart").await;
    (delivered, log)
}

/// A restart with sqlite storage (log and producer state survive): every record delivered,
/// every record in the log once, in order: the batches were resent with their sequences.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_keeps_order_through_a_broker_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::sqlite(&dir.path().join("k.db")).await;
    let (delivered, log) = feed_through_restart(&mut broker, false).await;
    assert!(delivered.iter().all(|d| *d), "{delivered:?}");
    assert_eq!(log, (0..3_000).collect::<Vec<_>>());
}

/// A restart with memory storage forgets the log, the topic and our producer id
/// (UNKNOWN_PRODUCER_ID): the pipeline renews its identity and resends. Every record is
/// delivered, and what the new log holds is in order, without duplicates, up to the last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_renews_its_identity_when_the_broker_forgets_it() {
    let mut broker = Broker::memory().await;
    let (delivered, log) = feed_through_restart(&mut broker, true).await;
    assert!(delivered.iter().all(|d| *d), "{delivered:?}");
    assert!(
        log.windows(2).all(|w| w[0] < w[1]),
        "in order, once: {log:?}"
    );
    assert_eq!(log.last(), Some(&2_999));
}

/// A record the broker refuses (MESSAGE_TOO_LARGE: we were told a larger limit than the
/// broker's) fails alone with `RecordTooLarge`; the batches sent behind it in the same window
/// take over its sequence and land in order, under the same producer id, and the partition goes
/// on after them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_record_fails_alone_and_the_ones_behind_it_follow_in_order() {
    let broker = Broker::memory().await;
    create_topic(&*client(&broker.addr).await, "refuse", 1).await;
    let config = ProducerConfig {
        // Uncompressed, so that the broker sees 2 MiB.
        compression: Codec::None,
        max_message_bytes: 4 << 20,
        ..ProducerConfig::default()
    };
    let producer = idempotent(&broker, 1, config).await;
    let mut huge = numbered("refuse", 1);
    huge.value.resize(2 << 20, b'x');
    let mut reports: Vec<DeliveryFuture> = Vec::new();
    for r in [
        numbered("refuse", 0),
        huge,
        numbered("refuse", 2),
        numbered("refuse", 3),
    ] {
        reports.push(producer.enqueue(r).await.unwrap());
    }
    let mut results = Vec::new();
    for r in reports {
        results.push(r.await.map(|d| d.offset));
    }
    assert!(
        matches!(results[1], Err(ProduceError::RecordTooLarge { .. })),
        "{results:?}"
    );
    let offsets: Vec<i64> = [0, 2, 3].map(|i| results[i].clone().unwrap()).to_vec();
    assert_eq!(offsets, [0, 1, 2]);
    let e = producer.send(numbered("refuse", 4)).await.unwrap();
    assert_eq!(e.offset, 3);
    let got = logged(&broker, "refuse").await;
    assert_eq!(got, [0, 2, 3, 4]);
}

/// With the broker gone, a batch fails after the delivery timeout, and the one behind it with
/// the same error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_time_out_when_the_broker_is_gone() {
    let mut broker = Broker::memory().await;
    create_topic(&*client(&broker.addr).await, "gone", 1).await;
    let config = ProducerConfig {
        delivery_timeout_ms: 1_000,
        ..ProducerConfig::default()
    };
    let producer = idempotent(&broker, 1, config).await;
    producer.send(numbered("gone", 0)).await.unwrap();
    broker.stop();
    let first = producer.enqueue(numbered("gone", 1)).await.unwrap();
    let second = producer.enqueue(numbered("gone", 2)).await.unwrap();
    // (30 s: a guard against hanging for ever, far beyond the 1 s delivery timeout.)
    let first = tokio::time::timeout(Duration::from_secs(30), first.wait()).await;
    assert!(
        matches!(first, Ok(Err(ProduceError::Timeout { .. }))),
        "{first:?}"
    );
    let second = second.await;
    assert!(
        matches!(second, Err(ProduceError::Timeout { .. })),
        "{second:?}"
    );
}
