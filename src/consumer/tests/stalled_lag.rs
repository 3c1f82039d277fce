//! The lag of a partition whose batch does not commit (a handler that keeps failing, the store
//! down, an event of a newer release waited on) counts the records fetched and waiting: it is
//! reported when a fetch answers, not only when a batch commits, so a lag alert sees a stall.
use super::*;

/// Fails every record.
struct AlwaysFails;

impl RecordHandler for AlwaysFails {
    fn handle(&self, _: &FetchedRecord, _: &dyn ReadTxn) -> Result<Effects, RecordError> {
        Err(RecordError::Failed(HandlerError::refused("not now")))
    }
}

#[tokio::test]
async fn a_stalled_batch_shows_in_the_lag() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn crate::store::Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    let mut ctx = context(&store, Arc::new(AlwaysFails));
    // Far more attempts than the test waits for: the batch stays in hand.
    Arc::get_mut(&mut ctx).unwrap().config.handler_attempts = 1_000;
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run(
        Arc::clone(&ctx),
        Arc::new(Source),
        0,
        partition::Start::default(),
        cancel.clone(),
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while ctx.metrics.handler_failures.get() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the handler never ran"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(ctx.metrics.handled.get(), 0, "nothing committed");
    assert_eq!(
        ctx.metrics.lag().get(&0),
        Some(&3),
        "the three records fetched and waiting"
    );
    cancel.cancel();
    task.await.unwrap();
}
