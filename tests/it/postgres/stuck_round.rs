//! A cooperative member keeps its partitions through a rebalance round. When its SyncGroup never
//! reaches the coordinator, the group drops it a session later and gives its partitions to the
//! others, whose claims end its tasks. It must not claim those partitions back while it waits
//! for the answer (up to 40 s): it is no longer in the group, and the partitions' new owners
//! would be fenced out. A task that ended is claimed back only after a heartbeat answered in
//! the member's generation says it is still a member (`consumer/group_mode.rs`).

use std::{
    sync::{Arc, atomic::Ordering::Relaxed},
    time::{Duration, Instant},
};

use testkit::{
    eventually,
    postgres::Postgres,
    produce_events,
    proxy::{Faults, broker_behind},
};
use usercenter::{
    config::{Config, StoreBackend},
    consumer::ConsumerMetrics,
    service::Running,
};

/// SyncGroup's api key.
const SYNC_GROUP: i32 = 14;
/// The topic's partitions.
const PARTITIONS: i64 = 6;

/// One instance on the shared store, with client id `usercenter-<name>`, and its data
/// directory.
async fn instance(
    broker: &str,
    url: &str,
    name: &str,
) -> (Running, Arc<ConsumerMetrics>, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let (service, metrics) = testkit::start_service(broker, data.path(), |cfg: &mut Config| {
        cfg.kafka.client_id = format!("usercenter-{name}");
        cfg.topics.partitions = PARTITIONS as i32;
        cfg.store.backend = StoreBackend::Postgres;
        cfg.store.url = url.to_owned();
        cfg.store.pool_size = 4;
        cfg.consumer.assignors = vec!["cooperative-sticky".into()];
        cfg.consumer.session_timeout_ms = 5_000;
        cfg.consumer.heartbeat_interval_ms = 1_000;
        cfg.consumer.rebalance_timeout_ms = 10_000;
        cfg.consumer.auto_commit_interval_ms = 500;
    })
    .await;
    (service, metrics, data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_sync_never_arrives_does_not_claim_back_what_the_group_gave_away() {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let faults = Arc::new(Faults::default());
    let (broker, _proxy) = broker_behind(Arc::clone(&faults), 17).await;
    let (a, a_metrics, _a_data) = instance(&broker.addr, &url, "a").await;
    let (b, b_metrics, _b_data) = instance(&broker.addr, &url, "b").await;
    let running = |m: &ConsumerMetrics| m.assigned_partitions.get();
    eventually(
        Duration::from_secs(60),
        "the partitions shared by a and b",
        || running(&a_metrics) > 0 && running(&a_metrics) + running(&b_metrics) == PARTITIONS,
    )
    .await;

    // Events on every partition from now on, so that every task meets any claim of another
    // owner at its next batch.
    let producing = {
        let addr = broker.addr.clone();
        tokio::spawn(async move {
            for round in 0..400u64 {
                produce_events(&addr, round * 12..round * 12 + 12).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    // a's next SyncGroup never reaches the broker (nor its answer a); a third member starts
    // the round.
    *faults.client_id.lock().unwrap() = Some("usercenter-a".into());
    faults.api_key.store(SYNC_GROUP, Relaxed);
    faults.swallow_request_ppm.store(1_000_000, Relaxed);
    faults.enabled.store(true, Relaxed);
    let started = Instant::now();
    let (c, c_metrics, _c_data) = instance(&broker.addr, &url, "c").await;
    let others = || running(&b_metrics) + running(&c_metrics);
    eventually(
        Duration::from_secs(30),
        "b and c with every partition, a's tasks ended by their claims",
        || others() == PARTITIONS && running(&a_metrics) == 0,
    )
    .await;
    assert!(
        faults.swallowed.load(Relaxed) >= 1,
        "no SyncGroup swallowed"
    );
    let handed_over = started.elapsed();

    // Until shortly before a's SyncGroup times out (40 s after it was sent): a's ended tasks
    // stay ended, and b's and c's tasks are never fenced out. Three session timeouts after
    // they ended (15 s) is when a would have claimed them back.
    let until = started + Duration::from_secs(36);
    while Instant::now() < until {
        let (ours, theirs) = (running(&a_metrics), others());
        assert!(
            ours == 0 && theirs == PARTITIONS,
            "{:.1?} after the round began: a runs {ours} partitions, b and c {theirs}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "a's SyncGroup swallowed: its partitions with b and c {handed_over:.1?} after the round \
         began, and not claimed back by a in the {:.1?} after",
        until - started - handed_over
    );

    faults.enabled.store(false, Relaxed);
    producing.abort();
    c.stop().await;
    b.stop().await;
    a.stop().await;
}
