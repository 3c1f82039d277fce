//! The relay's store work on the blocking pool: reading rows, deleting published ones,
//! checking a shared lease (a store of one process answers on the relay's task); and stepping
//! aside when the outbox cannot be read. The lease lives on a connection of its own
//! (PostgreSQL), so a holder whose reads fail (its pool wedged or used up) would go on
//! renewing it while nobody relays: after [`STEP_ASIDE_AFTER`] of failed reads it stops
//! renewing for [`STEP_ASIDE_FOR`], and another instance takes the lease once its term ends.
use std::{sync::Arc, time::Duration};

use tokio::time::Instant;
use tracing::{error, warn};

use super::{Blocked, RoundOutcome, Scanned, read_unblocked};
use crate::{
    logging::{FailureStreak, say_failure, say_recovery},
    store::{RelayLease, Store, StoreExt, Table, WriteTxn},
};

/// How long reads of the outbox may fail in a row before the holder steps aside: longer than
/// a database restart takes, as long as the lease's term.
const STEP_ASIDE_AFTER: Duration = Duration::from_secs(10);
/// How long a holder that stepped aside leaves the lease alone: longer than its term, so
/// that another instance can take it.
pub(super) const STEP_ASIDE_FOR: Duration = Duration::from_secs(30);

/// A read of pending rows on the blocking pool.
pub(super) type Reading = tokio::task::JoinHandle<crate::store::Result<Scanned>>;

/// Whether the outbox could be read lately.
#[derive(Debug, Default)]
pub(super) struct ReadHealth {
    /// When reads began to fail, while every read since failed.
    failing_since: Option<Instant>,
    /// The failures in a row, said rate-limited.
    said: FailureStreak,
}

impl ReadHealth {
    /// The rows `reading` (from `from`) read; none when the store could not be read (noted).
    pub(super) async fn rows(&mut self, reading: Reading, from: u64) -> Scanned {
        let failed = match reading.await {
            Ok(Ok(read)) => {
                self.failing_since = None;
                say_recovery!(self.said, "outbox: pending rows read again");
                return read;
            }
            Ok(Err(error)) => error.to_string(),
            Err(error) => format!("read task failed: {error}"),
        };
        say_failure!(self.said, error = %failed, "outbox: cannot read pending rows");
        self.failing_since.get_or_insert_with(Instant::now);
        Scanned::none(from)
    }

    /// Whether reads have failed for [`STEP_ASIDE_AFTER`]: then the lease goes unrenewed for
    /// [`STEP_ASIDE_FOR`] (and the count starts again).
    pub(super) fn step_aside(&mut self) -> bool {
        if self
            .failing_since
            .is_some_and(|since| since.elapsed() >= STEP_ASIDE_AFTER)
        {
            self.failing_since = None;
            return true;
        }
        false
    }
}

/// A delete of published rows committing on the blocking pool.
pub(super) type Deleting = tokio::task::JoinHandle<crate::store::Result<()>>;

/// Starts reading up to [`super::ROUND`] pending rows ([`super::ROUND_BYTES`]) from `from`,
/// passing over those that wait behind a row of their topic in `blocked`.
pub(super) fn start_read(store: &Arc<dyn Store>, from: u64, blocked: Blocked) -> Reading {
    let reader = Arc::clone(store);
    tokio::task::spawn_blocking(move || reader.read_with(|txn| read_unblocked(txn, from, &blocked)))
}

/// Starts deleting the rows `round` delivered and moving those it parked.
pub(super) fn start_delete(store: &Arc<dyn Store>, round: &RoundOutcome) -> Deleting {
    let writer = Arc::clone(store);
    let done: Vec<Vec<u8>> = round
        .delivered
        .iter()
        .map(|seq| seq.to_be_bytes().to_vec())
        .collect();
    let parked = round.parked.clone();
    // Only rows this relay delivered (or parked) are removed, by the holder or by one that
    // lost the lease since, and nothing it reads decides anything: no need for serializable
    // reads, which would make every writer appending behind the rows conflict with this
    // delete.
    tokio::task::spawn_blocking(move || {
        writer.write_at_snapshot(&mut |txn| {
            txn.delete_many(Table::Outbox, &done)?;
            // The round handed its copy of each to the producer.
            park(txn, &parked)
        })
    })
}

/// Waits for a delete started by a round; a failure only means the rows go out again.
pub(super) async fn finish(deleting: Option<Deleting>) {
    let Some(task) = deleting else { return };
    match task.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            warn!(%error, "outbox: cannot delete published rows; they will be published again")
        }
        Err(error) => warn!(%error, "outbox: delete task failed"),
    }
}

/// Moves the rows `seqs` names, which do not decode as a record, to the parked table as they
/// are stored, so that they hold up nothing behind them: a row whose key cannot be read holds
/// no partition. Each is said at ERROR; a failure leaves them to the next read.
pub(super) async fn park_undecodable(store: &Arc<dyn Store>, seqs: Vec<u64>) {
    if seqs.is_empty() {
        return;
    }
    error!(
        rows = seqs.len(),
        first = seqs[0],
        "outbox: rows that do not decode as a record can never be published; parked"
    );
    let store = Arc::clone(store);
    let parked =
        tokio::task::spawn_blocking(move || store.write(&mut |txn| park(txn, &seqs))).await;
    match parked {
        Ok(Ok(())) => {}
        Ok(Err(error)) => warn!(%error, "outbox: cannot park rows that do not decode"),
        Err(error) => warn!(%error, "outbox: park task failed"),
    }
}

/// Moves the rows `seqs` names out of the outbox to the parked table, as stored: rows that can
/// never be published, where an operator can see them, so they do not block what follows.
pub(super) fn park(txn: &mut dyn WriteTxn, seqs: &[u64]) -> crate::store::Result<()> {
    let keys: Vec<Vec<u8>> = seqs.iter().map(|seq| seq.to_be_bytes().to_vec()).collect();
    txn.move_rows(Table::Outbox, Table::Parked, &keys)?;
    Ok(())
}

/// Gives the lease up at a graceful stop; a failure only means the next holder waits for the
/// rest of its term.
pub(super) async fn release(store: &Arc<dyn Store>) {
    let store = Arc::clone(store);
    match tokio::task::spawn_blocking(move || store.release_relay_lease()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => warn!(%error, "outbox: cannot give the relay lease up"),
        Err(error) => warn!(%error, "outbox: lease task failed"),
    }
}

/// The lease when this instance holds it; an error counts as not held, and is said
/// rate-limited through `failing` (a database outage fails every idle round's check).
pub(super) async fn lease(
    store: &Arc<dyn Store>,
    failing: &parking_lot::Mutex<FailureStreak>,
) -> Option<RelayLease> {
    let asked = if store.relay_lease_shared() {
        let store = Arc::clone(store);
        tokio::task::spawn_blocking(move || store.relay_lease()).await
    } else {
        // A store of one process holds the lease for good and answers without I/O: no hop to
        // the blocking pool and back before every round.
        Ok(store.relay_lease())
    };
    let error = match asked {
        Ok(Ok(lease)) => {
            say_recovery!(failing.lock(), "outbox: the relay lease is checked again");
            return lease;
        }
        Ok(Err(error)) => error.to_string(),
        Err(error) => format!("lease task failed: {error}"),
    };
    say_failure!(failing.lock(), %error, "outbox: cannot check the relay lease");
    None
}

#[cfg(test)]
mod tests;
