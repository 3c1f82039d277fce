//! The relay against the mock broker: what it publishes, what it parks, and the identity every
//! published record carries.
use std::collections::{BTreeMap, BTreeSet};

use crate::kafka::records::FetchedRecord;

use super::*;
use crate::outbox::OutboxRecord;
use crate::{
    consumer::{
        NoopHandler,
        process::{BatchInput, apply_batch},
    },
    event::{ContentType, DATA_VERSION, Envelope, EventData, Headers, Registered, header},
    outbox::{append, next_event_sequence, stamp},
    producer::{
        ProducerConfig,
        mock::{MISSING_TOPIC, MockBroker},
    },
    store::{RedbStore, Table},
    users::EventRecordHandler,
};

const PRODUCER_ID: u64 = 5;

fn row(value: Vec<u8>) -> OutboxRecord {
    OutboxRecord {
        topic: "t".into(),
        key: None,
        value,
        headers: BTreeMap::new(),
        created_ms: 1,
    }
}

fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    (dir, store)
}

/// Appends one stamped row to topic `t` per value, in order.
fn append_rows(store: &Arc<dyn Store>, values: &[Vec<u8>]) {
    store
        .write(&mut |txn| {
            for v in values {
                let mut r = row(v.clone());
                stamp(txn, PRODUCER_ID, &mut r.headers)?;
                append(txn, &r)?;
            }
            Ok(())
        })
        .unwrap();
}

/// Runs the relay into `broker` until the outbox is empty; returns the parked row count.
async fn relay_all(store: &Arc<dyn Store>, broker: &Arc<MockBroker>) -> u64 {
    relay_with(store, broker, ProducerConfig::default()).await.0
}

/// [`relay_all`] with a producer configured by `config`; also returns the producer's count of
/// `buffer_full` errors.
async fn relay_with(
    store: &Arc<dyn Store>,
    broker: &Arc<MockBroker>,
    config: ProducerConfig,
) -> (u64, u64) {
    let (cancel, relay, metrics) = spawn_relay(store, broker, config);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let parked = loop {
        let mut left = (0, 0);
        store
            .read(&mut |txn| {
                left = (txn.count(Table::Outbox)?, txn.count(Table::Parked)?);
                Ok(())
            })
            .unwrap();
        if left.0 == 0 {
            break left.1;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "outbox, parked = {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    cancel.cancel();
    relay.await.unwrap();
    (parked, metrics.errors_buffer_full.get())
}

/// A round goes out as soon as it is enqueued: with a linger of a minute the rows are still
/// published (and deleted) well within `relay_with`'s 10 s.
#[tokio::test]
async fn a_round_is_sent_without_waiting_for_the_linger() {
    let (_dir, store) = store();
    append_rows(&store, &[b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]);
    let broker = Arc::new(MockBroker::new(1));
    let config = ProducerConfig {
        linger_ms: 60_000,
        ..ProducerConfig::default()
    };
    let (parked, _) = relay_with(&store, &broker, config).await;
    assert_eq!(parked, 0);
    assert_eq!(
        broker.values(0),
        [b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]
    );
}

#[tokio::test]
async fn on_buffer_full_applies_to_the_relay() {
    use crate::producer::BufferFullPolicy;
    for policy in [BufferFullPolicy::Error, BufferFullPolicy::Wait] {
        let (_dir, store) = store();
        let values: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 600]).collect();
        append_rows(&store, &values);
        let broker = Arc::new(MockBroker::new(1));
        // Room for a few rows only: 40 rows fill it many times over.
        let config = ProducerConfig {
            buffer_bytes: 4096,
            on_buffer_full: policy,
            ..ProducerConfig::default()
        };
        let (parked, full) = relay_with(&store, &broker, config).await;
        assert_eq!(parked, 0, "{policy:?}");
        assert_eq!(broker.values(0), values, "{policy:?}: all, once, in order");
        match policy {
            BufferFullPolicy::Error => {
                assert!(full > 0, "error: the relay is refused, and goes on")
            }
            BufferFullPolicy::Wait => assert_eq!(full, 0, "wait: the relay waits for room"),
        }
    }
}

/// What was committed until the stop goes out before the relay ends: a relay cancelled before
/// it ever read (the service stopping as the last requests commit) publishes the rows in the
/// last rounds, more than one round's worth too.
#[tokio::test]
async fn rows_committed_until_the_stop_go_out_before_the_relay_ends() {
    let (_dir, store) = store();
    let values: Vec<Vec<u8>> = (0..2_500u32).map(|i| i.to_be_bytes().to_vec()).collect();
    append_rows(&store, &values);
    let broker = Arc::new(MockBroker::new(1));
    let producer = Producer::new(Arc::clone(&broker) as _, ProducerConfig::default());
    let cancel = CancellationToken::new();
    cancel.cancel();
    let notify = Arc::new(Notify::new());
    tokio::time::timeout(
        Duration::from_secs(10),
        run(Arc::clone(&store), producer, notify, cancel),
    )
    .await
    .unwrap();
    assert_eq!(broker.values(0), values, "all, once, in order");
    assert_eq!(backlog(&store), 0, "delivered rows are deleted");
}

/// Runs the relay with the broker answering nothing: `waiting` go out in rounds of one row
/// each (the first written, the rest handed over behind it), then a row is committed and the
/// relay stopped, and the broker answers again. What the broker got once the relay ended.
async fn stopped_with_rounds_waiting(store: &Arc<dyn Store>, waiting: &[&[u8]]) -> Vec<Vec<u8>> {
    use std::sync::atomic::Ordering::SeqCst;
    let broker = Arc::new(MockBroker::new(1));
    let config = ProducerConfig {
        request_timeout_ms: 1_000,
        ..Default::default()
    };
    let producer = Producer::new(Arc::clone(&broker) as _, config);
    let (cancel, wake) = (CancellationToken::new(), Arc::new(Notify::new()));
    let relay = tokio::spawn(run(
        Arc::clone(store),
        producer,
        Arc::clone(&wake),
        cancel.clone(),
    ));
    broker.stall.store(true, SeqCst);
    for (i, row) in waiting.iter().enumerate() {
        append_rows(store, &[row.to_vec()]);
        wake.notify_one();
        if i == 0 {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while broker.attempts.load(SeqCst) == 0 {
                assert!(std::time::Instant::now() < deadline, "the first round");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    // The rounds handed over: the relay waits, caught up.
    tokio::time::sleep(Duration::from_millis(200)).await;
    append_rows(store, &[b"late".to_vec()]);
    cancel.cancel();
    broker.stall.store(false, SeqCst);
    tokio::time::timeout(Duration::from_secs(10), relay)
        .await
        .unwrap()
        .unwrap();
    broker.values(0)
}

/// A relay caught up when the stop comes, a round still unacknowledged (rows committed since
/// did not wake it, or the wake and the stop came together), still reads them in its last
/// round.
#[tokio::test]
async fn a_relay_caught_up_at_the_stop_reads_once_more() {
    let (_dir, store) = store();
    let got = stopped_with_rounds_waiting(&store, &[b"first"]).await;
    assert_eq!(got, [b"first".to_vec(), b"late".to_vec()]);
    assert_eq!(backlog(&store), 0);
}

/// The same with two rounds handed over and unanswered at the stop (no room for a third; the
/// second waits behind the first, as the producer sends one request at a time until the
/// identity's first answer): the last round settles the oldest first, then reads what was
/// committed until the stop.
#[tokio::test]
async fn a_relay_with_every_round_in_flight_at_the_stop_reads_once_more() {
    let (_dir, store) = store();
    let got = stopped_with_rounds_waiting(&store, &[b"first", b"second"]).await;
    assert_eq!(
        got,
        [b"first".to_vec(), b"second".to_vec(), b"late".to_vec()]
    );
    assert_eq!(backlog(&store), 0);
}

/// The relay running into `broker`; cancel it with the token, then await the task. Also the
/// producer's metrics.
fn spawn_relay(
    store: &Arc<dyn Store>,
    broker: &Arc<MockBroker>,
    config: ProducerConfig,
) -> (
    CancellationToken,
    tokio::task::JoinHandle<()>,
    Arc<crate::producer::ProducerMetrics>,
) {
    let producer = Producer::new(Arc::clone(broker) as _, config);
    let metrics = Arc::clone(producer.metrics());
    let cancel = CancellationToken::new();
    let relay = tokio::spawn(run(
        Arc::clone(store),
        producer,
        Arc::new(Notify::new()),
        cancel.clone(),
    ));
    (cancel, relay, metrics)
}

mod lease;
mod order;
mod parked;

/// Rounds are pipelined: while the first round's batch waits for its acknowledgement, the
/// second round is read and its batch is on the wire too (two requests in flight, where one
/// round at a time would have one); then everything arrives once and in order. One row goes
/// out first: until the broker acknowledged a batch of the identity the producer sends one
/// request at a time (`producer/pipeline/window.rs`).
#[tokio::test]
async fn the_next_round_goes_out_while_the_previous_one_waits_for_its_acknowledgement() {
    use std::sync::atomic::Ordering::SeqCst;
    let (_dir, store) = store();
    let first = vec![b"first".to_vec()];
    append_rows(&store, &first);
    let values: Vec<Vec<u8>> = (0..2_500u32).map(|i| i.to_be_bytes().to_vec()).collect();
    let broker = Arc::new(MockBroker {
        pipeline: 5,
        ..MockBroker::new(1)
    });
    // A stalled request never answers: it is sent again after this.
    let config = ProducerConfig {
        request_timeout_ms: 1_000,
        ..Default::default()
    };
    let (cancel, relay, _) = spawn_relay(&store, &broker, config);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while backlog(&store) > 0 {
        assert!(std::time::Instant::now() < deadline, "the first row");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    broker.stall.store(true, SeqCst);
    let before = broker.attempts.load(SeqCst);
    append_rows(&store, &values);
    let sent = || broker.attempts.load(SeqCst) - before;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sent() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "one round at a time: {} attempts, backlog {}",
            sent(),
            backlog(&store)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        sent(),
        DEPTH,
        "no more rounds than DEPTH handed over unacknowledged"
    );
    broker.stall.store(false, SeqCst);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while backlog(&store) > 0 {
        assert!(std::time::Instant::now() < deadline, "not all delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cancel.cancel();
    relay.await.unwrap();
    assert_eq!(broker.values(0), [first, values].concat());
}

fn backlog(store: &Arc<dyn Store>) -> u64 {
    crate::store::StoreExt::read_with(&**store, crate::outbox::backlog).unwrap()
}

mod caught_up;
mod cursor;
