//! Publishes outbox rows through the producer and deletes them once acknowledged.
use std::{sync::Arc, time::Duration};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

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
    // A row that failed is retried from the next round on, in order: until then nothing
    // behind it on its partition may be sent (per-key order, invariant 5).
    producer.hold_after_failures();
    let mut from = 0u64;
    let mut holding = false;
    // The delete (a durable store commit) of the last round's acknowledged rows runs while
    // the next round reads and publishes: the rows after it do not wait for that fsync. The
    // read cursor `from` is already past them, so they are not read again meanwhile; a delete
    // that fails leaves them to be published again once the cursor restarts from 0 (at least
    // once, as after a crash between the ack and the delete).
    let mut deleting: Option<Deleting> = None;
    while !cancel.is_cancelled() {
        // Only the lease holder relays (several instances may share the store); one that has
        // just taken it over starts from the oldest row, whatever it knew before.
        let held = lease(&store).await;
        if held != holding {
            info!(
                held,
                "outbox: relay lease {}",
                if held { "taken" } else { "lost" }
            );
            holding = held;
            finish(deleting.take()).await;
            from = 0;
        }
        if !held {
            tokio::select! {
                () = tokio::time::sleep(IDLE) => {}
                () = cancel.cancelled() => {}
            }
            continue;
        }
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
            // Nothing to overlap it with: finish the delete before the cursor restarts.
            finish(deleting.take()).await;
            from = 0; // rows left behind by a failed round are found again from the start
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(IDLE) => {}
                () = cancel.cancelled() => {}
            }
            continue;
        }
        // This round starts at the first row not yet delivered: partitions held after a
        // failure may send again.
        producer.release_holds();
        let Round {
            delivered,
            parked,
            failed,
            full,
        } = publish(&producer, rows).await;
        let last_done = delivered.iter().chain(&parked).max().copied();
        // The delete of the previous round has had this round to commit; wait for it before
        // starting this one's, so at most one is in flight.
        finish(deleting.take()).await;
        if !delivered.is_empty() || !parked.is_empty() {
            let writer = Arc::clone(&store);
            let done = delivered.clone();
            deleting = Some(tokio::task::spawn_blocking(move || {
                writer.write(&mut |txn| {
                    for seq in &done {
                        txn.delete(Table::Outbox, &seq.to_be_bytes())?;
                    }
                    // Rows that can never be published leave the queue for the parked table,
                    // where an operator can see them, so they do not block what follows. They
                    // move as stored: the round handed its copy to the producer.
                    for seq in &parked {
                        let key = seq.to_be_bytes();
                        if let Some(row) = txn.get(Table::Outbox, &key)? {
                            txn.put(Table::Parked, &key, &row)?;
                            txn.delete(Table::Outbox, &key)?;
                        }
                    }
                    Ok(())
                })
            }));
        }
        if failed.is_some() {
            // The cursor moves back to the failed row: rows after it that were delivered must
            // be gone before it reads them again.
            finish(deleting.take()).await;
        }
        match failed {
            // The buffer was full (`on_buffer_full = "error"`): the round waited for what it
            // had buffered, so there is room again; go on from the row that did not fit.
            Some(seq) if full => from = seq,
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
    finish(deleting).await;
}

/// A delete of published rows committing on the blocking pool.
type Deleting = tokio::task::JoinHandle<crate::store::Result<()>>;

/// Waits for a delete started by a round; a failure only means the rows go out again.
async fn finish(deleting: Option<Deleting>) {
    let Some(task) = deleting else { return };
    match task.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            warn!(%error, "outbox: cannot delete published rows; they will be published again")
        }
        Err(error) => warn!(%error, "outbox: delete task failed"),
    }
}

/// Whether this instance holds the relay lease; an error counts as not held.
async fn lease(store: &Arc<dyn Store>) -> bool {
    let store = Arc::clone(store);
    match tokio::task::spawn_blocking(move || store.relay_lease()).await {
        Ok(Ok(held)) => held,
        Ok(Err(error)) => {
            warn!(%error, "outbox: cannot check the relay lease");
            false
        }
        Err(error) => {
            warn!(%error, "outbox: lease task failed");
            false
        }
    }
}

/// What a round did.
struct Round {
    /// Acknowledged rows.
    delivered: Vec<u64>,
    /// Rows the producer can never publish (too large, no identity).
    parked: Vec<u64>,
    /// The first row that failed for a reason that may pass (the broker is down, the buffer
    /// was full).
    failed: Option<u64>,
    /// The round stopped at `failed` because the producer's buffer was full.
    full: bool,
}

/// Whether an error will never pass, however often the row is tried.
fn permanent(error: &ProduceError) -> bool {
    matches!(
        error,
        ProduceError::RecordTooLarge { .. } | ProduceError::MissingIdentity { .. }
    )
}

/// Enqueues every row, then waits for each. A full buffer is handled as `producer.on_buffer_full`
/// says: `wait` waits for room inside `enqueue`; `error` ends the round at the row that did not
/// fit (counted in the producer's `buffer_full` errors), and the next round starts from it.
async fn publish(producer: &Producer, rows: Vec<(u64, OutboxRecord)>) -> Round {
    let mut reports = Vec::with_capacity(rows.len());
    let mut round = Round {
        delivered: Vec::new(),
        parked: Vec::new(),
        failed: None,
        full: false,
    };
    for (seq, row) in rows {
        // The row's fields move into the record: no copy of its bytes on the way.
        let record = ProducerRecord {
            topic: row.topic,
            key: row.key,
            value: row.value,
            headers: row.headers,
            timestamp: chrono::DateTime::from_timestamp_millis(row.created_ms),
        };
        match producer.enqueue(record).await {
            Ok(report) => reports.push((seq, report)),
            Err(ProduceError::BufferFull { capacity }) => {
                debug!(
                    seq,
                    capacity, "outbox: producer buffer full; the round ends here"
                );
                round.failed = Some(seq);
                round.full = true;
                break;
            }
            Err(error) if permanent(&error) => {
                error!(%error, seq, "outbox: row can never be published; parked");
                round.parked.push(seq);
            }
            Err(error) => {
                warn!(%error, seq, "outbox: record not accepted by the producer");
                round.failed = Some(seq);
                break;
            }
        }
    }
    // Nothing more joins this round's batches: send them now rather than after the linger.
    producer.send_buffered();
    for (seq, report) in reports {
        match report.await {
            Ok(_) => round.delivered.push(seq),
            Err(error) if permanent(&error) => {
                error!(%error, seq, "outbox: row can never be published; parked");
                round.parked.push(seq);
            }
            Err(error) => {
                debug!(%error, seq, "outbox: record not delivered, will retry");
                round.failed = Some(round.failed.map_or(seq, |f| f.min(seq)));
                round.full = false;
            }
        }
    }
    round
}

#[cfg(test)]
mod tests;
