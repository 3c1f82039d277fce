//! Leader lookups the metadata cache cannot answer, against a real Nisshi broker: the
//! callers that miss at once share Metadata requests instead of sending one each.
use std::sync::Arc;

use kafka_protocol::messages::ApiKey;
use testkit::protocol::kafka_client;
use testkit::{Broker, client, create_topic};
use usercenter::kafka::protocol::sent;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_that_miss_at_once_share_metadata_requests() {
    let broker = Broker::memory().await;
    create_topic(&*client(&broker.addr).await, "lookups", 32).await;
    let cluster = kafka_client(&broker.addr);
    // Warm: connections open and the topic cached.
    cluster.leader_addr("lookups", 0).await.unwrap();
    for round in 0..3 {
        // What every partition loop does when its leader moved: forget the topic, look again.
        cluster.invalidate("lookups");
        let before = sent(ApiKey::Metadata);
        let lookups: Vec<_> = (0..32)
            .map(|p| {
                let cluster = Arc::clone(&cluster);
                tokio::spawn(async move { cluster.leader_addr("lookups", p).await })
            })
            .collect();
        for lookup in lookups {
            assert_eq!(lookup.await.unwrap().unwrap(), broker.addr);
        }
        let asked = sent(ApiKey::Metadata) - before;
        println!("round {round}: 32 lookups missed the cache, {asked} Metadata requests");
        // One for the first caller; a caller that began waiting after that request's answer
        // was taken in asks again, so a few at most, not 32.
        assert!((1..=3).contains(&asked), "{asked} Metadata requests");
    }
}
