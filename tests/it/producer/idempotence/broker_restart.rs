//! A broker restart in the middle of an idempotent stream: nothing lost, nothing repeated.
use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_mid_stream_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::sqlite(&dir.path().join("restart.db")).await;
    let client = testkit::client(&broker.addr).await;
    testkit::create_topic(&client, "restart", PARTITIONS).await;
    let producer = std::sync::Arc::new(idempotent(&broker.addr, producer_config()).await);
    let count = 30_000;
    let enqueued = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sender = {
        let producer = std::sync::Arc::clone(&producer);
        let enqueued = std::sync::Arc::clone(&enqueued);
        tokio::spawn(async move {
            let mut futures = Vec::new();
            for i in 0..count {
                let (key, counter) = (i % KEYS, i / KEYS);
                let record = testkit::record(
                    "restart",
                    Some(format!("user-{key:02}").into_bytes()),
                    value(key, counter),
                );
                futures.push((
                    (key, counter),
                    producer.enqueue(record).await.expect("enqueue"),
                ));
                enqueued.store(i + 1, Relaxed);
                if i % 500 == 499 {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
            let mut acked = HashSet::new();
            for (id, future) in futures {
                if future.wait().await.is_ok() {
                    acked.insert(id);
                }
            }
            acked
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let before = enqueued.load(Relaxed);
    broker.restart().await;
    assert!(
        before > 0 && before < count,
        "the restart came mid-stream ({before} enqueued)"
    );
    let acked = sender.await.unwrap();
    let back = read_back(&broker.addr, "restart").await;
    eprintln!(
        "restart: {count} sent, {} acked, {} in the log, {} duplicates, {} out of order",
        acked.len(),
        back.records,
        back.duplicate_ids,
        back.out_of_order
    );
    // The sqlite broker keeps its log and its producers' state across the restart, and the
    // delivery timeout outlasts the restart: every record is acknowledged.
    assert_eq!(acked.len(), count, "records lost to the restart");
    assert_exactly_once(&back, &acked);
}
