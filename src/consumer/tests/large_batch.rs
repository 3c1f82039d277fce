//! A fetched batch of more records than one transaction applies commits in parts, and the
//! partition loop goes on through every part before it fetches again.
use super::*;
use std::sync::atomic::AtomicUsize;

use crate::{consumer::process::MAX_RECORDS_PER_TRANSACTION, store::StoreExt};

/// One answer of `n` records from offset 0 (their batches end at `n`), then nothing.
struct Large {
    n: i64,
    /// Fetches from an offset inside the answer's records, after its first.
    inside: AtomicUsize,
}

impl PartitionSource for Large {
    fn fetch(&self, offset: i64, _: i32, _: i32) -> BoxFuture<'_, Result<Fetched, SourceError>> {
        Box::pin(async move {
            if offset > 0 && offset < self.n {
                self.inside.fetch_add(1, Ordering::SeqCst);
            }
            if offset < self.n {
                let records = (offset..self.n).map(|o| rec(o, &format!("r{o}"))).collect();
                return Ok(answer(records, Some(self.n), self.n));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(answer(Vec::new(), None, self.n))
        })
    }

    fn offset(&self, _: OffsetQuery) -> BoxFuture<'_, Result<i64, SourceError>> {
        Box::pin(async { Ok(0) })
    }
}

#[tokio::test]
async fn a_batch_past_the_transaction_bound_is_handled_whole_from_one_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn crate::store::Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    let ctx = context(&store, Arc::new(crate::consumer::NoopHandler));
    let n = MAX_RECORDS_PER_TRANSACTION as i64 * 2 + 3;
    let source = Arc::new(Large {
        n,
        inside: AtomicUsize::new(0),
    });
    let done = |ctx: &Context| ctx.metrics.handled.get() == n as u64;
    run_until(&ctx, source.clone(), partition::Start::default(), done).await;
    let stored = store
        .read_with(|txn| crate::consumer::process::stored_offset(txn, "t", 0))
        .unwrap();
    assert_eq!(stored, Some(n));
    // Not fetched again from where a part of the batch ended.
    assert_eq!(source.inside.load(Ordering::SeqCst), 0);
}

/// Stops the partition (as a SIGTERM or a revocation does) once it has handled `after`
/// records.
struct StopAfter {
    after: usize,
    seen: AtomicUsize,
    cancel: CancellationToken,
}

impl RecordHandler for StopAfter {
    fn handle(
        &self,
        _: &FetchedRecord,
        _: &dyn crate::store::ReadTxn,
    ) -> Result<crate::consumer::Effects, crate::consumer::RecordError> {
        if self.seen.fetch_add(1, Ordering::SeqCst) + 1 == self.after {
            self.cancel.cancel();
        }
        Ok(crate::consumer::Effects::default())
    }
}

#[tokio::test]
async fn a_stop_during_a_large_batch_ends_after_the_part_in_hand() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn crate::store::Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    let cancel = CancellationToken::new();
    let handler = Arc::new(StopAfter {
        after: 10,
        seen: AtomicUsize::new(0),
        cancel: cancel.clone(),
    });
    let ctx = context(&store, handler);
    let n = MAX_RECORDS_PER_TRANSACTION as i64 * 3;
    let source = Arc::new(Large {
        n,
        inside: AtomicUsize::new(0),
    });
    let task = tokio::spawn(run(
        Arc::clone(&ctx),
        source,
        0,
        partition::Start::default(),
        cancel,
    ));
    tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("the partition stops")
        .unwrap();
    let stored = store
        .read_with(|txn| crate::consumer::process::stored_offset(txn, "t", 0))
        .unwrap();
    // The part the stop came in is committed whole; the parts after it are left for the next
    // owner, which goes on from the stored offset.
    assert_eq!(stored, Some(MAX_RECORDS_PER_TRANSACTION as i64));
}
