//! The harness works end to end: a real broker, the real service, and librdkafka looking on.

use std::time::Duration;

use testkit::{Broker, config, eventually, http, peer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_creates_its_topics_and_the_peer_lists_them() {
    let broker = Broker::memory().await;
    let data = tempfile::tempdir().unwrap();
    let mut config = config(&broker.addr, data.path());
    config.topics.events = "it.user.events".into();
    config.topics.partitions = 4;
    let service = usercenter::service::start(config).await.unwrap();

    eventually(Duration::from_secs(30), "topics created", || {
        service.kafka_ready()
    })
    .await;

    let listed = peer(&broker.addr, &["list-topics"]);
    for topic in ["it.user.events", "user.notifications", "user.analytics"] {
        let t = &listed["topics"][topic];
        assert_eq!(t["partitions"], 4, "{topic} in {listed}");
        assert!(t["error"].is_null(), "{topic}: {}", t["error"]);
    }

    let (status, body) = http(service.local_addr(), "GET", "/health").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"kafka\":\"ready\""), "{body}");
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_topics_are_left_alone_on_restart() {
    let broker = Broker::memory().await;
    let data = tempfile::tempdir().unwrap();
    let first = usercenter::service::start(config(&broker.addr, data.path()))
        .await
        .unwrap();
    eventually(Duration::from_secs(30), "topics created", || {
        first.kafka_ready()
    })
    .await;
    first.stop().await;

    let mut config = config(&broker.addr, data.path());
    config.topics.partitions = 9;
    let second = usercenter::service::start(config).await.unwrap();
    eventually(Duration::from_secs(30), "topics checked", || {
        second.kafka_ready()
    })
    .await;
    let listed = peer(&broker.addr, &["list-topics"]);
    assert_eq!(listed["topics"]["user.events"]["partitions"], 3, "{listed}");
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_while_kafka_is_unreachable() {
    let data = tempfile::tempdir().unwrap();
    // A port nothing listens on: the HTTP front must serve anyway.
    let port = testkit::free_port();
    let service = usercenter::service::start(config(&format!("127.0.0.1:{port}"), data.path()))
        .await
        .unwrap();
    let (status, body) = http(service.local_addr(), "GET", "/health").await;
    assert_eq!(status, 200);
    assert!(body.contains("\"kafka\":\"connecting\""), "{body}");
    assert!(!service.kafka_ready());
    tokio::time::timeout(Duration::from_secs(15), service.stop())
        .await
        .expect("stop does not hang while Kafka is down");
}
