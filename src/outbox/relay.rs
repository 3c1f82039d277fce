//! Publishes outbox rows through the producer and deletes them once acknowledged.
use std::{sync::Arc, time::Duration};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

use super::{OutboxRecord, pending};
use crate::{
    producer::{ProduceError, Producer, ProducerRecord},
    store::{Store, Table},
};

/// Rows read and published per round.
const ROUND: usize = 1_000;
/// How long an idle relay sleeps when nobody wakes it.
const IDLE: Duration = Duration::from_millis(500);
/// Pause after a round in which a record failed.
const FAILED_PAUSE: Duration = Duration::from_secs(1);

/// Runs until `cancel` fires; a round in progress is finished first. Wake it through `wake`
/// after committing outbox rows, so they go out without waiting for the idle timer.
pub async fn run(
    store: Arc<dyn Store>,
    producer: Producer,
    wake: Arc<Notify>,
    cancel: CancellationToken,
) {
    let mut from = 0u64;
    while !cancel.is_cancelled() {
        let reader = Arc::clone(&store);
        let read = tokio::task::spawn_blocking(move || {
            let mut rows = Vec::new();
            reader
                .read(&mut |txn| {
                    rows = pending(txn, from, ROUND)?;
                    Ok(())
                })
                .map(|()| rows)
        })
        .await;
        let rows = match read {
            Ok(Ok(rows)) => rows,
            Ok(Err(error)) => {
                warn!(%error, "outbox: cannot read pending rows");
                Vec::new()
            }
            Err(error) => {
                warn!(%error, "outbox: read task failed");
                Vec::new()
            }
        };
        if rows.is_empty() {
            from = 0; // rows left behind by a failed round are found again from the start
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(IDLE) => {}
                () = cancel.cancelled() => {}
            }
            continue;
        }
        let Round {
            delivered,
            parked,
            failed,
        } = publish(&producer, rows).await;
        let last_done = delivered
            .iter()
            .chain(parked.iter().map(|(s, _)| s))
            .max()
            .copied();
        if !delivered.is_empty() || !parked.is_empty() {
            let writer = Arc::clone(&store);
            let done = delivered.clone();
            let result = tokio::task::spawn_blocking(move || {
                writer.write(&mut |txn| {
                    for seq in &done {
                        txn.delete(Table::Outbox, &seq.to_be_bytes())?;
                    }
                    // Rows that can never be published leave the queue for the parked table,
                    // where an operator can see them, so they do not block what follows.
                    for (seq, row) in &parked {
                        crate::store::put(txn, Table::Parked, &seq.to_be_bytes(), row)?;
                        txn.delete(Table::Outbox, &seq.to_be_bytes())?;
                    }
                    Ok(())
                })
            })
            .await;
            match result {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    warn!(%error, "outbox: cannot delete published rows; they will be published again")
                }
                Err(error) => warn!(%error, "outbox: delete task failed"),
            }
        }
        match failed {
            Some(seq) => {
                from = seq;
                tokio::select! {
                    () = tokio::time::sleep(FAILED_PAUSE) => {}
                    () = cancel.cancelled() => {}
                }
            }
            None => from = last_done.map_or(from, |s| s + 1),
        }
    }
}

/// What a round did.
struct Round {
    /// Acknowledged rows.
    delivered: Vec<u64>,
    /// Rows the producer can never publish (too large, invalid), with their contents.
    parked: Vec<(u64, OutboxRecord)>,
    /// The first row that failed for a reason that may pass (the broker is down).
    failed: Option<u64>,
}

/// Whether an error will never pass, however often the row is tried.
fn permanent(error: &ProduceError) -> bool {
    matches!(
        error,
        ProduceError::RecordTooLarge { .. } | ProduceError::InvalidRecord(_)
    )
}

/// Enqueues every row, then waits for each.
async fn publish(producer: &Producer, rows: Vec<(u64, OutboxRecord)>) -> Round {
    let mut reports = Vec::with_capacity(rows.len());
    let mut round = Round {
        delivered: Vec::new(),
        parked: Vec::new(),
        failed: None,
    };
    for (seq, row) in rows {
        let record = ProducerRecord {
            topic: row.topic.clone(),
            key: row.key.clone(),
            value: row.value.clone(),
            headers: row.headers.clone(),
            timestamp: chrono::DateTime::from_timestamp_millis(row.created_ms),
        };
        match producer.send_later(record).await {
            Ok(report) => reports.push((seq, row, report)),
            Err(error) if permanent(&error) => {
                error!(%error, seq, topic = %row.topic, "outbox: row can never be published; parked");
                round.parked.push((seq, row));
            }
            Err(error) => {
                warn!(%error, seq, "outbox: record not accepted by the producer");
                round.failed = Some(seq);
                break;
            }
        }
    }
    for (seq, row, report) in reports {
        match report.await {
            Ok(_) => round.delivered.push(seq),
            Err(error) if permanent(&error) => {
                error!(%error, seq, topic = %row.topic, "outbox: row can never be published; parked");
                round.parked.push((seq, row));
            }
            Err(error) => {
                debug!(%error, seq, "outbox: record not delivered, will retry");
                round.failed = Some(round.failed.map_or(seq, |f| f.min(seq)));
            }
        }
    }
    round
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rskafka::{client::error::Error as ClientError, record::Record};

    use super::*;
    use crate::{
        outbox::append,
        producer::{BoxFuture, Codec, Identity, ProducerConfig, Transport},
        store::RedbStore,
    };

    /// A broker that takes everything.
    struct Accepting(parking_lot::Mutex<Vec<Vec<u8>>>);

    impl Transport for Accepting {
        fn partition_count<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<usize, String>> {
            Box::pin(async { Ok(1) })
        }

        fn produce<'a>(
            &'a self,
            _: &'a str,
            _: i32,
            records: Vec<Record>,
            _: Codec,
        ) -> BoxFuture<'a, Result<Vec<i64>, ClientError>> {
            Box::pin(async move {
                let mut log = self.0.lock();
                let base = log.len() as i64;
                log.extend(records.into_iter().map(|r| r.value.unwrap_or_default()));
                Ok((base..log.len() as i64).collect())
            })
        }
    }

    fn row(value: Vec<u8>) -> OutboxRecord {
        OutboxRecord {
            topic: "t".into(),
            key: None,
            value,
            headers: BTreeMap::new(),
            created_ms: 1,
        }
    }

    #[tokio::test]
    async fn a_row_that_can_never_go_out_is_parked_and_the_rest_are_published() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
        store
            .write(&mut |txn| {
                append(txn, &row(b"before".to_vec()))?;
                append(txn, &row(vec![0; 2 << 20]))?; // over max.message.bytes for ever
                append(txn, &row(b"after".to_vec()))?;
                Ok(())
            })
            .unwrap();
        let broker = Arc::new(Accepting(parking_lot::Mutex::new(Vec::new())));
        let producer = Producer::new(
            Arc::clone(&broker) as Arc<dyn Transport>,
            Arc::new(Identity::ephemeral(1)),
            ProducerConfig::default(),
        );
        let cancel = CancellationToken::new();
        let relay = tokio::spawn(run(
            Arc::clone(&store),
            producer,
            Arc::new(Notify::new()),
            cancel.clone(),
        ));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let mut left = (0, 0);
            store
                .read(&mut |txn| {
                    left = (txn.count(Table::Outbox)?, txn.count(Table::Parked)?);
                    Ok(())
                })
                .unwrap();
            if left == (0, 1) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "outbox, parked = {left:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        cancel.cancel();
        relay.await.unwrap();
        assert_eq!(
            *broker.0.lock(),
            vec![b"before".to_vec(), b"after".to_vec()]
        );
    }
}
