//! The loop of one owned partition ([`PartitionLoop`]): claim its fence, fetch from the later
//! of the stored offset and the group's committed one (else `start`; see
//! [`start::start_offset`] for why), apply each batch in a store transaction that also checks
//! the fence ([`batch`]), retry failing handlers with backoff, dead-letter them after the
//! limit. A batch refused by the fence (someone claimed the partition since) stops the loop.
//!
//! The next fetch is read ahead while a batch is handled and committed (the commit runs on the
//! blocking pool, the fetch on the runtime), so the broker's round trip and our decoding overlap
//! the store's fsync instead of following it. It starts where the batch ends; were the batch to
//! end anywhere else (shutdown mid-batch), the read-ahead is dropped unused.
mod batch;
mod damaged;
mod empty_backoff;
pub(crate) mod held;
mod read_ahead;
mod start;
mod step_over;

use std::{ops::ControlFlow, sync::Arc, time::Duration};

use tokio::time::Instant;

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

pub(crate) use start::Start;

use super::{
    ConsumerConfig, ConsumerMetrics,
    fence::{self, Claim},
    handler::RecordHandler,
    source::{PartitionSource, SourceError},
};
use crate::{
    kafka::{
        protocol,
        records::{FetchedRecord, Unreadable},
    },
    logging::{FailureStreak, say_failure, say_recovery},
    store::Store,
};
use damaged::Damaged;
use empty_backoff::EmptyBackoff;
use read_ahead::{Handled, read_ahead_while_committing};
use start::{claim, keep_start, start_offset};

/// Everything a partition loop needs: the consumer's [`super::ConsumerParts`], and what its
/// partition loops share.
pub(crate) struct Context {
    /// The topic consumed.
    pub topic: String,
    /// `[consumer]`.
    pub config: ConsumerConfig,
    /// Where each batch commits.
    pub store: Arc<dyn Store>,
    /// What each record becomes.
    pub handler: Arc<dyn RecordHandler>,
    /// What the consumer counts.
    pub metrics: Arc<ConsumerMetrics>,
    /// Producer id stamped on outputs (see [`super::process::BatchInput::producer_id`]).
    pub producer_id: u64,
    /// Woken after a commit that wrote outbox rows.
    pub outbox_wake: Arc<tokio::sync::Notify>,
    /// The rate limit of the WARN line of each dead letter.
    pub dead_log: super::dead_log::DeadLetterLog,
    /// Each partition's failing record, across its loops.
    pub held: held::HeldRecords,
}

/// Pause after a failed fetch or store error.
pub(super) const RETRY: Duration = Duration::from_millis(500);
/// How long empty answers must keep finding the offset past the high watermark before it is
/// taken as out of range: a leader elected moments ago may answer a high watermark behind
/// what the old leader had, until its followers catch up, and Kafka answers such a fetch with
/// nothing rather than OFFSET_OUT_OF_RANGE. With one follower left, which is the old leader
/// (two replicas), that lasts until the new leader drops it from the in-sync replicas:
/// Kafka's `replica.lag.time.max.ms`, 30 s by default. Resetting then would read the
/// partition again from its start, so the patience is longer than that. A Kafka broker
/// answers an offset past its log end with OFFSET_OUT_OF_RANGE at once; Nisshi answers it with
/// nothing, so there (a topic deleted and created again) the reset waits this long.
pub(super) const PAST_END_PATIENCE: Duration = Duration::from_secs(45);
/// What a fetch gave: records (possibly some before the offset asked for), where its batches
/// end, and the partition's offsets.
type Fetched = Result<protocol::Fetched, SourceError>;

/// Runs the partition until `cancel` fires or a newer owner fences it. A batch in hand is
/// finished and committed first. Fenced by `usercenter group reset-offsets` (an instance
/// started while a reset ran: the reset claimed the partition when it set its offset), it
/// starts again from the offset the reset stored.
pub(crate) async fn run(
    ctx: Arc<Context>,
    source: Arc<dyn PartitionSource>,
    partition: i32,
    start: Start,
    cancel: CancellationToken,
) {
    let mut committed = start.committed;
    loop {
        run_once(&ctx, &source, partition, &start, committed, &cancel).await;
        // Not reset (`reset_by_operator` reads nothing once revoked), or revoked while the
        // claim was read: the partition is another member's now.
        if !reset_by_operator(&ctx, partition, &cancel).await || cancel.is_cancelled() {
            return;
        }
        warn!(topic = %ctx.topic, partition, "consumer: `group reset-offsets` set the partition's offset while it was consumed; starting again from that offset");
        // The group's offset given at the assignment predates the reset, which set the
        // group's and the store's together: the store's is the one to start from.
        committed = None;
    }
}

/// Claims the partition, finds its start and runs its loop until cancelled or fenced.
async fn run_once(
    ctx: &Arc<Context>,
    source: &Arc<dyn PartitionSource>,
    partition: i32,
    start: &Start,
    committed: Option<i64>,
    cancel: &CancellationToken,
) {
    let Some(claim) = claim(ctx, partition, start.generation, cancel).await else {
        return;
    };
    let Some(offset) = start_offset(ctx, &**source, partition, committed, cancel).await else {
        return;
    };
    if !keep_start(ctx, partition, claim, offset, cancel).await {
        return;
    }
    start.mark_started();
    info!(topic = %ctx.topic, partition, offset, claim = claim.token, generation = claim.generation, "consumer: partition started");
    let partition_loop = PartitionLoop {
        ctx: Arc::clone(ctx),
        source: Arc::clone(source),
        partition,
        claim,
        cancel: cancel.clone(),
        fetch_failing: parking_lot::Mutex::default(),
    };
    partition_loop.run(offset).await;
}

/// Whether the loop that ended was fenced by an operator's reset (the partition's claim is
/// [`fence::OPERATOR`]'s), asking the store until it answers; `false` when cancelled first.
async fn reset_by_operator(ctx: &Arc<Context>, partition: i32, cancel: &CancellationToken) -> bool {
    let read = move |c: &Context| fence::claimed_by_operator(&*c.store, &c.topic, partition);
    let failed = "cannot read the partition's claim";
    start::retrying(ctx, partition, failed, cancel, read)
        .await
        .unwrap_or(false)
}

/// One owned partition's loop, once its fence is claimed and its start offset found.
struct PartitionLoop {
    /// What every partition loop of the consumer shares.
    ctx: Arc<Context>,
    /// Where its records and log offsets come from.
    source: Arc<dyn PartitionSource>,
    /// The partition.
    partition: i32,
    /// Our claim on its fence, checked in every batch's transaction.
    claim: Claim,
    /// Stops the loop once the batch in hand is committed.
    cancel: CancellationToken,
    /// Fetches failed in a row, said rate-limited through an outage.
    fetch_failing: parking_lot::Mutex<FailureStreak>,
}

impl PartitionLoop {
    /// Fetches and applies batches from `offset` on, reading the next one ahead while a batch
    /// commits, until cancelled or fenced.
    async fn run(&self, mut offset: i64) {
        let (ctx, partition) = (&self.ctx, self.partition);
        let mut read_ahead = None;
        let mut empty = EmptyBackoff::new();
        let mut past_end = None;
        let mut stale_said = None;
        let mut damaged = Damaged::default();
        while !self.cancel.is_cancelled() {
            let fetched = match read_ahead.take() {
                Some(fetched) => fetched,
                None => tokio::select! {
                    r = self.fetch(offset) => r,
                    () = self.cancel.cancelled() => break,
                },
            };
            let fetched = damaged.check(offset, fetched);
            let mut fetched = match self.records_of(fetched, &mut offset, &mut past_end).await {
                ControlFlow::Continue(Some(fetched)) => fetched,
                ControlFlow::Continue(None) => continue,
                ControlFlow::Break(()) => return,
            };
            let high_watermark = fetched.high_watermark;
            // Reported now, not only once the batch commits: a batch that does not (a handler
            // that keeps failing, the store down, an event of a newer release waited on) shows
            // in the lag while it waits.
            ctx.metrics
                .set_lag(&ctx.topic, partition, high_watermark - offset);
            // Where the answer's batches end: past its records, and past batches that hold none
            // for us (transaction markers, an aborted transaction, a batch compaction emptied),
            // which the batch's transaction steps over too.
            // A batch that cannot be read ends the answer: it is one dead letter after the
            // records before it, and the partition goes on after it.
            let last = fetched.records.last().map(|r| r.offset + 1);
            let past_unreadable = fetched.unreadable.as_ref().map(Unreadable::next_offset);
            let mut ends =
                offset.max((last.max(fetched.next_offset).max(past_unreadable)).unwrap_or(offset));
            if ends == offset
                && let Some(past) = self.stepped_over(&mut fetched, offset).await
            {
                ends = past;
            }
            if ends > offset {
                empty = EmptyBackoff::new();
                let batch = FetchedBatch {
                    records: fetched.records,
                    unreadable: fetched.unreadable,
                };
                let Some(handled) = self
                    .apply_reading_ahead(batch, offset, ends, high_watermark)
                    .await
                else {
                    return;
                };
                offset = handled.next;
                read_ahead = handled.read_ahead;
            } else if let Some(bad) = &fetched.unreadable {
                // A batch that cannot be read and ends, as its writer numbered it, before the
                // offset the broker returned it for, and the broker did not say where it ends
                // ([`PartitionLoop::stepped_over`]): nothing moves. Said once per offset,
                // counted each time, asked again.
                ctx.metrics.fetch_failures.add(1);
                if stale_said != Some(offset) {
                    stale_said = Some(offset);
                    warn!(topic = %ctx.topic, partition, offset, base = bad.base_offset, last = bad.last_offset, error = %bad.error, "consumer: an unreadable batch ends before the offset asked for; asking again");
                }
                pause(RETRY, &self.cancel).await;
            } else if offset < fetched.last_stable_offset {
                // Nothing below what is readable: a record the broker does not return yet.
                // Ask again after a pause, longer each time the answer stays empty.
                pause(empty.next(), &self.cancel).await;
            }
            ctx.metrics
                .set_lag(&ctx.topic, partition, high_watermark - offset);
        }
        debug!(topic = %ctx.topic, partition, offset, "consumer: partition stopped");
    }

    /// Where the partition goes on when `fetched`, the answer for `offset`, is only a batch we
    /// cannot read that ends before `offset` as we read it: the first offset after it that
    /// the broker does not answer with that batch ([`step_over`]), with the batch taken out of
    /// `fetched` (it was dead-lettered where it begins). `None` when it is not such an answer,
    /// or an answer on the way said neither.
    async fn stepped_over(&self, fetched: &mut protocol::Fetched, offset: i64) -> Option<i64> {
        let bad = fetched.unreadable.as_ref()?;
        let high_watermark = fetched.high_watermark;
        let search = step_over::end(offset, high_watermark, |at| async move {
            match self.fetch(at).await {
                Ok(answer) => step_over::probe(bad, at, &answer),
                Err(_) => step_over::Probe::Unsure,
            }
        });
        let past = tokio::select! {
            past = search => past?,
            () = self.cancel.cancelled() => return None,
        };
        let (ctx, partition) = (&self.ctx, self.partition);
        ctx.metrics.fetch_failures.add(1);
        warn!(topic = %ctx.topic, partition, from = offset, to = past, base = bad.base_offset, last = bad.last_offset, error = %bad.error, "consumer: stepping over offsets the broker counts in an unreadable batch that ends before them as we read it");
        fetched.unreadable = None;
        Some(past)
    }

    /// Records from `offset` on.
    fn fetch(&self, offset: i64) -> BoxFuture<'_, Fetched> {
        let cfg = &self.ctx.config;
        self.source
            .fetch(offset, cfg.fetch_max_bytes, cfg.fetch_max_wait_ms)
    }

    /// What `fetched` read; `Continue(None)` after a failure, with `offset` reset to the
    /// earliest when it was out of range, or after a pause; `Break` when the loop must end (the
    /// partition was claimed by another owner as it reset). `past_end`: since when the answers
    /// have been empty with `offset` past the high watermark.
    async fn records_of(
        &self,
        fetched: Fetched,
        offset: &mut i64,
        past_end: &mut Option<Instant>,
    ) -> ControlFlow<(), Option<protocol::Fetched>> {
        let (ctx, partition) = (&self.ctx, self.partition);
        // An offset past the high watermark answered with nothing, for longer than a new
        // leader's high watermark takes to catch up ([`PAST_END_PATIENCE`]), is out of range
        // too: a broker may answer so instead of OFFSET_OUT_OF_RANGE (Nisshi does).
        let fetched = match fetched {
            Ok(f) if f.next_offset.is_none() && *offset > f.high_watermark => {
                let since = *past_end.get_or_insert_with(Instant::now);
                if since.elapsed() < PAST_END_PATIENCE {
                    debug!(topic = %ctx.topic, partition, offset = *offset, high_watermark = f.high_watermark, "consumer: offset past the high watermark; asking again");
                    pause(RETRY, &self.cancel).await;
                    return ControlFlow::Continue(None);
                }
                Err(SourceError::OutOfRange)
            }
            other => other,
        };
        *past_end = None;
        if fetched.is_ok() {
            say_recovery!(self.fetch_failing.lock(), topic = %ctx.topic, partition, "consumer: fetching again");
        }
        match fetched {
            Ok(r) => return ControlFlow::Continue(Some(r)),
            Err(SourceError::OutOfRange) => {
                // A broker that does not answer holds a ListOffsets until the request times
                // out (40 s); a revocation or the shutdown meanwhile must not wait for that
                // (the loop ends where it checks the cancellation).
                let earliest = tokio::select! {
                    r = self.source.offset(protocol::OffsetQuery::Earliest) => r,
                    () = self.cancel.cancelled() => return ControlFlow::Continue(None),
                };
                match earliest {
                    Ok(earliest) => {
                        warn!(topic = %ctx.topic, partition, offset = *offset, earliest, "consumer: offset out of range, resetting to earliest");
                        // Stored before anything is read from it: a stored offset ahead of the
                        // loop's means a commit of ours landed (`process::apply_batch`).
                        let (claim, keep) = (self.claim, start::Keep::Always);
                        if start::store_offset(ctx, partition, claim, earliest, keep, &self.cancel)
                            .await
                        {
                            ctx.metrics.offset_resets.add(1);
                            *offset = earliest;
                        } else {
                            // Fenced (another owner claimed the partition) or cancelled: the
                            // loop ends, as after a fenced batch.
                            return ControlFlow::Break(());
                        }
                        return ControlFlow::Continue(None);
                    }
                    Err(error) => {
                        warn!(topic = %ctx.topic, partition, %error, "consumer: cannot find the earliest offset");
                    }
                }
            }
            Err(SourceError::Fetch(protocol::FetchError::Throttled)) => {
                // Kafka's answer over a quota: the next Fetch waits out the throttle.
                debug!(topic = %ctx.topic, partition, "consumer: fetch throttled; asking again");
                return ControlFlow::Continue(None);
            }
            Err(error) => {
                ctx.metrics.fetch_failures.add(1);
                say_failure!(self.fetch_failing.lock(), topic = %ctx.topic, partition, %error, "consumer: fetch failed");
            }
        }
        pause(RETRY, &self.cancel).await;
        ControlFlow::Continue(None)
    }

    /// Applies `batch` (fetched from `offset`, in batches that end at `ends`) while the fetch
    /// after them is read ahead; reports the lag as soon as the batch is committed. `None`:
    /// the partition was fenced.
    async fn apply_reading_ahead(
        &self,
        batch: FetchedBatch,
        offset: i64,
        ends: i64,
        high_watermark: i64,
    ) -> Option<Handled<Fetched>> {
        let handled = self.handle_batch(Arc::new(batch), offset, ends);
        let next = self.fetch(ends);
        // The lag is reported as soon as the batch is committed, not after the read-ahead
        // (which may wait `fetch_max_wait_ms` for records that do not exist yet).
        let committed = |at| {
            self.ctx
                .metrics
                .set_lag(&self.ctx.topic, self.partition, high_watermark - at)
        };
        read_ahead_while_committing(handled, next, ends, committed, &self.cancel).await
    }
}

/// What one fetch gave the partition loop to apply: its records, and the batch after them that
/// cannot be read (one dead letter), if any.
pub(super) struct FetchedBatch {
    records: Vec<FetchedRecord>,
    unreadable: Option<Unreadable>,
}

/// Sleeps `d` unless cancelled first; whether it slept the whole time.
async fn pause(d: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => true,
        () = cancel.cancelled() => false,
    }
}
