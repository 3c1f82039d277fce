//! Partitions added to the topic get an owner while the group is stable. Nisshi has no
//! CreatePartitions, so the topic is deleted and created again with more partitions, which a
//! member sees the same way: the topic's partition count in a Metadata answer changed.

use std::time::Duration;

use testkit::{Broker, client, create_topic, protocol::kafka_client};
use tokio::sync::mpsc;
use usercenter::kafka::group::{GroupEvent, GroupMember, MemberConfig, assign};

/// The next event, within 20 s (`None`: the member task ended).
async fn next(events: &mut mpsc::Receiver<GroupEvent>) -> Option<GroupEvent> {
    tokio::time::timeout(Duration::from_secs(20), events.recv())
        .await
        .expect("an event, or the end, within 20 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_added_to_the_topic_are_assigned_without_a_restart() {
    let broker = Broker::memory().await;
    let admin = client(&broker.addr).await;
    create_topic(&admin, "grows", 1).await;
    let config = MemberConfig {
        group_id: "growing".into(),
        topic: "grows".into(),
        session_timeout: Duration::from_secs(6),
        rebalance_timeout: Duration::from_secs(10),
        heartbeat_interval: Duration::from_millis(300),
        assignors: vec![assign::by_name("cooperative-sticky").unwrap()],
        group_instance_id: Some("pod-0".into()),
        metadata_refresh: Duration::from_millis(300),
    };
    let (member, mut events) = GroupMember::start(kafka_client(&broker.addr), config);
    let Some(GroupEvent::Assigned { partitions, .. }) = next(&mut events).await else {
        panic!("no first assignment");
    };
    assert_eq!(partitions, vec![0]);

    let controller = admin.controller_client().unwrap();
    controller.delete_topic("grows", 10_000).await.unwrap();
    create_topic(&admin, "grows", 3).await;

    // The member sees the count change, joins again, and as the leader assigns the new
    // partitions (cooperative-sticky keeps partition 0 where it is).
    let mut added = Vec::new();
    while added.len() < 2 {
        match next(&mut events).await {
            Some(GroupEvent::Assigned { partitions, .. }) => added.extend(partitions),
            Some(GroupEvent::Revoked { done, .. } | GroupEvent::Lost { done, .. }) => {
                let _ = done.send(());
            }
            None => panic!("the member stopped"),
        }
    }
    added.sort_unstable();
    assert_eq!(added, vec![1, 2]);
    member.stop(Duration::from_secs(5)).await;
}
