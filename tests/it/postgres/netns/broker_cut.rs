//! A group member cut off from the broker.
use super::*;

/// The two instances share the consumer group; the one in the namespace is cut off from the
/// broker under load for at least 20 s (longer than its session), and until it gives its
/// partitions up by itself (at most 60 s). The coordinator drops it and its partitions move to
/// the instance on the host, which catches up on them; healed, the cut-off one rejoins the
/// group in a new generation. The instance on the host holds the relay lease throughout, so
/// publishing goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_cut_off_from_the_broker_loses_its_partitions_and_nothing_is_lost_or_applied_twice()
 {
    let s = setup().await;
    let mut instances = s.start_instances(false).await;
    let all = f64::from(PARTITIONS);
    let deadline = Instant::now() + LIMIT;
    let (owned_before, generation_before) = loop {
        let inside = instances[INSIDE].metric(ASSIGNED).await.unwrap_or(0.0);
        let host = instances[HOST].metric(ASSIGNED).await.unwrap_or(0.0);
        let generation = instances[INSIDE].metric(GENERATION).await;
        if inside > 0.0 && host > 0.0 && inside + host == all {
            break (inside, generation.expect("the generation gauge"));
        }
        assert!(
            Instant::now() < deadline,
            "the two instances do not split the {PARTITIONS} partitions ({inside} and {host})\n{}",
            logs(&instances)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut load = Load::start(&instances).await;
    let usual_lag = s.usual_lag().await;

    s.netns.cut_broker();
    let cut = Instant::now();
    // When the host owned every partition, and when the cut-off instance let its own go.
    let (mut takeover, mut gave_up): (Option<Duration>, Option<Duration>) = (None, None);
    // Records not yet handled: the most, and when it was back to the usual after the takeover.
    let (mut unhandled_max, mut caught_up): (i64, Option<Duration>) = (0, None);
    while cut.elapsed() < BROKER_CUT
        || takeover.is_none()
        || (gave_up.is_none() && cut.elapsed() < BROKER_CUT_MAX)
    {
        assert!(
            cut.elapsed() < LIMIT,
            "the instance on the host did not take every partition within {LIMIT:?} of the cut\n{}",
            logs(&instances)
        );
        if takeover.is_none() && instances[HOST].metric(ASSIGNED).await == Some(all) {
            takeover = Some(cut.elapsed());
        }
        if gave_up.is_none() && instances[INSIDE].metric(ASSIGNED).await == Some(0.0) {
            gave_up = Some(cut.elapsed());
        }
        let unhandled = s.unhandled().await;
        unhandled_max = unhandled_max.max(unhandled);
        if takeover.is_some() && caught_up.is_none() && unhandled <= usual_lag {
            caught_up = Some(cut.elapsed());
        }
        load.pause().await;
    }
    let takeover = takeover.unwrap();
    s.netns.heal_broker();
    let (cut_for, healed, requests_at_heal) = load.healed(cut);
    // Healed, it rejoins: a new generation with partitions of its own.
    let rejoined = load
        .until(
            healed,
            "the healed instance to rejoin the group",
            &instances,
            async || {
                let generation = instances[INSIDE].metric(GENERATION).await.unwrap_or(-1.0);
                let owned = instances[INSIDE].metric(ASSIGNED).await.unwrap_or(0.0);
                generation > generation_before && owned > 0.0
            },
        )
        .await;
    instances[INSIDE].ready().await;

    let (v, load_time) = load.finish(&s, &instances).await;
    // Not before its session can have expired: its last heartbeat came at most one interval
    // (two, on a loaded machine) before the cut.
    let config = usercenter::config::ConsumerConfig::default();
    let session = Duration::from_millis(u64::from(config.session_timeout_ms));
    let heartbeat = Duration::from_millis(u64::from(config.heartbeat_interval_ms));
    assert!(
        takeover >= session - 2 * heartbeat,
        "the host took the partitions {takeover:?} after the cut, before the cut-off member's \
         session ({session:?}, heartbeat every {heartbeat:?}) can have expired"
    );
    let written = writer_turns(&s.db, &s.broker.addr).await;
    let fenced = instances[INSIDE]
        .log()
        .matches("claimed by a newer owner")
        .count();

    let after_cut = |d: Option<Duration>| {
        d.map_or("not within the cut".to_owned(), |d| {
            format!("{d:.1?} after the cut")
        })
    };
    println!(
        "pg_netns_broker_cut: {} in {load_time:.1?}, {requests_at_heal} of them by the heal; \
         ucns (owning {owned_before} of {PARTITIONS} partitions, generation {generation_before}) \
         cut off from the broker for {cut_for:.1?}: uchost owned every partition \
         {takeover:.2?} after the cut (session timeout {session:?}); ucns gave its own up {}; \
         unhandled records of user.events up to {unhandled_max} (usually {usual_lag}), back to \
         that {}; ucns rejoined {rejoined:.1?} after the heal ({fenced} commits refused by the \
         fence); {written}; 5xx of uchost: {:?}; longest time without a 2xx {:.1?}; {}",
        load.summary(),
        after_cut(gave_up),
        after_cut(caught_up),
        failures(&instances[HOST]),
        load.longest.0,
        summary(&v),
    );
}
