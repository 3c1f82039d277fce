//! One fetched batch of a partition, applied until all of it committed: each attempt in one
//! store transaction on the blocking pool, behind the fence check; a failing handler backed off
//! and, after `handler_attempts`, given up on (its record dead-lettered).
use std::{sync::Arc, time::Duration};

use tokio::time::Instant;
use tracing::{debug, warn};

use super::{FetchedBatch, PartitionLoop, RETRY, pause};
use crate::{
    consumer::{
        fence::{self, FenceError},
        handler::{HandlerError, NEWER_RELEASE_PATIENCE, NEWER_RELEASE_PAUSE},
        process::{BatchInput, BatchOutcome, READ_AHEAD, apply_batch, offset_key, read_ahead},
    },
    logging::{FailureStreak, say_failure, say_recovery},
    store::{StoreError, StoreExt, Table},
};

/// How long after an event of a newer release waited out its patience the next ones are
/// dead-lettered at once ([`PartitionLoop::newer_release`]).
const NEWER_RELEASE_GIVEN_UP_FOR: Duration = Duration::from_secs(3_600);

/// The longest pause between a failing handler's attempts, however many
/// `consumer.handler_attempts` allows: the partition waits behind it.
const MAX_HANDLER_PAUSE: Duration = Duration::from_secs(60);

/// Why a batch did not commit (it is applied again either way).
#[derive(Debug, thiserror::Error)]
enum BatchError {
    /// The store transaction failed.
    #[error("store transaction: {0}")]
    Store(#[from] StoreError),
    /// The blocking task applying the batch panicked or was cancelled.
    #[error("pass task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The partition was claimed by another owner since ours: stop.
    #[error(transparent)]
    Fenced(#[from] fence::Fenced),
}

impl From<FenceError> for BatchError {
    fn from(e: FenceError) -> Self {
        match e {
            FenceError::Fenced(f) => Self::Fenced(f),
            FenceError::Store(s) => Self::Store(s),
        }
    }
}

/// A record to give up on (dead-letter with the error) in the next transaction. How often a
/// record failed, and since when, is the context's ([`super::held::HeldRecords`]).
#[derive(Default)]
struct HandlerFailures {
    give_up: Option<(i64, String)>,
}

impl PartitionLoop {
    /// Handles one fetched batch, from `offset` on, of batches that end at `ends`; returns the
    /// next offset (`ends` once all of it is committed). Keeps at it (retries, dead letters)
    /// until the whole batch is committed or shutdown begins (after the part of it in hand);
    /// `None` when the partition is fenced.
    pub(super) async fn handle_batch(
        &self,
        batch: Arc<FetchedBatch>,
        mut offset: i64,
        ends: i64,
    ) -> Option<i64> {
        let started = std::time::Instant::now();
        let mut failures = HandlerFailures::default();
        // Passes failed in a row (the store down): said rate-limited.
        let mut failing = FailureStreak::default();
        let partition = self.partition;
        loop {
            let attempt = self.commit_batch(&batch, offset, ends, failures.give_up.take());
            let outcome = match attempt.await {
                Ok(outcome) => outcome,
                Err(BatchError::Fenced(fenced)) => {
                    warn!(%fenced, "consumer: partition claimed by a newer owner, stopping it");
                    return None;
                }
                Err(error) => {
                    say_failure!(failing, partition, %error, "consumer: pass failed, retrying the batch");
                    if !pause(RETRY, &self.cancel).await {
                        return Some(offset);
                    }
                    continue;
                }
            };
            say_recovery!(failing, partition, "consumer: passes commit again");
            self.count(&outcome);
            offset = outcome.next_offset;
            self.ctx.held.committed(self.partition, offset);
            if outcome.more {
                // Stopping (shutdown, revocation): the parts committed so far stand, and the
                // rest waits for the next owner, which goes on from the stored offset. A fetch
                // may hold hundreds of thousands of small records, too many to finish on the way
                // out.
                if self.cancel.is_cancelled() {
                    return Some(offset);
                }
                continue;
            }
            let Some((failed_at, error)) = outcome.failed else {
                let seconds = started.elapsed().as_secs_f64();
                self.ctx.metrics.batch_seconds.observe(seconds);
                return Some(offset);
            };
            if !self.handler_failed(&mut failures, failed_at, error).await {
                return Some(offset);
            }
        }
    }

    /// Counts what a committed batch did, logs its dead letters and wakes the relay for its
    /// outbox rows.
    fn count(&self, outcome: &BatchOutcome) {
        let (ctx, m) = (&self.ctx, &self.ctx.metrics);
        m.handled.add(outcome.handled);
        m.duplicates.add(outcome.duplicates);
        m.dead_letters.add(outcome.dead);
        for (at, reason) in &outcome.dead_letters {
            ctx.dead_log.log(&ctx.topic, self.partition, *at, reason);
        }
        if outcome.outbox_rows > 0 {
            ctx.outbox_wake.notify_one();
        }
    }

    /// The handler failed on the record at `failed_at`: after `handler_attempts` in a row,
    /// give up on it (the next transaction dead-letters it), else back off. False when
    /// shutdown began during the backoff.
    async fn handler_failed(
        &self,
        failures: &mut HandlerFailures,
        failed_at: i64,
        error: HandlerError,
    ) -> bool {
        let (config, partition) = (&self.ctx.config, self.partition);
        self.ctx.metrics.handler_failures.add(1);
        let (attempts, since) = self.ctx.held.failed(partition, failed_at);
        if let HandlerError::NewerRelease(_) = error {
            return self
                .newer_release(failures, (failed_at, attempts, since), error)
                .await;
        }
        if attempts >= config.handler_attempts {
            warn!(partition, offset = failed_at, %error, attempts, "consumer: handler gave up, dead-lettering");
            failures.give_up = Some((
                failed_at,
                format!("handler failed {attempts} times: {error}"),
            ));
            return true;
        }
        let backoff = Duration::from_millis(config.handler_backoff_ms)
            .saturating_mul(2u32.saturating_pow(attempts - 1))
            .min(MAX_HANDLER_PAUSE);
        debug!(partition, offset = failed_at, %error, attempts, ?backoff, "consumer: handler failed, retrying");
        pause(backoff, &self.cancel).await
    }

    /// The record at `failed_at` is the next release's ([`HandlerError::NewerRelease`]), tried
    /// `attempts` times since `since`: the partition waits for an upgraded instance to take it, trying again every
    /// [`NEWER_RELEASE_PAUSE`], and gives up on it after [`NEWER_RELEASE_PATIENCE`]. Once one
    /// has waited that long, no upgraded instance is coming: for [`NEWER_RELEASE_GIVEN_UP_FOR`]
    /// the loop gives up on the next ones at once, so the patience bounds the partition's wait,
    /// not each record's; a later upgrade (a canary rolled back, then a real rollout) waits
    /// again. False when shutdown began during the pause.
    async fn newer_release(
        &self,
        failures: &mut HandlerFailures,
        (failed_at, attempts, since): (i64, u32, Instant),
        error: HandlerError,
    ) -> bool {
        let partition = self.partition;
        let waited = since.elapsed();
        let lately = |at: &Instant| at.elapsed() < NEWER_RELEASE_GIVEN_UP_FOR;
        if self
            .ctx
            .held
            .newer_waited_out(partition)
            .as_ref()
            .is_some_and(lately)
        {
            debug!(partition, offset = failed_at, %error, "consumer: dead-lettering another event of a newer release at once");
            failures.give_up = Some((failed_at, format!("no upgraded instance came: {error}")));
            return true;
        }
        if waited >= NEWER_RELEASE_PATIENCE {
            self.ctx.held.note_newer_waited_out(partition);
            warn!(partition, offset = failed_at, %error, ?waited, "consumer: no upgraded instance took the partition, dead-lettering the newer release's event");
            failures.give_up = Some((failed_at, format!("waited {} s: {error}", waited.as_secs())));
            return true;
        }
        // Said at the first try and every 30th (5 minutes).
        if attempts % 30 == 1 {
            warn!(partition, offset = failed_at, %error, patience = ?NEWER_RELEASE_PATIENCE, "consumer: an event of a newer release; the partition waits for an upgraded instance to take it (upgrade this one)");
        }
        pause(NEWER_RELEASE_PAUSE, &self.cancel).await
    }

    /// Applies the batch in a store transaction, on the blocking pool (the store does disk I/O
    /// and fsync), after the fence check in the same transaction; at snapshot isolation
    /// ([`crate::store::Store::write_at_snapshot`] says why that is safe for a batch).
    async fn commit_batch(
        &self,
        batch: &Arc<FetchedBatch>,
        offset: i64,
        ends: i64,
        give_up: Option<(i64, String)>,
    ) -> Result<BatchOutcome, BatchError> {
        let (ctx, batch) = (Arc::clone(&self.ctx), Arc::clone(batch));
        let (partition, claim) = (self.partition, self.claim);
        tokio::task::spawn_blocking(move || {
            let input = BatchInput {
                topic: &ctx.topic,
                partition,
                next_offset: offset,
                ends,
                dlq_topic: &ctx.config.dlq_topic,
                give_up,
                unreadable: batch.unreadable.as_ref(),
                now_ms: chrono::Utc::now().timestamp_millis(),
                handler_seconds: Some(&ctx.metrics.handler_seconds),
                producer_id: ctx.producer_id,
            };
            let fence = fence::key(&ctx.topic, partition);
            let stored = offset_key(&ctx.topic, partition);
            let records = &batch.records;
            let first = &records[..records.len().min(READ_AHEAD)];
            ctx.store.write_at_snapshot_with(|txn| {
                // The fence, the stored offset and what the first records' handling reads, in
                // one round trip.
                read_ahead(
                    &*txn,
                    &*ctx.handler,
                    first,
                    offset,
                    &[(Table::Meta, &fence), (Table::Offsets, &stored)],
                )?;
                fence::check(txn, &ctx.topic, partition, claim)?;
                Ok::<_, BatchError>(apply_batch(txn, &*ctx.handler, records, &input)?)
            })
        })
        .await?
    }
}
