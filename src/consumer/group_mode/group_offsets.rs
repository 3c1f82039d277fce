//! The store's offsets copied to the group, and the group's offsets read back for partitions
//! newly assigned. The store stays the source of truth; the group's copy is for tools, and for
//! a member whose store is behind.
use std::collections::BTreeMap;

use tracing::{debug, warn};

use super::REQUEST_DEADLINE;
use crate::{
    consumer::{partition::Context, process::stored_offset},
    kafka::group::GroupMember,
    store::StoreExt,
};

/// Tries at reading the group's committed offsets of newly assigned partitions.
const COMMITTED_ATTEMPTS: u32 = 3;

/// The group's committed offsets of `partitions`, asked up to [`COMMITTED_ATTEMPTS`] times.
/// Without them a partition starts from the store's offset, which is behind when another member
/// of the group handled the partition since (see `partition::start_offset`): said in a warning.
pub(super) async fn committed(member: &GroupMember, partitions: &[i32]) -> BTreeMap<i32, i64> {
    if partitions.is_empty() {
        return BTreeMap::new();
    }
    for attempt in 1..=COMMITTED_ATTEMPTS {
        match tokio::time::timeout(REQUEST_DEADLINE, member.committed(partitions)).await {
            Ok(Ok(offsets)) => return offsets,
            Ok(Err(error)) => {
                warn!(%error, attempt, "consumer: cannot read the group's committed offsets");
            }
            Err(_) => {
                warn!(
                    attempt,
                    "consumer: the group's committed offsets did not come in time"
                );
            }
        }
    }
    warn!(
        ?partitions,
        "consumer: starting from the store's offsets alone; records another member of the group handled since may be handled again"
    );
    BTreeMap::new()
}

/// Commits the store's offsets of `partitions` to the group (a failure is logged: the next
/// interval commits again, and the store keeps the truth meanwhile).
pub(super) async fn commit(member: &GroupMember, ctx: &Context, partitions: &[i32]) {
    if partitions.is_empty() {
        return;
    }
    // Our generation is over (the partitions are being lost, or a revocation outlived the
    // session): the group refuses a commit from outside a generation unless it is empty.
    if member.membership().generation < 0 {
        debug!(
            ?partitions,
            "consumer: no group generation; offsets not committed to the group"
        );
        return;
    }
    let offsets = ctx.store.read_with(|txn| {
        let mut out = BTreeMap::new();
        for p in partitions {
            if let Some(o) = stored_offset(txn, &ctx.topic, *p)? {
                out.insert(*p, o);
            }
        }
        Ok::<_, crate::store::StoreError>(out)
    });
    let offsets = match offsets {
        Ok(o) => o,
        Err(error) => {
            warn!(%error, "consumer: cannot read offsets to commit to the group");
            return;
        }
    };
    match tokio::time::timeout(REQUEST_DEADLINE, member.commit(&offsets)).await {
        Ok(Ok(())) => debug!(?offsets, "consumer: offsets committed to the group"),
        Ok(Err(error)) => {
            ctx.metrics.group_commit_failures.add(1);
            warn!(%error, "consumer: offset commit to the group failed");
        }
        Err(_) => {
            ctx.metrics.group_commit_failures.add(1);
            warn!("consumer: offset commit to the group timed out");
        }
    }
}
