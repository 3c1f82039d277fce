//! The relay lease taken from a holder whose session the database ended while its process
//! lives on (src/pgstore/lease.rs): a restart or failover of the database ends every session,
//! and so does `pg_terminate_backend`. The row then names a backend gone from
//! `pg_stat_activity`, and the next instance to ask takes it at once. But the old holder still
//! relays until its lease's end by its own clock: the new holder relays only once the rest of
//! the old term, by the database's clock, has passed on its own clock. The holders here share
//! one process, so one monotonic clock, on which the old holder's end can be compared.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use super::{blocking, lease};

use testkit::{pg_serve::sql, postgres::Postgres};
use usercenter::{
    pgstore::{PgStore, lease::TERM},
    store::Store,
};

/// Ends the session of the lease's holder, as a restart of the database would.
async fn end_the_holders_session(db: &tokio_postgres::Client) {
    let ended: bool = db
        .query_one(
            "SELECT pg_terminate_backend(backend_pid) FROM relay_lease WHERE id = 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ended, "the holder's session was running");
    // Until its backend has left pg_stat_activity, the lease is not free.
    while db
        .query_one(
            "SELECT count(*) FROM pg_stat_activity a JOIN relay_lease l ON a.pid = l.backend_pid",
            &[],
        )
        .await
        .unwrap()
        .get::<_, i64>(0)
        > 0
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_taken_from_a_session_the_database_ended_is_relayed_under_only_after_the_old_term()
{
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let db = sql(&url).await;
    let old = Arc::new(PgStore::connect(&url, 1).await.unwrap());
    let new = Arc::new(PgStore::connect(&url, 1).await.unwrap());
    let held = lease(&old).await.expect("the first asker holds it");
    assert!(lease(&new).await.is_none(), "held by the other");

    end_the_holders_session(&db).await;
    let ended = Instant::now();
    let taken = loop {
        if let Some(lease) = lease(&new).await {
            break lease;
        }
        assert!(
            ended.elapsed() < TERM + Duration::from_secs(5),
            "never taken over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "taken over {:?} after the holder's session ended",
        ended.elapsed()
    );
    assert!(
        tokio::time::Instant::now() >= held.until,
        "the new holder relays while the old one may, by its own clock"
    );
    assert!(taken.epoch > held.epoch, "a hand-over bumps the epoch");
    // The row was the new holder's all along: the old one, asking again, does not get it.
    assert!(lease(&old).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_whose_session_the_database_ended_takes_its_lease_back_at_once() {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let db = sql(&url).await;
    let store = Arc::new(PgStore::connect(&url, 1).await.unwrap());
    let other = Arc::new(PgStore::connect(&url, 1).await.unwrap());
    let held = lease(&store).await.expect("the first asker holds it");

    end_the_holders_session(&db).await;
    let ended = Instant::now();
    let back = loop {
        // A check may fail on the connection the database closed, or (within RENEWED_FOR of
        // the last renewal, before the client noticed) still answer the old lease.
        if let Ok(Some(lease)) = blocking({
            let store = Arc::clone(&store);
            move || store.relay_lease()
        })
        .await
            && lease.epoch != held.epoch
        {
            break lease;
        }
        assert!(ended.elapsed() < TERM, "never taken back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        ended.elapsed() < TERM / 2,
        "its own former session's term is not waited out ({:?})",
        ended.elapsed()
    );
    assert!(back.epoch > held.epoch, "a new session, a new epoch");
    assert!(lease(&other).await.is_none(), "and nobody else holds it");
}

/// A holder that stops gracefully gives the lease up: the next instance relays under it at
/// once, even after the stopped holder's session is gone, rather than after the rest of its
/// term (a rolling restart would otherwise leave nobody relaying for about 10 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_given_up_at_a_graceful_stop_is_relayed_under_at_once() {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let old = Arc::new(PgStore::connect(&url, 1).await.unwrap());
    let new = Arc::new(PgStore::connect(&url, 1).await.unwrap());
    let held = lease(&old).await.expect("the first asker holds it");
    assert!(lease(&new).await.is_none(), "held by the other");
    blocking({
        let old = Arc::clone(&old);
        move || old.release_relay_lease().unwrap()
    })
    .await;
    drop(old);
    let given_up = Instant::now();
    let taken = loop {
        if let Some(lease) = lease(&new).await {
            break lease;
        }
        assert!(given_up.elapsed() < TERM, "never taken over");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        given_up.elapsed() < TERM / 2,
        "relayed under at once, not after the old term ({:?})",
        given_up.elapsed()
    );
    assert!(taken.epoch > held.epoch, "a hand-over bumps the epoch");
}
