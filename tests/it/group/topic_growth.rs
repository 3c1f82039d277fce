//! Partitions added to the topic get an owner while the group is stable, also when the leader
//! restarts in its static place after the growth (it keeps the old assignment, made over fewer
//! partitions). Nisshi has no CreatePartitions, so the topic is deleted and created again with
//! more partitions, which a member sees the same way: the topic's partition count in a
//! Metadata answer changed.

use std::time::Duration;

use testkit::{Broker, client, create_topic, protocol::kafka_client};
use tokio::sync::mpsc;
use usercenter::kafka::group::{GroupEvent, GroupMember, MemberConfig};

use super::fenced::{member_of, next};

/// A static member `pod-0` of group `growing` on `topic`, looking at the topic every 300 ms.
fn pod_0(topic: &str) -> MemberConfig {
    MemberConfig {
        metadata_refresh: Duration::from_millis(300),
        ..member_of("growing", topic)
    }
}

/// Makes `topic` again with `partitions` partitions.
async fn make_again(admin: &rskafka::client::Client, topic: &str, partitions: i32) {
    let controller = admin.controller_client().unwrap();
    controller.delete_topic(topic, 10_000).await.unwrap();
    create_topic(admin, topic, partitions).await;
}

/// The partitions the member is given until it holds two more (acknowledging revocations).
async fn two_added(events: &mut mpsc::Receiver<GroupEvent>) -> Vec<i32> {
    let mut added = Vec::new();
    while added.len() < 2 {
        match next(events).await {
            Some(GroupEvent::Assigned { partitions, .. }) => added.extend(partitions),
            Some(GroupEvent::Revoked { done, .. } | GroupEvent::Lost { done, .. }) => {
                let _ = done.send(());
            }
            None => panic!("the member stopped"),
        }
    }
    added.sort_unstable();
    added
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_added_to_the_topic_are_assigned_without_a_restart() {
    let broker = Broker::memory().await;
    let admin = client(&broker.addr).await;
    create_topic(&admin, "grows", 1).await;
    let (member, mut events) = GroupMember::start(kafka_client(&broker.addr), pod_0("grows"));
    let Some(GroupEvent::Assigned { partitions, .. }) = next(&mut events).await else {
        panic!("no first assignment");
    };
    assert_eq!(partitions, vec![0]);

    make_again(&admin, "grows", 3).await;

    // The member sees the count change, joins again, and as the leader assigns the new
    // partitions (cooperative-sticky keeps partition 0 where it is).
    assert_eq!(two_added(&mut events).await, vec![1, 2]);
    member.stop(Duration::from_secs(5)).await;
}

/// The topic grows while its one static member is down; the member comes back in its place
/// (KIP-345: no rebalance, the old assignment kept, the leader told to skip assigning). The
/// count it reads before joining is already the new one: the note in the old assignment, the
/// count that assignment was made over, is what it compares the topic with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_restarted_in_its_static_place_after_the_topic_grew_assigns_the_new_partitions() {
    let broker = Broker::memory().await;
    let admin = client(&broker.addr).await;
    create_topic(&admin, "regrows", 1).await;
    let (before, mut events) = GroupMember::start(kafka_client(&broker.addr), pod_0("regrows"));
    let Some(GroupEvent::Assigned { partitions, .. }) = next(&mut events).await else {
        panic!("no first assignment");
    };
    assert_eq!(partitions, vec![0]);
    // A static member leaves no LeaveGroup behind: the group keeps its place.
    before.stop(Duration::from_secs(5)).await;
    drop(events);

    make_again(&admin, "regrows", 3).await;
    let (after, mut events) = GroupMember::start(kafka_client(&broker.addr), pod_0("regrows"));
    let Some(GroupEvent::Assigned { partitions, .. }) = next(&mut events).await else {
        panic!("no assignment after the restart");
    };
    assert_eq!(partitions, vec![0], "the old assignment, kept");
    assert_eq!(two_added(&mut events).await, vec![1, 2]);
    after.stop(Duration::from_secs(5)).await;
}
