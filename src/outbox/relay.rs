//! Publishes outbox rows through the producer and deletes them once acknowledged.
//!
//! Only the holder of the relay lease publishes ([`Store::relay_lease`]). Nothing is published
//! past the lease's `until` (by this process's clock): a round hands no row to the producer
//! after it, and the producer writes no request after it ([`Producer::send_until`]), so a
//! holder that was frozen (SIGSTOP, a paused VM) and wakes after another instance took the
//! lease over stops instead of publishing beside it. A new epoch restarts the relay from the
//! oldest row.
use std::{sync::Arc, time::Duration};

use tokio::{sync::Notify, time::Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::{OutboxRecord, pending};
use crate::{
    producer::{ProduceError, Producer, ProducerRecord},
    store::{RelayLease, Store, Table},
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
    let mut relay = Relay {
        store,
        producer,
        from: 0,
        epoch: None,
        deleting: None,
    };
    while !cancel.is_cancelled() {
        let pause = match relay.lease().await {
            Some(lease) => relay.round(lease).await,
            None => Pause::NotHolder,
        };
        let wait = match pause {
            Pause::None => continue,
            Pause::Idle | Pause::NotHolder => tokio::time::sleep(IDLE),
            Pause::Failed => tokio::time::sleep(FAILED_PAUSE),
        };
        tokio::select! {
            () = wait => {}
            () = wake.notified(), if pause == Pause::Idle => {}
            () = cancel.cancelled() => {}
        }
    }
    finish(relay.deleting.take()).await;
}

/// The relay's state between rounds.
struct Relay {
    store: Arc<dyn Store>,
    producer: Producer,
    /// The outbox sequence the next round reads from. Rows below it were delivered (or
    /// parked) and are being deleted, or are deleted.
    from: u64,
    /// The epoch of the lease as last held; `None` while not held.
    epoch: Option<u64>,
    /// The delete (a durable store commit) of the last round's acknowledged rows, running
    /// while the next round reads and publishes: the rows after it do not wait for that
    /// fsync. `from` is already past them, so they are not read again meanwhile; a delete
    /// that fails leaves them to be published again once `from` restarts from 0 (at least
    /// once, as after a crash between the ack and the delete).
    deleting: Option<Deleting>,
}

/// What the loop waits for after a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pause {
    /// Nothing: go on with the next round.
    None,
    /// No rows: until woken or [`IDLE`].
    Idle,
    /// Another instance holds the lease: [`IDLE`], then ask again.
    NotHolder,
    /// A record failed: [`FAILED_PAUSE`].
    Failed,
}

impl Relay {
    /// The lease when held. A change of holder or epoch restarts from the oldest row, whatever
    /// this instance knew before.
    async fn lease(&mut self) -> Option<RelayLease> {
        let lease = lease(&self.store).await;
        // What the producer holds is written only while the lease lasts: nothing at all once
        // it is lost.
        let until = lease.map_or_else(Instant::now, |l| l.until);
        self.producer.send_until(Some(until));
        let epoch = lease.map(|l| l.epoch);
        if epoch != self.epoch {
            match epoch {
                Some(epoch) => info!(epoch, "outbox: relay lease taken"),
                None => info!("outbox: relay lease lost"),
            }
            self.epoch = epoch;
            finish(self.deleting.take()).await;
            self.from = 0;
        }
        lease
    }

    /// Reads up to [`ROUND`] rows from `from`, publishes them while `lease` lasts and starts
    /// deleting the delivered ones.
    async fn round(&mut self, lease: RelayLease) -> Pause {
        let rows = self.read().await;
        if rows.is_empty() {
            // Nothing to overlap it with: finish the delete before the cursor restarts.
            finish(self.deleting.take()).await;
            self.from = 0; // rows left behind by a failed round are found again from the start
            return Pause::Idle;
        }
        // This round starts at the first row not yet delivered: partitions held after a
        // failure may send again.
        self.producer.release_holds();
        let round = publish(&self.producer, rows, lease.until).await;
        let last_done = round.delivered.iter().chain(&round.parked).max().copied();
        // The delete of the previous round has had this round to commit; wait for it before
        // starting this one's, so at most one is in flight.
        finish(self.deleting.take()).await;
        self.delete(&round);
        let Some(seq) = round.failed else {
            self.from = last_done.map_or(self.from, |s| s + 1);
            return Pause::None;
        };
        // The cursor moves back to the failed row: rows after it that were delivered must be
        // gone before it reads them again.
        finish(self.deleting.take()).await;
        self.from = seq;
        match round.stopped {
            // The buffer was full (`on_buffer_full = "error"`): the round waited for what it
            // had buffered, so there is room again; go on from the row that did not fit. Or
            // the lease ran out: check it again at once.
            Some(Stop::BufferFull | Stop::LeaseEnded) => Pause::None,
            None => Pause::Failed,
        }
    }

    /// Up to [`ROUND`] pending rows from `from`; none when the store cannot be read.
    async fn read(&self) -> Vec<(u64, OutboxRecord)> {
        let reader = Arc::clone(&self.store);
        let from = self.from;
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
        match read {
            Ok(Ok(rows)) => rows,
            Ok(Err(error)) => {
                warn!(%error, "outbox: cannot read pending rows");
                Vec::new()
            }
            Err(error) => {
                warn!(%error, "outbox: read task failed");
                Vec::new()
            }
        }
    }

    /// Starts deleting the rows `round` delivered and moving those it parked.
    fn delete(&mut self, round: &Round) {
        if round.delivered.is_empty() && round.parked.is_empty() {
            return;
        }
        let writer = Arc::clone(&self.store);
        let (done, parked) = (round.delivered.clone(), round.parked.clone());
        self.deleting = Some(tokio::task::spawn_blocking(move || {
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

/// The lease when this instance holds it; an error counts as not held.
async fn lease(store: &Arc<dyn Store>) -> Option<RelayLease> {
    let store = Arc::clone(store);
    match tokio::task::spawn_blocking(move || store.relay_lease()).await {
        Ok(Ok(lease)) => lease,
        Ok(Err(error)) => {
            warn!(%error, "outbox: cannot check the relay lease");
            None
        }
        Err(error) => {
            warn!(%error, "outbox: lease task failed");
            None
        }
    }
}

/// Why a round stopped before its last row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// The producer's buffer was full.
    BufferFull,
    /// The lease's `until` passed.
    LeaseEnded,
}

/// What a round did.
struct Round {
    /// Acknowledged rows.
    delivered: Vec<u64>,
    /// Rows the producer can never publish (too large, no identity).
    parked: Vec<u64>,
    /// The first row that failed for a reason that may pass (the broker is down, the buffer
    /// was full, the lease ran out).
    failed: Option<u64>,
    /// The round stopped at `failed` before handing it to the producer.
    stopped: Option<Stop>,
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
/// No row is handed over once `until` (the lease's) has passed: the round ends there.
async fn publish(producer: &Producer, rows: Vec<(u64, OutboxRecord)>, until: Instant) -> Round {
    let mut reports = Vec::with_capacity(rows.len());
    let mut round = Round {
        delivered: Vec::new(),
        parked: Vec::new(),
        failed: None,
        stopped: None,
    };
    for (seq, row) in rows {
        if Instant::now() >= until {
            debug!(
                seq,
                "outbox: the relay lease may have ended; the round ends here"
            );
            round.failed = Some(seq);
            round.stopped = Some(Stop::LeaseEnded);
            break;
        }
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
                round.stopped = Some(Stop::BufferFull);
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
            Err(ProduceError::LeaseEnded) => {
                debug!(seq, "outbox: not sent, the relay lease may have ended");
                round.failed = Some(round.failed.map_or(seq, |f| f.min(seq)));
                round.stopped = Some(Stop::LeaseEnded);
            }
            Err(error) => {
                debug!(%error, seq, "outbox: record not delivered, will retry");
                round.failed = Some(round.failed.map_or(seq, |f| f.min(seq)));
                round.stopped = None;
            }
        }
    }
    round
}

#[cfg(test)]
mod tests;
