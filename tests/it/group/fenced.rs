//! Two processes with one `group_instance_id` (a pod that froze and was replaced, or two
//! instances given the same name): the coordinator fences the older one, which gives its
//! partitions up and stops, as Kafka's clients treat FENCED_INSTANCE_ID as fatal, rather than
//! asking to join again every two seconds for as long as it runs.

use std::time::Duration;

use testkit::{Broker, client, create_topic, eventually, produce_events, protocol::kafka_client};
use tokio::sync::mpsc;
use usercenter::kafka::group::{GroupEvent, GroupMember, MemberConfig, assign};

fn member_config() -> MemberConfig {
    member_of("fencing", "t")
}

/// A static member `pod-0` of `group`, on `topic`.
pub(super) fn member_of(group: &str, topic: &str) -> MemberConfig {
    MemberConfig {
        group_id: group.into(),
        topic: topic.into(),
        session_timeout: Duration::from_secs(6),
        rebalance_timeout: Duration::from_secs(10),
        heartbeat_interval: Duration::from_millis(300),
        assignors: vec![assign::by_name("cooperative-sticky").unwrap()],
        group_instance_id: Some("pod-0".into()),
        metadata_refresh: Duration::from_secs(30),
    }
}

/// The next event, within 20 s (`None`: the member task ended).
pub(super) async fn next(events: &mut mpsc::Receiver<GroupEvent>) -> Option<GroupEvent> {
    tokio::time::timeout(Duration::from_secs(20), events.recv())
        .await
        .expect("an event, or the end, within 20 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_static_member_gives_its_partitions_up_and_stops() {
    let broker = Broker::memory().await;
    create_topic(&*client(&broker.addr).await, "t", 2).await;
    let (old, mut old_events) = GroupMember::start(kafka_client(&broker.addr), member_config());
    let Some(GroupEvent::Assigned { partitions, .. }) = next(&mut old_events).await else {
        panic!("no first assignment");
    };
    assert_eq!(partitions, vec![0, 1]);

    // The same instance id again: the coordinator hands the static member's partitions to the
    // newcomer and fences the old member id.
    let (new, mut new_events) = GroupMember::start(kafka_client(&broker.addr), member_config());
    let Some(GroupEvent::Assigned { partitions, .. }) = next(&mut new_events).await else {
        panic!("no assignment for the newcomer");
    };
    assert_eq!(partitions, vec![0, 1]);
    let new_id = new.membership().member_id;

    // The old member hears it at its next heartbeat: its partitions are lost, and it stops.
    let Some(GroupEvent::Lost { partitions, done }) = next(&mut old_events).await else {
        panic!("the old member neither gave its partitions up nor stopped");
    };
    assert_eq!(partitions, vec![0, 1]);
    let _ = done.send(());
    assert!(
        next(&mut old_events).await.is_none(),
        "the fenced member stops rather than joining again"
    );

    // The newcomer keeps the partitions and its member id.
    let quiet = tokio::time::timeout(Duration::from_secs(3), new_events.recv()).await;
    assert!(quiet.is_err(), "the newcomer was told {quiet:?}");
    assert_eq!(new.membership().member_id, new_id);
    old.stop(Duration::from_secs(5)).await;
    new.stop(Duration::from_secs(5)).await;
}

/// An offset commit the coordinator refuses as FENCED_INSTANCE_ID tells the member at once: it
/// heartbeats then rather than at its interval, hears it is fenced, and gives its partitions up,
/// as Kafka's consumer does on such a commit error, instead of consuming on for up to a
/// heartbeat interval in a place another process took.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_commit_tells_the_member_at_once() {
    // Heartbeats 10 s apart: the member would otherwise hear of the fence up to 10 s late.
    let slow = || MemberConfig {
        session_timeout: Duration::from_secs(30),
        rebalance_timeout: Duration::from_secs(20),
        heartbeat_interval: Duration::from_secs(10),
        ..member_config()
    };
    let broker = Broker::memory().await;
    create_topic(&*client(&broker.addr).await, "t", 2).await;
    let (old, mut old_events) = GroupMember::start(kafka_client(&broker.addr), slow());
    let Some(GroupEvent::Assigned { .. }) = next(&mut old_events).await else {
        panic!("no first assignment");
    };
    let (new, mut new_events) = GroupMember::start(kafka_client(&broker.addr), slow());
    let Some(GroupEvent::Assigned { .. }) = next(&mut new_events).await else {
        panic!("no assignment for the newcomer");
    };

    let refused = old.handle().commit(&[(0, 5)].into()).await;
    assert!(
        refused.is_err(),
        "the fenced member's commit was taken: {refused:?}"
    );
    let lost = tokio::time::timeout(Duration::from_secs(5), old_events.recv()).await;
    let Ok(Some(GroupEvent::Lost { partitions, done })) = lost else {
        panic!("no loss within 5 s of the refused commit (heartbeats are 10 s apart): {lost:?}");
    };
    assert_eq!(partitions, vec![0, 1]);
    let _ = done.send(());
    assert!(
        next(&mut old_events).await.is_none(),
        "the fenced member stops"
    );
    old.stop(Duration::from_secs(5)).await;
    new.stop(Duration::from_secs(5)).await;
}

/// Fenced at a rejoin rather than at a heartbeat: the newcomer takes our instance id while we
/// give our partitions up for a rebalance (eager), so the JoinGroup after the revocation is the
/// first request the coordinator refuses. The member stops there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_fenced_at_its_rejoin_stops() {
    // Heartbeats 10 s apart: none falls between the newcomer's join and our rejoin.
    let eager = |instance: Option<&str>| MemberConfig {
        session_timeout: Duration::from_secs(30),
        rebalance_timeout: Duration::from_secs(20),
        heartbeat_interval: Duration::from_secs(10),
        assignors: vec![assign::by_name("roundrobin").unwrap()],
        group_instance_id: instance.map(Into::into),
        ..member_config()
    };
    let broker = Broker::memory().await;
    create_topic(&*client(&broker.addr).await, "t", 2).await;
    let (old, mut old_events) =
        GroupMember::start(kafka_client(&broker.addr), eager(Some("pod-0")));
    let Some(GroupEvent::Assigned { partitions, .. }) = next(&mut old_events).await else {
        panic!("no first assignment");
    };
    assert_eq!(partitions, vec![0, 1]);

    // A dynamic member joins; the old member hears of the rebalance at its next heartbeat and,
    // eager, gives everything up before it rejoins. The revocation stays unacknowledged while
    // the newcomer joins as `pod-0` and takes the old member's place in the rebalance.
    let (dynamic, mut dynamic_events) = GroupMember::start(kafka_client(&broker.addr), eager(None));
    let Some(GroupEvent::Revoked {
        partitions, done, ..
    }) = next(&mut old_events).await
    else {
        panic!("the old member was not asked to give its partitions up");
    };
    assert_eq!(partitions, vec![0, 1]);
    let old_id = old.membership().member_id;
    let (new, mut new_events) =
        GroupMember::start(kafka_client(&broker.addr), eager(Some("pod-0")));
    // The coordinator has given `pod-0` to the newcomer before the old member rejoins. A static
    // member's id begins with its instance id, as Kafka's coordinator makes it (Nisshi's
    // DescribeGroups leaves the instance id out).
    let kafka = usercenter::config::KafkaConfig {
        brokers: vec![broker.addr.clone()],
        ..Default::default()
    };
    let admin = usercenter::ops::Admin::connect(&kafka, "fencing")
        .await
        .unwrap();
    let replaced = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let view = admin.describe().await.unwrap();
        if view
            .members
            .iter()
            .any(|m| m.id.starts_with("pod-0-") && m.id != old_id)
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < replaced,
            "pod-0 not replaced: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = done.send(());
    assert!(
        next(&mut old_events).await.is_none(),
        "the member fenced at its JoinGroup stops rather than joining again"
    );

    // The group goes on with the newcomer in the old member's place.
    for events in [&mut new_events, &mut dynamic_events] {
        let Some(GroupEvent::Assigned { partitions, .. }) = next(events).await else {
            panic!("no assignment after the fenced member stopped");
        };
        assert_eq!(
            partitions.len(),
            1,
            "one partition each, got {partitions:?}"
        );
    }
    for member in [old, new, dynamic] {
        member.stop(Duration::from_secs(5)).await;
    }
}

/// The service's consumer, fenced: it gives its partitions up and says so on `/metrics`, where
/// an alert can see it, while its HTTP front keeps answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_service_says_so_on_its_metrics() {
    let broker = Broker::memory().await;
    let data = tempfile::tempdir().unwrap();
    let (service, metrics) = testkit::start_service(&broker.addr, data.path(), |cfg| {
        cfg.topics.partitions = 2;
        cfg.consumer.group_instance_id = Some("pod-0".into());
        // No periodic commit within the test: those between the other process's join and
        // the heartbeat that tells us would be refused, and the test counts refusals.
        cfg.consumer.auto_commit_interval_ms = 600_000;
    })
    .await;
    eventually(Duration::from_secs(30), "the partitions assigned", || {
        metrics.assigned_partitions.get() == 2
    })
    .await;
    assert_eq!(metrics.member_stopped.get(), 0);
    assert!(metrics.generation.get() >= 0);
    // Records handled, so that the store has offsets the service could commit to the group.
    produce_events(&broker.addr, 0..20).await;
    eventually(Duration::from_secs(30), "20 handled", || {
        metrics.handled.get() == 20
    })
    .await;

    // Another process joins the service's group as `pod-0`.
    let (other, mut events) = GroupMember::start(
        kafka_client(&broker.addr),
        member_of("usercenter", "user.events"),
    );
    let Some(GroupEvent::Assigned { partitions, .. }) = next(&mut events).await else {
        panic!("no assignment for the other process");
    };
    assert_eq!(partitions, vec![0, 1]);
    eventually(
        Duration::from_secs(20),
        "the service's member stopped",
        || metrics.member_stopped.get() == 1,
    )
    .await;
    assert_eq!(metrics.assigned_partitions.get(), 0);
    assert_eq!(metrics.generation.get(), -1, "no generation once stopped");
    assert_eq!(
        metrics.group_commit_failures.get(),
        0,
        "lost partitions' offsets are not committed to a group that has moved on"
    );
    let (status, text) = testkit::http::http(service.local_addr(), "GET", "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        text.lines()
            .any(|l| l == "usercenter_consumer_group_member_stopped 1"),
        "the gauge on /metrics"
    );
    other.stop(Duration::from_secs(5)).await;
    service.stop().await;
}
