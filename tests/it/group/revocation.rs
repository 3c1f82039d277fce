//! A member keeps its session while the consumer gives partitions up: finishing the batch in
//! hand may take longer than a session (a slow store), and the member stays in the group
//! meanwhile, as a Java consumer's heartbeat thread keeps it there.

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use testkit::{Broker, client, create_topic, eventually, protocol::kafka_client};
use tokio::sync::mpsc;
use usercenter::kafka::group::{GroupEvent, GroupMember, MemberConfig, assign};

const SESSION: Duration = Duration::from_secs(3);

/// A member offering `assignors` (comma-separated, in order of preference).
fn member_config(assignors: &str) -> MemberConfig {
    MemberConfig {
        group_id: "revoking".into(),
        topic: "t".into(),
        session_timeout: SESSION,
        rebalance_timeout: Duration::from_secs(30),
        heartbeat_interval: Duration::from_millis(500),
        assignors: assignors
            .split(',')
            .map(|name| assign::by_name(name).unwrap())
            .collect(),
        group_instance_id: None,
        metadata_refresh: Duration::from_secs(30),
    }
}

/// A broker with topic `t` of four partitions, and the group's first member, which owns all
/// four.
async fn owner_of_all(assignors: &str) -> (Broker, GroupMember, mpsc::Receiver<GroupEvent>) {
    let broker = Broker::memory().await;
    create_topic(&*client(&broker.addr).await, "t", 4).await;
    let (member, mut events) =
        GroupMember::start(kafka_client(&broker.addr), member_config(assignors));
    let GroupEvent::Assigned {
        partitions,
        generation,
        ..
    } = next(&mut events).await
    else {
        panic!("a revocation before the first assignment");
    };
    assert_eq!(partitions, vec![0, 1, 2, 3]);
    for p in partitions {
        assert_eq!(member.owned_since(p), Some(generation), "partition {p}");
    }
    (broker, member, events)
}

/// A member that takes what it is given and gives up what it is asked to at once; what it
/// owns.
fn prompt_member(
    broker: &str,
    assignor: &str,
) -> (
    GroupMember,
    Arc<Mutex<BTreeSet<i32>>>,
    tokio::task::JoinHandle<()>,
) {
    let (member, mut events) = GroupMember::start(kafka_client(broker), member_config(assignor));
    let owns = Arc::new(Mutex::new(BTreeSet::new()));
    let owned = Arc::clone(&owns);
    let task = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                GroupEvent::Assigned { partitions, .. } => {
                    owned.lock().unwrap().extend(partitions);
                }
                GroupEvent::Revoked {
                    partitions, done, ..
                }
                | GroupEvent::Lost { partitions, done } => {
                    owned.lock().unwrap().retain(|p| !partitions.contains(p));
                    let _ = done.send(());
                }
            }
        }
    });
    (member, owns, task)
}

/// The next event, within 20 s.
async fn next(events: &mut mpsc::Receiver<GroupEvent>) -> GroupEvent {
    tokio::time::timeout(Duration::from_secs(20), events.recv())
        .await
        .expect("an event within 20 s")
        .expect("the member runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_three_sessions_long_keeps_the_member_in_the_group() {
    let (broker, a, mut a_events) = owner_of_all("cooperative-sticky").await;
    let a_id = a.membership().member_id;

    // The second member takes what it is given and gives up what it is asked to at once.
    let (b, b_owns, b_task) = prompt_member(&broker.addr, "cooperative-sticky");

    // The first member is asked for two partitions and takes three sessions to give them up.
    let GroupEvent::Revoked {
        partitions, done, ..
    } = next(&mut a_events).await
    else {
        panic!("an assignment before the revocation");
    };
    assert_eq!(partitions.len(), 2, "half of them move: {partitions:?}");
    tokio::time::sleep(3 * SESSION).await;
    done.send(()).unwrap();

    // The group hands them to the second member; the first keeps the other two. Had its
    // session ended meanwhile, the coordinator would have given all four to the second
    // member, and the first would now be told to give up the other two as lost.
    eventually(
        Duration::from_secs(20),
        "the second member owns two",
        || b_owns.lock().unwrap().len() == 2,
    )
    .await;
    let quiet = tokio::time::sleep(2 * SESSION);
    tokio::pin!(quiet);
    loop {
        tokio::select! {
            () = &mut quiet => break,
            event = next(&mut a_events) => match event {
                GroupEvent::Assigned { partitions, .. } => {
                    assert!(partitions.is_empty(), "nothing new for the first: {partitions:?}");
                }
                GroupEvent::Lost { partitions, .. } => {
                    panic!("the first member lost {partitions:?}: its session ended while it revoked")
                }
                GroupEvent::Revoked { partitions, .. } => {
                    panic!("the first member was asked again to give up {partitions:?}")
                }
            },
        }
    }
    let m = a.membership();
    assert_eq!(m.member_id, a_id, "the same member");
    assert!(m.generation >= 0, "in a generation: {m:?}");
    let moved: BTreeSet<i32> = partitions.into_iter().collect();
    assert_eq!(
        *b_owns.lock().unwrap(),
        moved,
        "the second member owns what moved"
    );

    a.stop(Duration::from_secs(5)).await;
    b.stop(Duration::from_secs(5)).await;
    b_task.abort();
}

/// An eager assignor: the first member gives all four up when the second joins, and takes three
/// sessions to. The coordinator answers its heartbeats meanwhile with REBALANCE_IN_PROGRESS,
/// which keeps its session; the rebalance waits for it (the rebalance timeout is 30 s), and it
/// rejoins with the same member id and gets half.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eager_revocation_three_sessions_long_keeps_the_member_in_the_group() {
    let (broker, a, mut a_events) = owner_of_all("roundrobin").await;
    let a_id = a.membership().member_id;

    let (b, b_owns, b_task) = prompt_member(&broker.addr, "roundrobin");
    let GroupEvent::Revoked {
        partitions, done, ..
    } = next(&mut a_events).await
    else {
        panic!("an assignment before the revocation");
    };
    assert_eq!(partitions, vec![0, 1, 2, 3], "eager: everything");
    tokio::time::sleep(3 * SESSION).await;
    done.send(()).unwrap();

    let GroupEvent::Assigned { partitions, .. } = next(&mut a_events).await else {
        panic!("revoked again");
    };
    assert_eq!(partitions.len(), 2, "half: {partitions:?}");
    assert_eq!(a.membership().member_id, a_id, "the same member");
    eventually(
        Duration::from_secs(20),
        "the second member owns the other two",
        || {
            let b = b_owns.lock().unwrap();
            b.len() == 2 && b.iter().all(|p| !partitions.contains(p))
        },
    )
    .await;

    a.stop(Duration::from_secs(5)).await;
    b.stop(Duration::from_secs(5)).await;
    b_task.abort();
}

/// A member that offers an eager assignor besides `cooperative-sticky` (the default list,
/// which adds `roundrobin`) follows the eager protocol even in a generation whose assignor is
/// cooperative, as the Java client does: it gives every partition up before it joins again.
/// A member of another client that offers only the eager assignor makes a real Kafka broker
/// pick it for the next generation, and that leader hands partitions out whatever their
/// owners say; one kept through the join would be consumed by two members at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_offering_an_eager_assignor_gives_everything_up_before_it_rejoins() {
    let (broker, a, mut a_events) = owner_of_all("cooperative-sticky,roundrobin").await;
    let (b, b_owns, b_task) = prompt_member(&broker.addr, "cooperative-sticky,roundrobin");
    // All four, before the next generation's assignment; then its share comes back.
    let GroupEvent::Revoked {
        partitions, done, ..
    } = next(&mut a_events).await
    else {
        panic!("an assignment before the revocation");
    };
    assert_eq!(
        partitions,
        vec![0, 1, 2, 3],
        "everything, before it rejoins"
    );
    // The member gave them up before the consumer heard of it: a start of theirs that the
    // consumer had not made yet is not made.
    for p in 0..4 {
        assert_eq!(a.owned_since(p), None, "partition {p} still owned");
    }
    done.send(()).unwrap();
    let GroupEvent::Assigned {
        partitions,
        generation,
        ..
    } = next(&mut a_events).await
    else {
        panic!("another revocation before the assignment");
    };
    assert_eq!(partitions.len(), 2, "its share: {partitions:?}");
    for p in 0..4 {
        let since = partitions.contains(&p).then_some(generation);
        assert_eq!(a.owned_since(p), since, "partition {p}");
    }
    eventually(
        Duration::from_secs(20),
        "the second member owns two",
        || b_owns.lock().unwrap().len() == 2,
    )
    .await;
    let a_owns: BTreeSet<i32> = partitions.into_iter().collect();
    assert!(a_owns.is_disjoint(&b_owns.lock().unwrap()));
    a.stop(Duration::from_secs(5)).await;
    b.stop(Duration::from_secs(5)).await;
    b_task.abort();
}
