//! Consumer groups on a real Nisshi broker, beyond one kind of member: two instances of the
//! service and a librdkafka consumer share a topic; a static member (KIP-345) restarts without
//! a rebalance; a member survives a broker restart. Each prints how long its rebalances took.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use testkit::group::{
    assert_applied_once, owned, peer_output, roundrobin_member, start, wait_split,
};
use testkit::{Broker, client, create_topic, eventually, http::http, produce_events};

/// Two of ours and one librdkafka consumer, all offering `roundrobin` (Nisshi 0.8.1 settles a
/// group on its first member's first protocol, so ours offer only that): every partition has
/// exactly one owner, and every record is handled exactly once across the three.
///
/// The migration order (finding 4 of the integrity issue): ours handle the first records of
/// every partition, the other client joins, handles and commits two partitions and leaves. Ours
/// then start those from the group's committed offset, which is ahead of their stores': before,
/// they started from their stores' and handled again all that the other member had handled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_another_client_in_the_group_handled_is_not_handled_again_when_its_partitions_return()
{
    const PARTITIONS: i32 = 6;
    let broker = Broker::memory().await;
    create_topic(&*client(&broker.addr).await, "user.events", PARTITIONS).await;
    let (d0, d1) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let roundrobin = |c: &mut usercenter::config::Config| {
        c.consumer.assignors = vec!["roundrobin".to_owned()];
    };
    let joined = std::time::Instant::now();
    let (s0, m0) = testkit::start_service(&broker.addr, d0.path(), roundrobin).await;
    let (s1, m1) = testkit::start_service(&broker.addr, d1.path(), roundrobin).await;
    eventually(Duration::from_secs(40), "ours split the partitions", || {
        owned(&m0).len() + owned(&m1).len() == PARTITIONS as usize
    })
    .await;
    eprintln!(
        "join -> first fetch of every partition (two members): {:.2} s",
        joined.elapsed().as_secs_f64()
    );
    // Ours handle the first records of every partition: their stores hold offsets for all six.
    let mut ids = produce_events(&broker.addr, 0..120).await;
    eventually(
        Duration::from_secs(30),
        "ours handled the first records",
        || m0.handled.get() + m1.handled.get() >= 120,
    )
    .await;
    let peer = roundrobin_member(&broker.addr, "35", &["--commit"]);
    let peer_joined = std::time::Instant::now();
    eventually(Duration::from_secs(20), "the peer took its share", || {
        let (a, b) = (owned(&m0), owned(&m1));
        a.len() == 2 && b.len() == 2 && a.is_disjoint(&b)
    })
    .await;
    eprintln!(
        "librdkafka join -> ours run their new shares: {:.2} s",
        peer_joined.elapsed().as_secs_f64()
    );
    ids.extend(produce_events(&broker.addr, 120..600).await);
    // Ours have handled every record of their four partitions (the first records ever written).
    let (ours0, ours1) = (owned(&m0), owned(&m1));
    let kafka = client(&broker.addr).await;
    let mut on_ours = 0;
    for &p in ours0.union(&ours1) {
        on_ours += testkit::read_partition(&kafka, "user.events", p)
            .await
            .len() as u64;
    }
    eventually(
        Duration::from_secs(30),
        "ours handled every record of their partitions",
        || m0.handled.get() + m1.handled.get() >= on_ours,
    )
    .await;
    assert_eq!(
        (owned(&m0), owned(&m1)),
        (ours0.clone(), ours1.clone()),
        "ours kept their shares while the peer was in the group"
    );
    let (g0, g1) = (m0.generation.get(), m1.generation.get());

    let seen = tokio::task::spawn_blocking(move || peer_output(peer))
        .await
        .unwrap();
    let theirs: BTreeSet<i32> = serde_json::from_value(seen["assignment"].clone()).unwrap();
    assert_eq!(g0, g1, "ours in one generation");
    for (a, b) in [(&ours0, &ours1), (&ours0, &theirs), (&ours1, &theirs)] {
        assert!(
            a.is_disjoint(b),
            "ours {ours0:?} {ours1:?}, librdkafka {theirs:?}"
        );
    }
    let all: BTreeSet<i32> = ours0.iter().chain(&ours1).chain(&theirs).copied().collect();
    assert_eq!(all, (0..PARTITIONS).collect(), "every partition owned");
    assert_eq!(theirs.len(), 2, "librdkafka got its share: {theirs:?}");

    // The peer committed what it read and left: ours take its partitions from there, and
    // handle nothing again.
    eventually(
        Duration::from_secs(20),
        "ours took the peer's partitions",
        || owned(&m0).len() + owned(&m1).len() == PARTITIONS as usize,
    )
    .await;
    // And caught up: every partition fetched to its log end (nothing is produced any more, so
    // each lag comes from a fetch that saw every record). Had ours started the peer's
    // partitions anywhere before its commits, they have handled those records again by now.
    eventually(
        Duration::from_secs(30),
        "ours at the log end of every partition",
        || {
            let lags: Vec<i64> = [&m0, &m1]
                .iter()
                .flat_map(|m| m.lag().into_values())
                .collect();
            lags.len() == PARTITIONS as usize && lags.iter().all(|l| *l == 0)
        },
    )
    .await;
    s1.stop().await;
    s0.stop().await;
    let peer_ids: Vec<uuid::Uuid> = seen["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().parse().unwrap())
        .collect();
    let (c0, c1) = (
        testkit::applied_counts(d0.path(), &ids),
        testkit::applied_counts(d1.path(), &ids),
    );
    let not_once: Vec<_> = ids
        .iter()
        .zip(c0.iter().zip(&c1))
        .map(|(id, (a, b))| {
            (
                id,
                a + b + peer_ids.iter().filter(|p| *p == id).count() as u32,
            )
        })
        .filter(|(_, n)| *n != 1)
        .collect();
    assert!(
        not_once.is_empty(),
        "{} events handled other than once overall, the first: {:?}",
        not_once.len(),
        &not_once[..not_once.len().min(5)]
    );
    assert!(!peer_ids.is_empty() && m0.handled.get() > 0 && m1.handled.get() > 0);
}

/// KIP-345: a static member that restarts within the session timeout takes its earlier
/// instance's place (Nisshi: "replaced static member without a rebalance") and gets its
/// partitions back; the other member sees no rebalance: same generation, no revocation. First
/// the follower restarts, then the leader (the first to join), whom Nisshi tells to skip the
/// assignment (JoinGroup v9).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_static_member_gets_its_partitions_back_without_a_rebalance() {
    let broker = Broker::memory().await;
    create_topic(&*client(&broker.addr).await, "user.events", 4).await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let names = ["pod-0", "pod-1"];
    // The coordinator keeps a static member's place for a session after it stops: the restart
    // must come within it. 30 s rather than the default 10 s, so that a restart slowed by a
    // loaded machine still does.
    let instance = |i: usize| {
        move |c: &mut usercenter::config::Config| {
            c.consumer.group_instance_id = Some(names[i].to_owned());
            c.consumer.session_timeout_ms = 30_000;
        }
    };
    let (s0, m0) = testkit::start_service(&broker.addr, dirs[0].path(), instance(0)).await;
    let (s1, m1) = testkit::start_service(&broker.addr, dirs[1].path(), instance(1)).await;
    wait_split(&m0, &m1, 2).await;
    let (mut services, mut metrics) = ([Some(s0), Some(s1)], [m0, m1]);
    let mut ids = Vec::new();
    let mut handled_before = 0;
    for (round, restart) in [1, 0].into_iter().enumerate() {
        let other = Arc::clone(&metrics[1 - restart]);
        let from = 200 * round as u64;
        ids.extend(produce_events(&broker.addr, from..from + 200).await);
        eventually(Duration::from_secs(30), "the events handled", || {
            handled_before + metrics[0].handled.get() + metrics[1].handled.get() == from + 200
        })
        .await;
        let (generation, rebalances, kept) = (
            other.generation.get(),
            other.rebalances.get(),
            owned(&other),
        );
        let theirs = owned(&metrics[restart]);
        handled_before += metrics[restart].handled.get();

        // A static member sends no LeaveGroup: the coordinator keeps its place for a session.
        services[restart].take().unwrap().stop().await;
        let restarted = std::time::Instant::now();
        let (s, m) =
            testkit::start_service(&broker.addr, dirs[restart].path(), instance(restart)).await;
        // Its own partitions back, whatever the time (printed, not asserted; 60 s only catches
        // a hang); that no rebalance happened is checked below.
        eventually(
            Duration::from_secs(60),
            "the restarted member runs its partitions",
            || owned(&m) == theirs,
        )
        .await;
        println!(
            "static member {} restart -> first fetch of its partitions: {:.2} s",
            names[restart],
            restarted.elapsed().as_secs_f64()
        );
        (services[restart], metrics[restart]) = (Some(s), m);
        // Beyond the other member's next heartbeat: a rebalance would have reached it by now.
        tokio::time::sleep(Duration::from_secs(4)).await;
        let what = names[1 - restart];
        assert_eq!(
            other.generation.get(),
            generation,
            "{what}'s generation moved"
        );
        assert_eq!(other.rebalances.get(), rebalances, "{what} rebalanced");
        assert_eq!(owned(&other), kept, "{what}'s partitions changed");
        assert_eq!(metrics[restart].generation.get(), generation);
    }
    ids.extend(produce_events(&broker.addr, 400..500).await);
    eventually(Duration::from_secs(30), "500 handled", || {
        handled_before + metrics[0].handled.get() + metrics[1].handled.get() == 500
    })
    .await;
    for s in services.into_iter().flatten() {
        s.stop().await;
    }
    assert_applied_once(dirs[0].path(), dirs[1].path(), &ids);
}

/// The broker (sqlite storage) restarts under a member: it finds the coordinator again,
/// rejoins if the group forgot it, and goes on consuming; nothing is lost or applied twice.
/// `/metrics` shows the group's generation, assignment and time in rebalance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_survives_a_broker_restart() {
    let storage = tempfile::tempdir().unwrap();
    let mut broker = Broker::sqlite(&storage.path().join("broker.db")).await;
    create_topic(&*client(&broker.addr).await, "user.events", 4).await;
    let d0 = tempfile::tempdir().unwrap();
    let (s0, m0) = start(&broker.addr, d0.path()).await;
    eventually(
        Duration::from_secs(40),
        "the member runs every partition",
        || owned(&m0).len() == 4,
    )
    .await;
    let mut ids = produce_events(&broker.addr, 0..200).await;
    eventually(Duration::from_secs(30), "200 handled", || {
        m0.handled.get() == 200
    })
    .await;

    // Down for longer than a heartbeat interval, so the member's heartbeat and fetches fail
    // and it must find the coordinator again.
    let restarted = std::time::Instant::now();
    broker.stop();
    tokio::time::sleep(Duration::from_secs(4)).await;
    broker.restart().await;
    eprintln!(
        "broker down and back (kill, 4 s, start, ready): {:.2} s",
        restarted.elapsed().as_secs_f64()
    );
    ids.extend(produce_events(&broker.addr, 200..400).await);
    eventually(
        Duration::from_secs(45),
        "400 handled after the restart",
        || m0.handled.get() == 400,
    )
    .await;
    eprintln!(
        "broker restart -> the later events handled: {:.2} s (rebalances {}, generation {})",
        restarted.elapsed().as_secs_f64(),
        m0.rebalances.get(),
        m0.generation.get()
    );
    assert!(m0.generation.get() >= 0 && m0.assigned_partitions.get() == 4);

    let (status, text) = http(s0.local_addr(), "GET", "/metrics").await;
    assert_eq!(status, 200);
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
    };
    let rebalances = value("usercenter_consumer_group_rebalance_duration_seconds_count");
    let seconds = value("usercenter_consumer_group_rebalance_duration_seconds_sum");
    eprintln!("time in rebalance: {seconds:.2} s over {rebalances} rebalances");
    assert!(rebalances >= 1.0 && rebalances == value("usercenter_consumer_rebalances_total"));
    assert!(seconds > 0.0);
    assert_eq!(value("usercenter_consumer_assigned_partitions"), 4.0);
    s0.stop().await;
    let counts = testkit::applied_counts(d0.path(), &ids);
    assert!(
        counts.iter().all(|c| *c == 1),
        "some event applied other than once"
    );
}
