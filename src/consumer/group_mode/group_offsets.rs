//! The store's offsets copied to the group, and the group's offsets read back for partitions
//! newly assigned. The store stays the source of truth; the group's copy is for tools, and for
//! a member whose store is behind.
use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use tracing::{debug, warn};

use super::REQUEST_DEADLINE;
use crate::{
    consumer::{partition::Context, process::stored_offset},
    kafka::{
        group::MemberHandle,
        retry::{Failed, with_retries},
    },
    store::StoreExt,
};

/// How long a partition newly assigned waits for the group's committed offsets at most, asking
/// again with a growing pause: a coordinator that moved or is loading its offsets answers
/// within seconds. The supervisor handles no revocation meanwhile, so the wait also stays
/// within a quarter of the rebalance timeout (`committed`'s `patience`).
pub(super) const COMMITTED_PATIENCE: Duration = Duration::from_secs(15);

/// The longest pause between two tries (at reading or committing offsets).
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// The group's committed offsets of `partitions`, asked again after a failure (with a growing
/// pause) for up to `patience`. Without them a partition starts from the store's offset, which
/// is behind when another member of the group handled the partition since (see
/// `partition::start_offset`): said in a warning.
pub(super) async fn committed(
    member: &MemberHandle,
    partitions: &[i32],
    patience: Duration,
) -> BTreeMap<i32, i64> {
    if partitions.is_empty() {
        return BTreeMap::new();
    }
    let unstable = &AtomicBool::new(false);
    let read = with_retries(patience, MAX_PAUSE, |attempt| async move {
        let error = match tokio::time::timeout(REQUEST_DEADLINE, member.committed(partitions)).await
        {
            Ok(Ok(offsets)) => return Ok(offsets),
            Ok(Err(error)) => {
                unstable.store(error.is_unstable_offset(), Ordering::Relaxed);
                error.to_string()
            }
            Err(_) => "no answer in time".to_owned(),
        };
        warn!(%error, attempt, "consumer: cannot read the group's committed offsets");
        Err(Failed::Again(Retry))
    })
    .await;
    if let Ok(offsets) = read {
        return offsets;
    }
    // Asked without require_stable once more when a transaction of another member of the group
    // still open (its commit pending) failed the reads above: the offsets committed before it
    // are far nearer than the store's, which during a migration has none.
    let last_stable = if unstable.load(Ordering::Relaxed) {
        tokio::time::timeout(REQUEST_DEADLINE, member.committed_last_stable(partitions))
            .await
            .ok()
    } else {
        None
    };
    if let Some(Ok(offsets)) = last_stable {
        warn!(
            ?partitions,
            "consumer: starting from the group's offsets committed before a transaction still open; records that transaction's member handled may be handled again"
        );
        return offsets;
    }
    warn!(
        ?partitions,
        "consumer: starting from the store's offsets alone; records another member of the group handled since may be handled again"
    );
    BTreeMap::new()
}

/// Commits the store's offsets of `partitions` to the group in our current generation, once
/// (a failure is logged: the next interval commits again, and the store keeps the truth
/// meanwhile).
pub(super) async fn commit(member: &MemberHandle, ctx: &Context, partitions: &[i32]) {
    let generation = member.membership().generation;
    let _ = commit_in(member, ctx, partitions, generation).await;
}

/// Commits the store's offsets of `partitions` as they are handed over (revoked, or at
/// shutdown) in `generation`, the one they were ours in: the next owner starts from the
/// group's offset, so a failure worth retrying (the coordinator moved or did not answer) is
/// tried again with a growing pause, for up to `patience`. Nothing is committed once the
/// member has left `generation`: the partitions may belong to another member by then, and a
/// commit in the next generation would move its offset back.
pub(super) async fn commit_handover(
    member: &MemberHandle,
    ctx: &Context,
    partitions: &[i32],
    generation: i32,
    patience: Duration,
) {
    let handed = with_retries(patience, MAX_PAUSE, |_| async {
        commit_in(member, ctx, partitions, generation)
            .await
            .map_err(Failed::Again)
    })
    .await;
    if handed.is_err() {
        warn!(
            ?partitions,
            "consumer: the offsets of partitions handed over did not reach the group; their next owner may handle again what this instance handled since the last commit"
        );
    }
}

/// A try failed in a way that trying again may mend.
#[derive(Debug, PartialEq, Eq)]
struct Retry;

/// Commits the store's offsets of `partitions` to the group, if the member is still in
/// `generation`.
async fn commit_in(
    member: &MemberHandle,
    ctx: &Context,
    partitions: &[i32],
    generation: i32,
) -> Result<(), Retry> {
    if partitions.is_empty() {
        return Ok(());
    }
    // Our generation is over (the partitions are being lost, or a revocation outlived the
    // session), or moved on since the partitions were handed over: the group refuses a
    // commit from outside a generation, and one in a later generation could move back the
    // offset of a partition that is another member's by then.
    let now = member.membership().generation;
    if now < 0 || now != generation {
        debug!(
            ?partitions,
            generation,
            now,
            "consumer: not in the partitions' generation; offsets not committed to the group"
        );
        return Ok(());
    }
    // On the blocking pool, as every store call of the consumer: on PostgreSQL the read may
    // wait for a pool connection, and the supervisor's loop runs this for a revocation.
    let (store, topic, wanted) = (
        std::sync::Arc::clone(&ctx.store),
        ctx.topic.clone(),
        partitions.to_vec(),
    );
    let offsets = tokio::task::spawn_blocking(move || {
        store.read_with(|txn| {
            let mut out = BTreeMap::new();
            for &p in &wanted {
                if let Some(o) = stored_offset(txn, &topic, p)? {
                    out.insert(p, o);
                }
            }
            Ok::<_, crate::store::StoreError>(out)
        })
    })
    .await;
    let offsets = match offsets {
        Ok(Ok(o)) => o,
        Ok(Err(error)) => {
            warn!(%error, "consumer: cannot read offsets to commit to the group");
            return Ok(());
        }
        Err(error) => {
            warn!(%error, "consumer: offset read task failed");
            return Ok(());
        }
    };
    match tokio::time::timeout(REQUEST_DEADLINE, member.commit_in(&offsets, generation)).await {
        Ok(Ok(())) => {
            debug!(?offsets, "consumer: offsets committed to the group");
            Ok(())
        }
        Ok(Err(error)) => {
            ctx.metrics.group_commit_failures.add(1);
            warn!(%error, "consumer: offset commit to the group failed");
            if error.worth_retrying() {
                Err(Retry)
            } else {
                Ok(())
            }
        }
        Err(_) => {
            ctx.metrics.group_commit_failures.add(1);
            warn!("consumer: offset commit to the group timed out");
            Err(Retry)
        }
    }
}
