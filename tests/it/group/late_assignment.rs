//! A member that reads its SyncGroup answer more than a session after it asked (its process was
//! frozen, SIGSTOP, between the coordinator's answer and its read; here the answer is held up
//! on the way) may read an assignment the coordinator has since taken back: it dropped the
//! member when its session ran out and gave the partitions to another. The member asks with a
//! heartbeat before it hands such an assignment to the consumer, which would otherwise consume
//! those partitions beside their new owner until its next heartbeat.

use std::{
    sync::{Arc, Mutex, atomic::Ordering::Relaxed},
    time::Duration,
};

use testkit::{
    client, create_topic, eventually,
    proxy::{Faults, broker_behind},
};
use usercenter::kafka::{
    Client,
    group::{GroupEvent, GroupMember, MemberConfig, assign},
};

/// The SyncGroup api key.
const SYNC_GROUP: i32 = 14;
const SESSION: Duration = Duration::from_secs(6);
/// How long the late member's first SyncGroup answer is held up: past its session, and long
/// enough for the other member to hold every partition in the next generation.
const HELD: Duration = Duration::from_secs(11);

fn eager() -> MemberConfig {
    MemberConfig {
        group_id: "late".into(),
        topic: "t".into(),
        session_timeout: SESSION,
        rebalance_timeout: Duration::from_secs(10),
        heartbeat_interval: Duration::from_millis(300),
        assignors: vec![assign::by_name("roundrobin").unwrap()],
        group_instance_id: None,
        metadata_refresh: Duration::from_secs(30),
    }
}

/// The service's Kafka client for `addr`, naming itself `client_id` in its requests.
fn client_named(addr: &str, client_id: &str) -> Arc<Client> {
    let config = usercenter::config::KafkaConfig {
        brokers: vec![addr.to_owned()],
        client_id: client_id.to_owned(),
        connect_timeout_secs: 5,
        ..Default::default()
    };
    let settings = config.connect_settings().unwrap();
    Arc::new(Client::new(config.brokers, settings))
}

/// What a member was told, in order: the generation and partitions of each assignment (the
/// partitions it holds from then on), and what it gave up.
#[derive(Debug, Default)]
struct Told {
    assigned: Vec<(i32, Vec<i32>)>,
    given_up: Vec<Vec<i32>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assignment_read_a_session_late_is_confirmed_before_it_is_consumed() {
    let faults = Arc::new(Faults::default());
    faults.api_key.store(SYNC_GROUP, Relaxed);
    *faults.client_id.lock().unwrap() = Some("late".into());
    faults.delay_response_ppm.store(1_000_000, Relaxed);
    faults.delay_ms.store(HELD.as_millis() as u64, Relaxed);
    let (broker, _proxy) = broker_behind(Arc::clone(&faults), 3).await;
    create_topic(&*client(&broker.addr).await, "t", 2).await;

    // The member on time holds both partitions, acknowledging whatever it gives up at once.
    let (on_time, mut on_time_events) =
        GroupMember::start(client_named(&broker.addr, "on-time"), eager());
    let told = Arc::new(Mutex::new(Told::default()));
    let record = Arc::clone(&told);
    let acknowledging = tokio::spawn(async move {
        while let Some(event) = on_time_events.recv().await {
            let mut told = record.lock().unwrap();
            match event {
                GroupEvent::Assigned {
                    generation,
                    partitions,
                    ..
                } => told.assigned.push((generation, partitions)),
                GroupEvent::Revoked {
                    partitions, done, ..
                }
                | GroupEvent::Lost { partitions, done } => {
                    told.given_up.push(partitions);
                    let _ = done.send(());
                }
            }
        }
    });
    eventually(Duration::from_secs(20), "the first member assigned", || {
        told.lock()
            .unwrap()
            .assigned
            .iter()
            .any(|(_, p)| p.len() == 2)
    })
    .await;

    // The late member joins; its first SyncGroup answer reaches it 11 s after the coordinator
    // sent it. Its session (6 s) runs out at the coordinator meanwhile, which gives both
    // partitions to the member on time in a new generation.
    faults.enabled.store(true, Relaxed);
    let (late, mut late_events) = GroupMember::start(client_named(&broker.addr, "late"), eager());
    eventually(
        Duration::from_secs(20),
        "the SyncGroup answer held up",
        || faults.delayed.load(Relaxed) == 1,
    )
    .await;
    // Only the first answer: the next round syncs on time.
    faults.enabled.store(false, Relaxed);

    let assigned = loop {
        match tokio::time::timeout(Duration::from_secs(40), late_events.recv()).await {
            Ok(Some(GroupEvent::Assigned {
                generation,
                partitions,
                ..
            })) if !partitions.is_empty() => break (generation, partitions),
            Ok(Some(GroupEvent::Assigned { .. })) => {}
            Ok(Some(GroupEvent::Revoked { done, .. } | GroupEvent::Lost { done, .. })) => {
                let _ = done.send(());
            }
            other => panic!("no assignment for the late member: {other:?}"),
        }
    };
    let (generation, partitions) = assigned;
    let history = format!("{:?}", told.lock().unwrap());
    let now_on_time = on_time.membership().generation;
    // The coordinator did drop the late member while its answer was held up: the member on
    // time held both partitions alone again, in a generation after its first.
    let alone = told
        .lock()
        .unwrap()
        .assigned
        .iter()
        .filter(|(_, p)| p.len() == 2)
        .count();
    assert!(
        alone >= 2,
        "the first member never held both partitions again: {history}"
    );
    assert!(
        generation >= now_on_time,
        "the late member was handed {partitions:?} of generation {generation} while the other \
         member was in generation {now_on_time}: {history}"
    );
    late.stop(Duration::from_secs(5)).await;
    on_time.stop(Duration::from_secs(5)).await;
    acknowledging.abort();
}
