//! A broker that goes silent on a connection (a frozen host, a cut without a reset, a proxy's
//! black hole): no end of stream and no reset, only requests that get no answer. The first
//! request to time out gives the connection up for everyone who holds it, and a leader that
//! could not be reached is looked up again.
use std::{
    sync::{Arc, atomic::Ordering::Relaxed},
    time::Duration,
};

use kafka_protocol::messages::ApiKey;
use testkit::proxy::{Faults, broker_behind};
use testkit::{client, create_topic};
use usercenter::kafka::protocol::{CoordinatorType, FindCoordinator, OffsetQuery, sent};
use usercenter::kafka::{Client, Purpose};

/// A client of `addr` whose requests time out after `timeout`.
fn client_with_timeout(addr: &str, timeout: Duration) -> Arc<Client> {
    let mut settings = usercenter::config::KafkaConfig::default()
        .connect_settings()
        .unwrap();
    settings.request_timeout = timeout;
    Arc::new(Client::new(vec![addr.to_owned()], settings))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_whose_request_timed_out_is_closed_for_every_holder() {
    let faults = Arc::new(Faults::default());
    let (broker, _proxy) = broker_behind(Arc::clone(&faults), 11).await;
    let cluster = client_with_timeout(&broker.addr, Duration::from_secs(2));
    let find = FindCoordinator {
        key: "silent".into(),
        key_type: CoordinatorType::Group,
    };
    // Two holders of one connection, as two partitions of a producer on one broker are.
    let held = cluster
        .connection(&broker.addr, Purpose::Produce)
        .await
        .unwrap();
    let other_holder = Arc::clone(&held);
    held.call(&find).await.unwrap();

    faults.black_hole.store(true, Relaxed);
    let err = held.call(&find).await.unwrap_err();
    assert!(err.is_connection_lost(), "{err:?}");
    faults.black_hole.store(false, Relaxed);
    // The other holder sees it closed before it writes its next request there (where it would
    // wait a whole request timeout), and the pool hands out a new one that answers.
    assert!(
        other_holder.is_closed(),
        "a silent connection still looks usable"
    );
    assert!(cluster.open_connections().is_empty());
    let next = cluster
        .connection(&broker.addr, Purpose::Produce)
        .await
        .unwrap();
    assert!(!Arc::ptr_eq(&next, &held));
    next.call(&find).await.unwrap();
}

/// A broker behind a fault proxy (faults off) with topic `silent`, and a client of it whose
/// requests time out after `timeout`, which has read the topic's end once. The broker and
/// the proxy run while the second value is held.
async fn silent_topic(
    seed: u64,
    timeout: Duration,
) -> (
    Arc<Faults>,
    (testkit::Broker, testkit::proxy::Proxy),
    Arc<Client>,
) {
    let faults = Arc::new(Faults::default());
    let (broker, proxy) = broker_behind(Arc::clone(&faults), seed).await;
    create_topic(&*client(&broker.addr).await, "silent", 1).await;
    let cluster = client_with_timeout(&broker.addr, timeout);
    cluster
        .log_offset("silent", 0, OffsetQuery::Latest)
        .await
        .unwrap();
    (faults, (broker, proxy), cluster)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_did_not_answer_a_list_offsets_is_looked_up_again() {
    let (faults, _running, cluster) = silent_topic(12, Duration::from_secs(2)).await;

    faults.black_hole.store(true, Relaxed);
    assert!(
        cluster
            .log_offset("silent", 0, OffsetQuery::Latest)
            .await
            .is_err()
    );
    faults.black_hole.store(false, Relaxed);
    // The leader may have moved (a failover): the next ask looks it up, rather than trying
    // the cached address until the metadata ages out.
    let before = sent(ApiKey::Metadata);
    cluster
        .log_offset("silent", 0, OffsetQuery::Latest)
        .await
        .unwrap();
    assert!(sent(ApiKey::Metadata) > before, "the cached leader reused");
}

/// A ListOffsets and a FindCoordinator are answered from memory at once: on a silent broker
/// each gives up after 10 s, not after the client's request timeout, which `serve` raises to
/// cover a JoinGroup's rebalance (here 300 s). A partition's start offset and a member's
/// rejoin wait that long at most for a broker that went silent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_and_the_coordinator_are_asked_within_10_s_whatever_the_request_timeout() {
    let (faults, _running, cluster) = silent_topic(13, Duration::from_secs(300)).await;
    cluster.coordinator("g").await.unwrap();

    faults.black_hole.store(true, Relaxed);
    let started = std::time::Instant::now();
    let (offset, coordinator) = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::join!(
            cluster.log_offset("silent", 0, OffsetQuery::Latest),
            cluster.coordinator("g")
        )
    })
    .await
    .expect("both gave up within 30 s");
    let waited = started.elapsed();
    assert!(
        offset.is_err() && coordinator.is_err(),
        "answered by a black hole"
    );
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(15),
        "gave up after {waited:?}"
    );
    assert!(
        faults.swallowed.load(Relaxed) > 0,
        "the black hole swallowed nothing"
    );
}
