//! librdkafka's idempotent producer and ours write the same topic: each one's records once,
//! in order.
use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_idempotent_and_our_producer_share_a_topic() {
    let broker = Broker::memory().await;
    let client = testkit::client(&broker.addr).await;
    testkit::create_topic(&client, "shared", PARTITIONS).await;
    let producer = idempotent(&broker.addr, producer_config()).await;
    let count = 20_000;
    let addr = broker.addr.clone();
    let peer = tokio::task::spawn_blocking(move || {
        let n = count.to_string();
        testkit::peer(
            &addr,
            &[
                "produce",
                "--topic",
                "shared",
                "--count",
                &n,
                "--key-prefix",
                "lib-",
            ],
        )
    });
    let acked = send_all(&producer, "shared", count).await;
    let peer = peer.await.unwrap();
    assert_eq!(
        peer["errors"],
        serde_json::json!([]),
        "librdkafka delivery errors"
    );
    assert_eq!(peer["delivered"].as_array().map(Vec::len), Some(count));
    let back = read_back(&broker.addr, "shared").await;
    eprintln!(
        "interop: ours {} acked, {} in the log; librdkafka {} in the log, {} distinct, {} out of order",
        acked.len(),
        back.records,
        back.peer_records,
        back.peer_present.len(),
        back.peer_out_of_order
    );
    assert_eq!(acked.len(), count, "every record of ours acknowledged");
    assert_exactly_once(&back, &acked);
    assert_eq!(back.peer_records, count, "librdkafka's records, each once");
    assert_eq!(
        back.peer_present.len(),
        count,
        "librdkafka's records, each once"
    );
    assert_eq!(
        back.peer_out_of_order, 0,
        "librdkafka's order per partition"
    );
}
