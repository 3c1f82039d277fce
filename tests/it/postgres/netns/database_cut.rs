//! The relay lease holder cut off from PostgreSQL.
use super::*;

/// The instance in the namespace holds the relay lease and is cut off from PostgreSQL for 15 s
/// under load (sent to the other instance). The lease expires and the instance on the host takes
/// it over; the cut-off one answers `/ready` again once healed. Its consumer, cut off too, keeps
/// its partitions (it still heartbeats): their records wait until the heal.
///
/// When the cut catches one of its transactions between drawing its outbox numbers and its
/// commit, every other outbox writer waits for the outbox lock until the server ends that
/// transaction or the connection comes back, the new holder's relay among them once the writers
/// hold its whole pool; its lease may then expire and go back to the healed instance. Hence the writer check counts turns against the lease's epoch instead of asserting
/// who holds it at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relay_holder_cut_off_from_postgres_loses_the_lease_and_nothing_is_lost_or_applied_twice()
{
    let s = setup().await;
    let mut instances = s.start_instances(true).await;
    let mut load = Load::start(&instances).await;
    let usual_lag = s.usual_lag().await;
    assert_eq!(
        lease_holder(&s.db).await.as_deref(),
        Some("ucns"),
        "the instance in the namespace holds the lease when it is cut off"
    );

    s.netns.cut_database();
    let cut = Instant::now();
    let (mut backlog_max, mut unhandled_max) = (0, 0);
    let mut takeover = None;
    // Whether the cut-off instance's /metrics answers (it reads the outbox backlog).
    let (mut asked, mut answered) = (0, 0);
    // The sessions waiting for a lock the cut-off instance holds (its connections are open, so
    // its transactions stay open on the server).
    let mut waits = Waits::default();
    while cut.elapsed() < DATABASE_CUT || takeover.is_none() {
        assert!(
            cut.elapsed() < LIMIT,
            "no takeover of the relay lease within {LIMIT:?} of the cut\n{}",
            logs(&instances)
        );
        backlog_max = backlog_max.max(count(&s.db, "outbox").await);
        unhandled_max = unhandled_max.max(s.unhandled().await);
        if takeover.is_none() && lease_holder(&s.db).await.as_deref() == Some("uchost") {
            takeover = Some(cut.elapsed());
        }
        waits.sample(&s.db, "ucns").await;
        if asked < 3 {
            asked += 1;
            let probe = instances[INSIDE].metric(ASSIGNED);
            if let Ok(Some(_)) = tokio::time::timeout(Duration::from_secs(1), probe).await {
                answered += 1;
            }
        }
        load.pause().await;
    }
    let takeover = takeover.unwrap();
    s.netns.heal_database();
    let (cut_for, healed, requests_at_heal) = load.healed(cut);
    instances[INSIDE].ready().await;
    let ready_again = healed.elapsed();
    // Its consumer catches up on the records its partitions got meanwhile.
    let caught_up = load
        .until(
            healed,
            "the consumers to catch up",
            &instances,
            async || s.unhandled().await <= usual_lag,
        )
        .await;

    let (v, load_time) = load.finish(&s, &instances).await;
    let written = writer_turns(&s.db, &s.broker.addr).await;
    let holder_at_end = lease_holder(&s.db).await.unwrap_or_default();

    let (stall, stall_from) = load.longest;
    println!(
        "pg_netns_database_cut: {} in {load_time:.1?}, {requests_at_heal} of them by the heal; \
         ucns (the relay lease holder) cut off from PostgreSQL for {cut_for:.1?}: lease taken \
         over by uchost {takeover:.2?} after the cut (outbox backlog up to {backlog_max}); \
         unhandled records of user.events up to {unhandled_max} (usually {usual_lag}), back to \
         that {caught_up:.1?} after the heal; ucns's /metrics answered {answered} of {asked} \
         times while cut off, /ready again {ready_again:.1?} after the heal; {written}, held by \
         {holder_at_end} at the end; ucns while cut off: {waits}; 5xx of uchost: {:?}; longest \
         time without a 2xx {stall:.1?}, from {:.1?} after the cut; {}",
        load.summary(),
        failures(&instances[HOST]),
        stall_from.saturating_duration_since(cut),
        summary(&v),
    );
}
