//! The relay's cursor between rounds (`Relay::from`) and the delete behind it: a round moves
//! the cursor past the rows it delivered; an empty round waits for the last delete before the
//! cursor starts again from the oldest row; a row the broker refuses for good once it was
//! handed over is parked.
use std::sync::atomic::Ordering;

use super::{
    lease::{Leased, backlog, lease, relay_over},
    *,
};

fn held() -> RelayLease {
    lease(1, Duration::from_secs(3_600)).unwrap()
}

#[tokio::test]
async fn a_round_moves_the_cursor_past_the_rows_it_delivered() {
    let (_dir, store) = store();
    append_rows(&store, &[b"0".to_vec(), b"1".to_vec(), b"2".to_vec()]);
    let broker = Arc::new(MockBroker::new(1));
    let mut relay = relay_over(&store, &broker);
    // The round is handed over (its reports are not awaited yet: the next round could follow
    // it on the wire). It read every row there is: the next read waits for the relay's wake.
    assert_eq!(relay.round(held(), None).await, Pause::CaughtUp);
    assert_eq!(
        relay.from, 3,
        "the next round reads from the row after the last one"
    );
    // No next round: the one handed over settles.
    relay.oldest_settled().await;
    assert_eq!(relay.round(held(), None).await, Pause::None);
    assert_eq!(relay.from, 3);
    // Nothing more: the round is idle, and the cursor starts again from the oldest row (rows
    // a failed delete left behind are found again).
    assert_eq!(relay.round(held(), None).await, Pause::Idle);
    assert_eq!(relay.from, 0);
    assert_eq!(backlog(&store), 0);
    assert_eq!(broker.values(0).len(), 3, "each row once");
}

/// The delete of delivered rows runs while the next round reads; a round that finds nothing
/// waits for it before moving the cursor back to the oldest row, which would read those rows
/// again and publish them twice.
#[tokio::test]
async fn an_empty_round_waits_for_the_last_delete_before_starting_again_from_the_oldest_row() {
    let (_dir, inner) = store();
    append_rows(&inner, &[b"0".to_vec(), b"1".to_vec()]);
    let leased = Leased::new(&inner, Some(held()));
    let store: Arc<dyn Store> = Arc::clone(&leased) as _;
    let broker = Arc::new(MockBroker::new(1));
    let mut relay = relay_over(&store, &broker);
    leased.hold_writes.store(true, Ordering::SeqCst);
    // Handed over, then settled (no row after them): delivered, their delete started.
    assert_eq!(relay.round(held(), None).await, Pause::CaughtUp);
    relay.oldest_settled().await;
    assert_eq!(relay.round(held(), None).await, Pause::None);
    assert_eq!(broker.values(0).len(), 2);
    // The delivered rows' delete waits; the next round finds no row after them.
    let next = tokio::spawn(async move {
        let pause = relay.round(held(), None).await;
        (relay, pause)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !next.is_finished(),
        "the round moved on before the delete committed"
    );
    assert_eq!(backlog(&inner), 2);
    leased.hold_writes.store(false, Ordering::SeqCst);
    let (relay, pause) = next.await.unwrap();
    assert_eq!((pause, relay.from), (Pause::Idle, 0));
    assert_eq!(backlog(&inner), 0, "deleted before the cursor restarted");
}

/// A row the producer accepted and the broker then refuses for good (over the broker's message
/// size, however it is split) is parked like one refused at once, and the rows behind it go out.
#[tokio::test]
async fn a_row_the_broker_refuses_for_good_after_accepting_it_is_parked() {
    let (_dir, store) = store();
    append_rows(
        &store,
        &[b"before".to_vec(), vec![7; 5_000], b"after".to_vec()],
    );
    let broker = Arc::new(MockBroker {
        broker_limit: 2_000,
        ..MockBroker::new(1)
    });
    assert_eq!(relay_all(&store, &broker).await, 1);
    assert_eq!(
        broker.values(0),
        vec![b"before".to_vec(), b"after".to_vec()]
    );
}
