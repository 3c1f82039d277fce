//! A partition task fenced by `usercenter group reset-offsets` (an instance started while the
//! reset ran) starts again from the offset the reset stored, instead of committing its old
//! position over it or stopping for good.
use super::*;
use crate::{
    consumer::fence,
    store::{StoreExt, Table},
};

/// What the reset's store write does (`ops::store_side::set_offsets`): the offset, and the
/// operator's claim, in one transaction.
fn reset_to(store: &dyn crate::store::Store, offset: i64) {
    store
        .write_with(|txn| {
            process::put_offset(txn, "t", 0, offset)?;
            fence::claim(txn, "t", 0, fence::OPERATOR).map(|_| ())
        })
        .unwrap();
}

#[tokio::test]
async fn a_loop_fenced_by_a_reset_starts_again_from_the_reset_offset() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn crate::store::Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    let ctx = context(&store, Arc::new(NoopHandler));
    // Records at 0..3000, three to a fetch: a loop from 0 asks for multiples of 3 only.
    let log = Arc::new(Log::new(0, 3_000));
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run(
        Arc::clone(&ctx),
        Arc::new(Arc::clone(&log)),
        0,
        partition::Start::default(),
        cancel.clone(),
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while ctx.metrics.handled.get() < 30 {
        assert!(std::time::Instant::now() < deadline, "loop stuck");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The reset moves the partition back to 4 while the loop runs.
    reset_to(&*store, 4);
    while log.asked(4) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the loop never read from the reset offset: {:?}",
            log.fetches()
        );
        assert!(!task.is_finished(), "the loop stopped for good");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // It claimed the partition again, under the claim it began with (static mode's).
    let claim = store
        .read_with(|txn| fence::current(txn, "t", 0))
        .unwrap()
        .unwrap();
    assert_eq!(claim.generation, -1);
    // Nothing of the old position was committed over the reset: the store's offset moves on
    // from 4, not from where the loop was.
    let handled_at_reset = ctx.metrics.handled.get();
    while ctx.metrics.handled.get() < handled_at_reset + 30 {
        assert!(
            std::time::Instant::now() < deadline,
            "loop stuck after the reset"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cancel.cancel();
    task.await.unwrap();
    let stored: i64 = store
        .read_with(|txn| crate::store::get(txn, Table::Offsets, &process::offset_key("t", 0)))
        .unwrap()
        .unwrap();
    let fetches = log.fetches();
    let restart = fetches.iter().position(|&o| o == 4).unwrap();
    assert!(
        fetches[restart..]
            .iter()
            .all(|&o| o >= 4 && (o - 4) % 3 == 0),
        "after the reset every fetch counts from 4: {fetches:?}"
    );
    assert!(stored >= 4 && (stored - 4) % 3 == 0, "stored {stored}");
}
