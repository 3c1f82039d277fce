//! A batch we cannot read that the broker counts as more offsets than our reading of it (Nisshi
//! reads an old-format message as a v2 batch header says): the partition steps over the
//! offsets the broker gives it, rather than asking from the offset after it for good.
use std::sync::atomic::AtomicUsize;

use bytes::Bytes;

use super::*;
use crate::kafka::records::Unreadable;

/// Readable records at offsets 0..5, the batch at 5 that the broker counts as `[5, 5 + n)`
/// and we read as `[5, 5]`, then readable records up to the high watermark `5 + n + 3`.
struct Miscounted {
    n: i64,
    /// Fetches from the offsets inside the batch, after its first.
    probes: AtomicUsize,
}

impl Miscounted {
    fn end(&self) -> i64 {
        5 + self.n + 3
    }

    fn batch() -> Unreadable {
        Unreadable {
            base_offset: 5,
            last_offset: 5,
            error: "an old-format message".into(),
            raw: Bytes::from_static(b"magic 1, counted as a v2 header says"),
        }
    }

    fn records(from: i64, to: i64) -> Vec<FetchedRecord> {
        (from..to).map(|o| rec(o, &format!("r{o}"))).collect()
    }
}

impl PartitionSource for Miscounted {
    fn fetch(&self, offset: i64, _: i32, _: i32) -> BoxFuture<'_, Result<Fetched, SourceError>> {
        Box::pin(async move {
            let end = self.end();
            let batch_end = 5 + self.n;
            let mut fetched = answer(Vec::new(), None, end);
            if offset < 5 {
                fetched.records = Self::records(offset, 5);
                fetched.next_offset = Some(5);
                fetched.unreadable = Some(Self::batch());
            } else if offset < batch_end {
                if offset > 5 {
                    self.probes.fetch_add(1, Ordering::Relaxed);
                }
                fetched.unreadable = Some(Self::batch());
            } else if offset < end {
                fetched.records = Self::records(offset, end);
                fetched.next_offset = Some(end);
            } else {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(fetched)
        })
    }

    fn offset(&self, _: OffsetQuery) -> BoxFuture<'_, Result<i64, SourceError>> {
        Box::pin(async { Ok(0) })
    }
}

/// Accepts every record.
struct Accepting;

impl RecordHandler for Accepting {
    fn handle(&self, _: &FetchedRecord, _: &dyn ReadTxn) -> Result<Effects, RecordError> {
        Ok(Effects::default())
    }
}

#[tokio::test]
async fn offsets_the_broker_counts_in_a_batch_we_read_as_shorter_are_stepped_over() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn crate::store::Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    let ctx = context(&store, Arc::new(Accepting));
    let source = Arc::new(Miscounted {
        n: 1_000,
        probes: AtomicUsize::new(0),
    });
    let end = source.end();
    let dyn_source: Arc<dyn PartitionSource> = Arc::clone(&source) as _;
    run_until(&ctx, dyn_source, partition::Start::default(), |ctx| {
        let mut stored = None;
        (ctx.store)
            .read(&mut |txn| {
                stored = process::stored_offset(txn, "t", 0)?;
                Ok(())
            })
            .unwrap();
        stored == Some(end)
    })
    .await;
    let metrics = &ctx.metrics;
    assert_eq!(
        metrics.handled.get(),
        5 + 3,
        "the records on both sides of the batch"
    );
    assert_eq!(metrics.dead_letters.get(), 1, "the batch, once");
    // Offsets 6..1005 are the batch's: about two fetches per bit of 1,000, not one per offset.
    let probes = source.probes.load(Ordering::Relaxed);
    assert!(
        (10..=24).contains(&probes),
        "{probes} fetches inside the batch"
    );
}
