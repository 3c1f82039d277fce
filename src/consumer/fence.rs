//! Partition fencing inside the store: a member that lost a partition can never commit an
//! offset or an effect for it again (invariant 10).
//!
//! Each topic/partition has a fence in the `Meta` table, `fence/<topic>/<partition>`, holding
//! the [`Claim`] of its current owner. A claim takes a token from a store-wide counter
//! (`fence/next`), so every claim is newer than all before it, whichever backend the store
//! uses and whether the claimer is a group member (which also records its Kafka generation)
//! or a static instance. The partition loop checks its claim in the same write transaction as
//! a batch's offset, dedupe marks and effects ([`check`]): when someone claimed the partition
//! since, the transaction aborts with [`Fenced`] and the loop stops. The check writes the claim
//! back, so that it holds at snapshot isolation as well.
//!
//! ```text
//!  assignment ──► claim(topic, p): token = ++fence/next; fence/topic/p = {token, generation}
//!  batch txn  ──► check(fence/topic/p == our token) ─ no ─► abort: Fenced, task stops
//!                        │ yes
//!                        ▼
//!                 offset + dedupe + effects commit together
//! ```
use serde::{Deserialize, Serialize};

use crate::store::{self, ReadTxn, StoreError, Table, WriteTxn};

/// One owner's claim on a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// The store-wide claim counter when it was made: a later claim has a larger token.
    pub token: u64,
    /// The Kafka group generation it was made in, −1 in static mode, or [`OPERATOR`] for
    /// `usercenter group reset-offsets`.
    pub generation: i32,
}

/// The generation of the claim `usercenter group reset-offsets` makes on every partition whose
/// offset it sets, in the same transaction. A partition task that claimed the partition
/// before (an instance started while the reset ran) is fenced on its next commit instead of
/// committing its old position over the reset, and starts again from the offset the reset
/// set (`consumer::partition::run`).
pub const OPERATOR: i32 = -2;

/// A commit by an owner whose claim was superseded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{topic}/{partition} is fenced: our claim {ours:?}, current {current:?}")]
pub struct Fenced {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The claim the committer holds.
    pub ours: Claim,
    /// The claim in the store (`None`: the fence is gone).
    pub current: Option<Claim>,
}

/// A fence check or claim that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FenceError {
    /// Someone else claimed the partition since.
    #[error(transparent)]
    Fenced(#[from] Fenced),
    /// The store failed.
    #[error("fence: {0}")]
    Store(#[from] StoreError),
}

const NEXT: &[u8] = b"fence/next";

/// The store key (in [`Table::Meta`]) of a partition's fence.
pub fn key(topic: &str, partition: i32) -> Vec<u8> {
    format!("fence/{topic}/{partition}").into_bytes()
}

/// The current claim on a partition.
pub fn current(txn: &dyn ReadTxn, topic: &str, partition: i32) -> store::Result<Option<Claim>> {
    store::get(txn, Table::Meta, &key(topic, partition))
}

/// Claims `partition` for a new owner (inside `txn`): every earlier claim is fenced.
pub fn claim(
    txn: &mut dyn WriteTxn,
    topic: &str,
    partition: i32,
    generation: i32,
) -> store::Result<Claim> {
    let token = store::get::<u64>(txn, Table::Meta, NEXT)?.unwrap_or(0) + 1;
    store::put(txn, Table::Meta, NEXT, &token)?;
    let claim = Claim { token, generation };
    store::put(txn, Table::Meta, &key(topic, partition), &claim)?;
    Ok(claim)
}

/// Whether the partition's current claim is an operator's ([`OPERATOR`]). Blocks.
pub fn claimed_by_operator(
    store: &dyn store::Store,
    topic: &str,
    partition: i32,
) -> store::Result<bool> {
    let claim = store::StoreExt::read_with(store, |txn| current(txn, topic, partition))?;
    Ok(claim.is_some_and(|c| c.generation == OPERATOR))
}

/// Fails with [`Fenced`] unless `ours` is still the partition's claim, and writes it back
/// (call it inside the write transaction that commits the batch).
///
/// The write makes the check hold at snapshot isolation too, where batches run
/// ([`crate::store::Store::write_at_snapshot`]): a claim committed after this transaction's
/// snapshot was taken is not seen by the read, but it changed the row this transaction now
/// writes, so one of the two fails to serialize and runs again, and a batch that runs again
/// sees the new claim.
pub fn check(
    txn: &mut dyn WriteTxn,
    topic: &str,
    partition: i32,
    ours: Claim,
) -> Result<(), FenceError> {
    let now = current(txn, topic, partition)?;
    if now == Some(ours) {
        store::put(txn, Table::Meta, &key(topic, partition), &ours)?;
        return Ok(());
    }
    Err(Fenced {
        topic: topic.to_owned(),
        partition,
        ours,
        current: now,
    }
    .into())
}

#[cfg(test)]
mod tests;
