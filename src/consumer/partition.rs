//! The loop of one owned partition: claim its fence, fetch from the later of the stored offset
//! and the group's committed one (else `start`; see [`start_offset`] for why), run a pass per batch in a store transaction that also
//! checks the fence, retry failing handlers with backoff, dead-letter them after the limit.
//! A pass refused by the fence (someone claimed the partition since) stops the loop.
//!
//! The next fetch is read ahead while a batch is handled and committed (the commit runs on the
//! blocking pool, the fetch on the runtime), so the broker's round trip and our decoding overlap
//! the store's fsync instead of following it. It starts where the batch ends; were the batch to
//! end anywhere else (shutdown mid-batch), the read-ahead is dropped unused.
use std::{sync::Arc, time::Duration};

use crate::kafka::records::FetchedRecord;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{
    ConsumerConfig, ConsumerMetrics, StartPolicy,
    fence::{self, Claim, FenceError},
    handler::RecordHandler,
    process::{BatchInput, BatchOutcome, apply_batch, stored_offset},
    source::{PartitionSource, SourceError},
};
use crate::store::{Store, StoreError, StoreExt};

/// Everything a partition loop needs.
pub(crate) struct Context {
    pub topic: String,
    pub config: ConsumerConfig,
    pub store: Arc<dyn Store>,
    pub handler: Arc<dyn RecordHandler>,
    pub metrics: Arc<ConsumerMetrics>,
    /// Producer id stamped on outputs (see [`super::process::BatchInput::producer_id`]).
    pub producer_id: u64,
    /// Woken after a commit that wrote outbox rows.
    pub outbox_wake: Arc<tokio::sync::Notify>,
    /// The rate limit of the WARN line of each dead letter.
    pub dead_log: super::dead_log::DeadLetterLog,
}

/// Why a pass did not commit (the batch is retried either way).
#[derive(Debug, thiserror::Error)]
enum PassError {
    /// The store transaction failed.
    #[error("store transaction: {0}")]
    Store(#[from] StoreError),
    /// The blocking task running the pass panicked or was cancelled.
    #[error("pass task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The partition was claimed by another owner since ours: stop.
    #[error(transparent)]
    Fenced(#[from] fence::Fenced),
}

impl From<FenceError> for PassError {
    fn from(e: FenceError) -> Self {
        match e {
            FenceError::Fenced(f) => Self::Fenced(f),
            FenceError::Store(s) => Self::Store(s),
        }
    }
}

/// How a partition loop starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Start {
    /// The group generation it was assigned in (−1: static mode), recorded in its claim.
    pub generation: i32,
    /// The group's committed offset (see [`start_offset`]).
    pub committed: Option<i64>,
}

impl Default for Start {
    fn default() -> Self {
        Self {
            generation: -1,
            committed: None,
        }
    }
}

/// Pause after a failed fetch or store error.
const RETRY: Duration = Duration::from_millis(500);
/// Pause after a fetch below the high watermark that returned nothing.
const EMPTY_PAUSE: Duration = Duration::from_millis(50);

/// Runs the partition until `cancel` fires or a newer owner fences it. A batch in hand is
/// finished and committed first.
pub(crate) async fn run(
    ctx: Arc<Context>,
    source: Arc<dyn PartitionSource>,
    partition: i32,
    start: Start,
    cancel: CancellationToken,
) {
    let Some(claim) = claim(&ctx, partition, start.generation, &cancel).await else {
        return;
    };
    let Some(mut offset) = start_offset(&ctx, &*source, partition, start.committed, &cancel).await
    else {
        return;
    };
    info!(topic = %ctx.topic, partition, offset, claim = claim.token, generation = claim.generation, "consumer: partition started");
    let cfg = &ctx.config;
    let mut read_ahead = None;
    while !cancel.is_cancelled() {
        let fetched = match read_ahead.take() {
            Some(fetched) => fetched,
            None => tokio::select! {
                r = source.fetch(offset, cfg.fetch_max_bytes, cfg.fetch_max_wait_ms) => r,
                () = cancel.cancelled() => break,
            },
        };
        // A broker that answers an offset past the end with no records (instead of
        // OFFSET_OUT_OF_RANGE, as Kafka does) is treated the same way.
        let fetched = match fetched {
            Ok((records, hw)) if records.is_empty() && offset > hw => Err(SourceError::OutOfRange),
            other => other,
        };
        let (records, high_watermark) = match fetched {
            Ok(r) => r,
            Err(SourceError::OutOfRange) => {
                let earliest = match source.offset(true).await {
                    Ok(earliest) => earliest,
                    Err(error) => {
                        warn!(topic = %ctx.topic, partition, %error, "consumer: cannot find the earliest offset");
                        pause(RETRY, &cancel).await;
                        continue;
                    }
                };
                warn!(topic = %ctx.topic, partition, offset, earliest, "consumer: offset out of range, resetting to earliest");
                ctx.metrics.offset_resets.add(1);
                offset = earliest;
                continue;
            }
            Err(error) => {
                warn!(topic = %ctx.topic, partition, %error, "consumer: fetch failed");
                pause(RETRY, &cancel).await;
                continue;
            }
        };
        if records.is_empty() {
            // Nothing usable below the high watermark (control batches are dropped by the
            // client): do not spin on it.
            if offset < high_watermark {
                pause(EMPTY_PAUSE, &cancel).await;
            }
        } else {
            let ends = records.last().map_or(offset, |r| offset.max(r.offset + 1));
            let batch = Arc::new(records);
            let handled = handle_batch(&ctx, partition, claim, batch, offset, &cancel);
            let next = source.fetch(ends, cfg.fetch_max_bytes, cfg.fetch_max_wait_ms);
            // The lag is reported as soon as the batch is committed, not after the read-ahead
            // (which may wait `fetch_max_wait_ms` for records that do not exist yet).
            let committed = |at| {
                ctx.metrics
                    .set_lag(&ctx.topic, partition, high_watermark - at)
            };
            let Some(handled) = overlap(handled, next, ends, committed, &cancel).await else {
                return;
            };
            offset = handled.next;
            read_ahead = handled.read_ahead;
        }
        ctx.metrics
            .set_lag(&ctx.topic, partition, high_watermark - offset);
    }
    debug!(topic = %ctx.topic, partition, offset, "consumer: partition stopped");
}

/// Where a handled batch left the partition, and the fetch read ahead from there (`None` when
/// the batch ended elsewhere or shutdown began first).
struct Handled<F> {
    next: i64,
    read_ahead: Option<F>,
}

/// Drives `handled` (a batch's [`handle_batch`]) and `next` (the fetch from `ends`) together
/// until the batch is done, tells `committed` where it ended; then, if it ended at `ends`,
/// finishes the fetch unless shutdown begins. `None`: the partition was fenced.
async fn overlap<F>(
    handled: impl Future<Output = Option<i64>>,
    next: impl Future<Output = F>,
    ends: i64,
    committed: impl FnOnce(i64),
    cancel: &CancellationToken,
) -> Option<Handled<F>> {
    tokio::pin!(handled, next);
    let mut fetched = None;
    let offset = loop {
        tokio::select! {
            r = &mut next, if fetched.is_none() => fetched = Some(r),
            h = &mut handled => break h?,
        }
    };
    committed(offset);
    if offset != ends {
        fetched = None;
    } else if fetched.is_none() {
        tokio::select! {
            r = &mut next => fetched = Some(r),
            () = cancel.cancelled() => {}
        }
    }
    Some(Handled {
        next: offset,
        read_ahead: fetched,
    })
}

/// Claims the partition's fence (retrying store errors); `None` when cancelled first.
async fn claim(
    ctx: &Arc<Context>,
    partition: i32,
    generation: i32,
    cancel: &CancellationToken,
) -> Option<Claim> {
    loop {
        let c = Arc::clone(ctx);
        let claimed = tokio::task::spawn_blocking(move || {
            c.store
                .write_with(|txn| fence::claim(txn, &c.topic, partition, generation))
        })
        .await;
        match claimed {
            Ok(Ok(claim)) => return Some(claim),
            Ok(Err(error)) => warn!(partition, %error, "consumer: cannot claim the partition"),
            Err(error) => warn!(partition, %error, "consumer: cannot claim the partition"),
        }
        if !pause(RETRY, cancel).await {
            return None;
        }
    }
}

/// Where a partition starts: the later of the store's offset (ours, committed with the effects)
/// and the group's committed offset.
/// - The group's is ahead: another member handled the partition since we last did (the Go
///   service during a migration, any Kafka consumer in the group) and committed what it
///   handled. Starting from ours would handle those records a second time, and the other
///   member's work left no dedupe marks in our store.
/// - Ours is ahead: we handled records whose offsets did not reach the group yet (a crash
///   between the store's commit and the group's), or an operator rewound the group with
///   Kafka's own tools. Ours wins either way: such a rewind re-reads nothing. A replay goes
///   through `usercenter group reset-offsets`, which moves both and the dedupe state with them.
/// - Only one exists: that one. Neither: `consumer.start` (earliest or latest).
async fn start_offset(
    ctx: &Context,
    source: &dyn PartitionSource,
    partition: i32,
    committed: Option<i64>,
    cancel: &CancellationToken,
) -> Option<i64> {
    loop {
        let mut stored = None;
        let read = ctx.store.read(&mut |txn| {
            stored = stored_offset(txn, &ctx.topic, partition)?;
            Ok(())
        });
        let result = match (read, stored, committed) {
            (Err(e), _, _) => Err(e.to_string()),
            (Ok(()), Some(stored), Some(committed)) if committed > stored => {
                // Another member of the group (the Go service during a migration, a
                // librdkafka consumer) handled the partition up to there and committed it.
                info!(topic = %ctx.topic, partition, stored, committed, "consumer: starting from the group's committed offset, ahead of the store's");
                Ok(committed)
            }
            (Ok(()), Some(offset), _) | (Ok(()), None, Some(offset)) => Ok(offset),
            (Ok(()), None, None) => source
                .offset(ctx.config.start == StartPolicy::Earliest)
                .await
                .map_err(|e| e.to_string()),
        };
        match result {
            Ok(offset) => return Some(offset),
            Err(error) => warn!(partition, %error, "consumer: cannot find the start offset"),
        }
        if !pause(RETRY, cancel).await {
            return None;
        }
    }
}

/// Handles one fetched batch; returns the next offset. Keeps at it (retries, dead letters)
/// until the whole batch is committed or shutdown begins; `None` when the partition is fenced.
async fn handle_batch(
    ctx: &Arc<Context>,
    partition: i32,
    claim: Claim,
    records: Arc<Vec<FetchedRecord>>,
    mut offset: i64,
    cancel: &CancellationToken,
) -> Option<i64> {
    let started = std::time::Instant::now();
    let mut failures: Option<(i64, u32)> = None;
    let mut give_up = None;
    loop {
        let pass = commit_pass(ctx, partition, claim, &records, offset, give_up.take());
        let outcome = match pass.await {
            Ok(outcome) => outcome,
            Err(PassError::Fenced(fenced)) => {
                warn!(%fenced, "consumer: partition claimed by a newer owner, stopping it");
                return None;
            }
            Err(error) => {
                warn!(partition, %error, "consumer: pass failed, retrying the batch");
                if !pause(RETRY, cancel).await {
                    return Some(offset);
                }
                continue;
            }
        };
        let m = &ctx.metrics;
        m.handled.add(outcome.handled);
        m.duplicates.add(outcome.duplicates);
        m.dead_letters.add(outcome.dead);
        for (at, reason) in &outcome.dead_letters {
            ctx.dead_log.log(&ctx.topic, partition, *at, reason);
        }
        if outcome.outbox_rows > 0 {
            ctx.outbox_wake.notify_one();
        }
        offset = outcome.next_offset;
        let Some((failed_at, error)) = outcome.failed else {
            m.batch_seconds.observe(started.elapsed().as_secs_f64());
            return Some(offset);
        };
        m.handler_failures.add(1);
        let attempts = match failures {
            Some((at, n)) if at == failed_at => n + 1,
            _ => 1,
        };
        failures = Some((failed_at, attempts));
        if attempts >= ctx.config.handler_attempts {
            warn!(partition, offset = failed_at, %error, attempts, "consumer: handler gave up, dead-lettering");
            give_up = Some((
                failed_at,
                format!("handler failed {attempts} times: {error}"),
            ));
            continue;
        }
        let backoff = Duration::from_millis(ctx.config.handler_backoff_ms)
            * 2u32.saturating_pow(attempts - 1);
        debug!(partition, offset = failed_at, %error, attempts, ?backoff, "consumer: handler failed, retrying");
        if !pause(backoff, cancel).await {
            return Some(offset);
        }
    }
}

/// One pass in a store transaction, on the blocking pool (the store does disk I/O and fsync),
/// after the fence check in the same transaction.
async fn commit_pass(
    ctx: &Arc<Context>,
    partition: i32,
    claim: Claim,
    records: &Arc<Vec<FetchedRecord>>,
    offset: i64,
    give_up: Option<(i64, String)>,
) -> Result<BatchOutcome, PassError> {
    let ctx = Arc::clone(ctx);
    let records = Arc::clone(records);
    tokio::task::spawn_blocking(move || {
        let input = BatchInput {
            topic: &ctx.topic,
            partition,
            next_offset: offset,
            dlq_topic: &ctx.config.dlq_topic,
            give_up,
            now_ms: chrono::Utc::now().timestamp_millis(),
            handler_seconds: Some(&ctx.metrics.handler_seconds),
            producer_id: ctx.producer_id,
        };
        ctx.store.write_with(|txn| {
            fence::check(txn, &ctx.topic, partition, claim)?;
            Ok::<_, PassError>(apply_batch(txn, &*ctx.handler, &records, &input)?)
        })
    })
    .await?
}

/// Sleeps `d` unless cancelled first; whether it slept the whole time.
async fn pause(d: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => true,
        () = cancel.cancelled() => false,
    }
}
