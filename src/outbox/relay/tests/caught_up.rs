//! A relay that read every committed row: it reads again when woken for rows committed since,
//! not once or twice more after each round.
use super::*;

/// A store that counts its reads.
#[derive(Debug)]
struct CountedReads {
    inner: Arc<dyn Store>,
    reads: std::sync::atomic::AtomicU64,
}

impl Store for CountedReads {
    fn read(
        &self,
        f: &mut dyn FnMut(&dyn crate::store::ReadTxn) -> crate::store::Result<()>,
    ) -> crate::store::Result<()> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.read(f)
    }

    fn write(
        &self,
        f: &mut dyn FnMut(&mut dyn crate::store::WriteTxn) -> crate::store::Result<()>,
    ) -> crate::store::Result<()> {
        self.inner.write(f)
    }

    fn relay_lease(&self) -> crate::store::Result<Option<RelayLease>> {
        self.inner.relay_lease()
    }

    fn relay_lease_shared(&self) -> bool {
        self.inner.relay_lease_shared()
    }
}

/// A relay that read every committed row reads again when it is woken for more, not once or
/// twice more after each round to find nothing: one read per burst of rows (and one per idle
/// pause that ran out).
#[tokio::test]
async fn a_relay_that_caught_up_reads_again_only_when_woken() {
    let (_dir, inner) = store();
    let counted = Arc::new(CountedReads {
        inner: Arc::clone(&inner),
        reads: Default::default(),
    });
    let store: Arc<dyn Store> = Arc::clone(&counted) as _;
    let broker = Arc::new(MockBroker::new(1));
    let wake = Arc::new(Notify::new());
    let cancel = CancellationToken::new();
    let started = std::time::Instant::now();
    let mut values = Vec::new();
    let mut relay = None;
    for burst in 1..=3u8 {
        let rows = [vec![burst, 1], vec![burst, 2]];
        append_rows(&inner, &rows);
        values.extend(rows);
        if relay.is_none() {
            let producer = Producer::new(Arc::clone(&broker) as _, ProducerConfig::default());
            relay = Some(tokio::spawn(run(
                Arc::clone(&store),
                producer,
                Arc::clone(&wake),
                cancel.clone(),
            )));
        } else {
            wake.notify_one();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while backlog(&inner) > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "burst {burst} not relayed"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let idle_pauses = started.elapsed().as_millis() / IDLE.as_millis();
        let reads = counted.reads.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            u128::from(reads) <= u128::from(burst) + idle_pauses,
            "{reads} reads for {burst} bursts ({idle_pauses} idle pauses ran out)"
        );
    }
    cancel.cancel();
    if let Some(relay) = relay {
        relay.await.unwrap();
    }
    assert_eq!(broker.values(0), values);
}
