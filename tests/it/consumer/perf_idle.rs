//! `usercenter perf consume` on a topic holding fewer records than asked: it stops once
//! nothing came for `--idle-secs`, saying how many it read, rather than waiting for a ctrl-c
//! that a script never sends.

use std::time::{Duration, Instant};

use testkit::{Broker, client, create_topic, produce_events};
use usercenter::perf::consume::{ConsumeArgs, ConsumeError, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_with_fewer_records_than_asked_stops_after_the_idle_time() {
    let broker = Broker::memory().await;
    create_topic(&*client(&broker.addr).await, "user.events", 1).await;
    produce_events(&broker.addr, 0..5).await;
    let args = ConsumeArgs {
        brokers: vec![broker.addr.clone()],
        topic: "user.events".into(),
        records: 10,
        fetch_max_bytes: 1 << 20,
        idle_secs: 2,
        data_dir: None,
    };
    let started = Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(30), run(&args, std::future::pending()))
        .await
        .expect("perf consume stops by itself");
    let took = started.elapsed();
    let Err(ConsumeError::Idle { done, asked, .. }) = ended else {
        panic!("not stopped as idle: {ended:?}");
    };
    assert_eq!((done, asked), (5, 10));
    assert!(took >= Duration::from_secs(2), "{took:?}");
}
