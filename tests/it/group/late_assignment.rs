//! A member that reads its SyncGroup answer more than a session after it asked (its process was
//! frozen, SIGSTOP, between the coordinator's answer and its read; here the answer is held up
//! on the way) may read an assignment the coordinator has since taken back: it dropped the
//! member when its session ran out and gave the partitions to another. The member asks with a
//! heartbeat before it hands such an assignment to the consumer, which would otherwise consume
//! those partitions beside their new owner until its next heartbeat. When a rebalance began
//! while the answer waited, the member starts none of its new partitions and joins at once.

use std::{
    sync::{Arc, Mutex, atomic::Ordering::Relaxed},
    time::Duration,
};

use testkit::{
    client, create_topic, eventually,
    proxy::{Faults, broker_behind},
};
use tokio::sync::mpsc;
use usercenter::kafka::{
    Client,
    group::{GroupEvent, GroupMember, MemberConfig, assign},
};

/// The SyncGroup api key.
const SYNC_GROUP: i32 = 14;

/// An eager member of group `late` on topic `t`: a session of `session`, a rebalance
/// timeout of 10 s, heartbeats `heartbeat` apart.
fn eager(session: Duration, heartbeat: Duration) -> MemberConfig {
    MemberConfig {
        group_id: "late".into(),
        topic: "t".into(),
        session_timeout: session,
        rebalance_timeout: Duration::from_secs(10),
        heartbeat_interval: heartbeat,
        assignors: vec![assign::by_name("roundrobin").unwrap()],
        group_instance_id: None,
        metadata_refresh: Duration::from_secs(30),
    }
}

/// A broker behind a proxy that holds up the first SyncGroup answer to client `late` by
/// `held`, once [`Faults::enabled`] is set; topic `t` has `partitions`.
async fn broker_holding_a_sync(held: Duration, partitions: i32) -> (Arc<Faults>, Held) {
    let faults = Arc::new(Faults::default());
    faults.api_key.store(SYNC_GROUP, Relaxed);
    *faults.client_id.lock().unwrap() = Some("late".into());
    faults.delay_response_ppm.store(1_000_000, Relaxed);
    faults.delay_ms.store(held.as_millis() as u64, Relaxed);
    let (broker, proxy) = broker_behind(Arc::clone(&faults), 3).await;
    create_topic(&*client(&broker.addr).await, "t", partitions).await;
    (faults, (broker, proxy))
}

type Held = (testkit::Broker, testkit::proxy::Proxy);

/// Starts the late member and waits until its first SyncGroup answer is being held up; the
/// later ones go on time.
async fn start_late(
    faults: &Faults,
    broker: &str,
    config: MemberConfig,
) -> (GroupMember, mpsc::Receiver<GroupEvent>) {
    faults.enabled.store(true, Relaxed);
    let late = GroupMember::start(client_named(broker, "late"), config);
    eventually(
        Duration::from_secs(20),
        "the SyncGroup answer held up",
        || faults.delayed.load(Relaxed) == 1,
    )
    .await;
    faults.enabled.store(false, Relaxed);
    late
}

/// Starts a member that acknowledges whatever it gives up at once, and notes what it was told.
fn start_told(broker: &str, name: &str, config: MemberConfig) -> (GroupMember, Arc<Mutex<Told>>) {
    let (member, mut events) = GroupMember::start(client_named(broker, name), config);
    let told = Arc::new(Mutex::new(Told::default()));
    let record = Arc::clone(&told);
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
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
    (member, told)
}

/// Waits until the member `told` of holds all `partitions`.
async fn holds_all(told: &Mutex<Told>, partitions: usize) {
    eventually(Duration::from_secs(20), "the first member assigned", || {
        let told = told.lock().unwrap();
        told.assigned.iter().any(|(_, p)| p.len() == partitions)
    })
    .await;
}

/// The late member's next assignment (acknowledging what it gives up meanwhile).
async fn next_assigned(events: &mut mpsc::Receiver<GroupEvent>) -> (i32, Vec<i32>) {
    loop {
        match tokio::time::timeout(Duration::from_secs(40), events.recv()).await {
            Ok(Some(GroupEvent::Assigned {
                generation,
                partitions,
                ..
            })) => return (generation, partitions),
            Ok(Some(GroupEvent::Revoked { done, .. } | GroupEvent::Lost { done, .. })) => {
                let _ = done.send(());
            }
            other => panic!("no assignment for the late member: {other:?}"),
        }
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
    // Held past the late member's session (6 s), and long enough for the other member to
    // hold every partition in the next generation.
    let (faults, (broker, _proxy)) = broker_holding_a_sync(Duration::from_secs(11), 2).await;
    let quick = eager(Duration::from_secs(6), Duration::from_millis(300));
    let (on_time, told) = start_told(&broker.addr, "on-time", quick);
    holds_all(&told, 2).await;

    // The late member joins; its first SyncGroup answer reaches it 11 s after the coordinator
    // sent it. Its session runs out at the coordinator meanwhile, which gives both partitions
    // to the member on time in a new generation.
    let quick = eager(Duration::from_secs(6), Duration::from_millis(300));
    let (late, mut late_events) = start_late(&faults, &broker.addr, quick).await;
    let (generation, partitions) = loop {
        let (generation, partitions) = next_assigned(&mut late_events).await;
        if !partitions.is_empty() {
            break (generation, partitions);
        }
    };
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
}

/// Read late but within the session, while a third member's join has begun a rebalance: the
/// member starts none of the assignment's partitions (it would give them up at its next
/// heartbeat) and joins at once, and gets its share in the next generation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assignment_read_late_during_a_rebalance_starts_nothing_and_joins_at_once() {
    // Heartbeats 3 s apart: an answer read more than 7 s after SyncGroup was sent (the
    // rebalance timeout, 10 s, less a heartbeat interval) is checked. Held 8 s: well within
    // the session (20 s), and 3 s before the third member's rebalance, begun a second into
    // the hold, drops a member that has not joined it.
    let (faults, (broker, _proxy)) = broker_holding_a_sync(Duration::from_secs(8), 3).await;
    let slow = || eager(Duration::from_secs(20), Duration::from_secs(3));
    let (on_time, told) = start_told(&broker.addr, "on-time", slow());
    holds_all(&told, 3).await;
    let (late, mut late_events) = start_late(&faults, &broker.addr, slow()).await;
    // A third member joins while the late member's answer waits.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (third, _third_told) = start_told(&broker.addr, "third", slow());

    let (read_late, nothing) = next_assigned(&mut late_events).await;
    assert_eq!(
        nothing,
        Vec::<i32>::new(),
        "the assignment of generation {read_late} read late during a rebalance was started"
    );
    let (generation, partitions) = next_assigned(&mut late_events).await;
    assert!(generation > read_late, "{generation} after {read_late}");
    assert_eq!(partitions.len(), 1, "{partitions:?}");
    for member in [late, on_time, third] {
        member.stop(Duration::from_secs(5)).await;
    }
}
