//! Where a partition loop starts: its fence claimed, and the offset to read from.
use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{Context, RETRY, pause};
use crate::{
    consumer::{
        StartPolicy, fence,
        fence::{Claim, FenceError},
        process::{put_offset, stored_offset},
        source::PartitionSource,
    },
    kafka::protocol::OffsetQuery,
    store::StoreExt,
};

/// How a partition loop starts.
#[derive(Debug, Clone)]
pub(crate) struct Start {
    /// The group generation it was assigned in (−1: static mode), recorded in its claim.
    pub generation: i32,
    /// The group's committed offset (see [`start_offset`]).
    pub committed: Option<i64>,
    /// Set once the loop's start offset is in the store ([`keep_start`]). Until then the
    /// store may hold an older offset than the group's (another member handled the partition
    /// since), so the group mode commits the partition's store offset only once this is set.
    pub started: Option<Arc<AtomicBool>>,
}

impl Default for Start {
    fn default() -> Self {
        Self {
            generation: -1,
            committed: None,
            started: None,
        }
    }
}

impl Start {
    /// Says that the start offset is in the store ([`Self::started`]).
    pub(super) fn mark_started(&self) {
        if let Some(started) = &self.started {
            started.store(true, Ordering::Release);
        }
    }
}

/// Claims the partition's fence (retrying store errors); `None` when cancelled first.
pub(super) async fn claim(
    ctx: &Arc<Context>,
    partition: i32,
    generation: i32,
    cancel: &CancellationToken,
) -> Option<Claim> {
    let claim = move |c: &Context| {
        c.store
            .write_with(|txn| fence::claim(txn, &c.topic, partition, generation))
    };
    retrying(ctx, partition, "cannot claim the partition", cancel, claim).await
}

/// Runs `call` on the blocking pool until it succeeds, saying `failed` at WARN and pausing
/// [`RETRY`] after each failure; `None` when cancelled first (also before the first call: a
/// partition revoked must not be claimed, which would fence its new owner).
pub(super) async fn retrying<T: Send + 'static>(
    ctx: &Arc<Context>,
    partition: i32,
    failed: &'static str,
    cancel: &CancellationToken,
    call: impl Fn(&Context) -> crate::store::Result<T> + Clone + Send + 'static,
) -> Option<T> {
    loop {
        if cancel.is_cancelled() {
            return None;
        }
        let (c, call) = (Arc::clone(ctx), call.clone());
        match tokio::task::spawn_blocking(move || call(&c)).await {
            Ok(Ok(out)) => return Some(out),
            Ok(Err(error)) => warn!(partition, %error, "consumer: {failed}"),
            Err(error) => warn!(partition, %error, "consumer: {failed}"),
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
///
/// The group's offset is taken only where the log has it ([`group_offset`]).
pub(super) async fn start_offset(
    ctx: &Arc<Context>,
    source: &dyn PartitionSource,
    partition: i32,
    committed: Option<i64>,
    cancel: &CancellationToken,
) -> Option<i64> {
    loop {
        let found = async {
            let stored = read_stored_offset(ctx, partition).await?;
            match committed.filter(|&c| stored.is_none_or(|s| c > s)) {
                Some(c) => group_offset(ctx, source, partition, stored, c).await,
                None => stored_or_policy(ctx, source, stored).await,
            }
        };
        // A broker that does not answer holds a ListOffsets until the request times out; a
        // revocation meanwhile must not wait for that.
        let result = tokio::select! {
            r = found => r,
            () = cancel.cancelled() => return None,
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

/// The group's committed offset `committed`, ahead of the store's (`stored`), unless it is past
/// the log end. Any member of the group may commit any offset; one past the end names no
/// record, and the first fetch there would reset the partition to its earliest offset and
/// read all of it again. Then the store's offset (else the start policy) is taken instead.
/// The end is the high watermark, not the last stable offset: a member reading
/// read_uncommitted (Sarama's default) reads and commits past a transaction left open, and
/// a read_committed fetch from there waits for it to end.
async fn group_offset(
    ctx: &Arc<Context>,
    source: &dyn PartitionSource,
    partition: i32,
    stored: Option<i64>,
    committed: i64,
) -> Result<i64, String> {
    let end = source
        .offset(OffsetQuery::HighWatermark)
        .await
        .map_err(|e| e.to_string())?;
    if committed <= end {
        // Another member of the group (the Go service during a migration, a librdkafka
        // consumer) handled the partition up to there and committed it.
        info!(topic = %ctx.topic, partition, ?stored, committed, "consumer: starting from the group's committed offset, ahead of the store's");
        return Ok(committed);
    }
    warn!(topic = %ctx.topic, partition, ?stored, committed, end, "consumer: the group's committed offset is past the log end; starting from the store's offset instead");
    stored_or_policy(ctx, source, stored).await
}

/// The store's offset `stored`, else where `consumer.start` says to begin: the earliest
/// offset or the log end.
async fn stored_or_policy(
    ctx: &Arc<Context>,
    source: &dyn PartitionSource,
    stored: Option<i64>,
) -> Result<i64, String> {
    match stored {
        Some(offset) => Ok(offset),
        None => source
            .offset(if ctx.config.start == StartPolicy::Earliest {
                OffsetQuery::Earliest
            } else {
                OffsetQuery::Latest
            })
            .await
            .map_err(|e| e.to_string()),
    }
}

/// Stores `offset`, where the partition starts, as its offset when the store's is behind it or
/// absent (the group's committed offset or the start policy was taken), under our claim.
/// The consumer commits the store's offsets to the group (every `commit_interval`, at a
/// revocation, at shutdown): the store's older offset would otherwise move the group's back
/// on a partition that stays idle, and its next owner would handle again what the member
/// that committed it had handled. `false` when cancelled or fenced first.
pub(super) async fn keep_start(
    ctx: &Arc<Context>,
    partition: i32,
    claim: Claim,
    offset: i64,
    cancel: &CancellationToken,
) -> bool {
    store_offset(ctx, partition, claim, offset, Keep::IfAhead, cancel).await
}

/// Which offsets [`store_offset`] replaces.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Keep {
    /// Only one behind it, or none (where a partition starts).
    IfAhead,
    /// Whatever is stored (an offset out of range reset to the earliest, which may lie behind
    /// it: the store must not keep the offset the loop left, see `process::apply_batch`).
    Always,
}

/// Stores `offset` as the partition's offset as `keep` says, under our claim, until it is
/// stored; `false` when cancelled or fenced first.
pub(super) async fn store_offset(
    ctx: &Arc<Context>,
    partition: i32,
    claim: Claim,
    offset: i64,
    keep: Keep,
    cancel: &CancellationToken,
) -> bool {
    loop {
        let c = Arc::clone(ctx);
        let kept = tokio::task::spawn_blocking(move || {
            c.store.write_with(|txn| {
                fence::check(txn, &c.topic, partition, claim)?;
                let stored = stored_offset(txn, &c.topic, partition)?;
                if keep == Keep::Always || stored.is_none_or(|s| s < offset) {
                    put_offset(txn, &c.topic, partition, offset)?;
                }
                Ok::<_, FenceError>(())
            })
        })
        .await;
        match kept {
            Ok(Ok(())) => return true,
            Ok(Err(FenceError::Fenced(fenced))) => {
                warn!(%fenced, "consumer: partition claimed by a newer owner, stopping it");
                return false;
            }
            Ok(Err(FenceError::Store(error))) => {
                warn!(partition, %error, "consumer: cannot store the start offset");
            }
            Err(error) => warn!(partition, %error, "consumer: cannot store the start offset"),
        }
        if !pause(RETRY, cancel).await {
            return false;
        }
    }
}

/// The store's offset of `partition`, read on the blocking pool like every other store call
/// of the loop.
pub(super) async fn read_stored_offset(
    ctx: &Arc<Context>,
    partition: i32,
) -> Result<Option<i64>, String> {
    let c = Arc::clone(ctx);
    let read = tokio::task::spawn_blocking(move || {
        c.store
            .read_with(|txn| stored_offset(txn, &c.topic, partition))
    })
    .await;
    match read {
        Ok(stored) => stored.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}
