//! Publishes outbox rows through the producer and deletes them once acknowledged.
use std::{sync::Arc, time::Duration};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::{OutboxRecord, pending};
use crate::{
    producer::{Producer, ProducerRecord},
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
        let mut rows = Vec::new();
        if let Err(error) = store.read(&mut |txn| {
            rows = pending(txn, from, ROUND)?;
            Ok(())
        }) {
            warn!(%error, "outbox: cannot read pending rows");
        }
        if rows.is_empty() {
            from = 0; // rows left behind by a failed round are found again from the start
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(IDLE) => {}
                () = cancel.cancelled() => {}
            }
            continue;
        }
        let (delivered, failed) = publish(&producer, rows).await;
        if !delivered.is_empty() {
            let result = store.write(&mut |txn| {
                for seq in &delivered {
                    txn.delete(Table::Outbox, &seq.to_be_bytes())?;
                }
                Ok(())
            });
            if let Err(error) = result {
                warn!(%error, "outbox: cannot delete published rows; they will be published again");
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
            None => from = delivered.last().map_or(from, |s| s + 1),
        }
    }
}

/// Enqueues every row, then waits for each; returns the sequences delivered and the first that
/// failed.
async fn publish(producer: &Producer, rows: Vec<(u64, OutboxRecord)>) -> (Vec<u64>, Option<u64>) {
    let mut reports = Vec::with_capacity(rows.len());
    let mut failed = None;
    for (seq, row) in rows {
        let record = ProducerRecord {
            topic: row.topic,
            key: row.key,
            value: row.value,
            headers: row.headers,
            timestamp: chrono::DateTime::from_timestamp_millis(row.created_ms),
        };
        match producer.send_later(record).await {
            Ok(report) => reports.push((seq, report)),
            Err(error) => {
                warn!(%error, seq, "outbox: record not accepted by the producer");
                failed = Some(seq);
                break;
            }
        }
    }
    let mut delivered = Vec::with_capacity(reports.len());
    for (seq, report) in reports {
        match report.await {
            Ok(_) => delivered.push(seq),
            Err(error) => {
                debug!(%error, seq, "outbox: record not delivered, will retry");
                failed = Some(failed.map_or(seq, |f: u64| f.min(seq)));
            }
        }
    }
    (delivered, failed)
}
