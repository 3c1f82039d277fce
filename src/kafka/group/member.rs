//! A member of a consumer group: the task that joins, syncs, heartbeats and rejoins, and tells
//! the consumer which partitions it gained and which it must give up.
//!
//! ```text
//!            ┌──────────── rejoin (REBALANCE_IN_PROGRESS, or cooperative: once more after
//!            ▼              giving partitions up) ◄───────────────────────────┐
//!  FindCoordinator ─► JoinGroup ─► (leader: assign) ─► SyncGroup ─► Revoked / Assigned events
//!            ▲                                                        │
//!            │ coordinator moved / broker restarted            heartbeat every interval
//!            └── UNKNOWN_MEMBER_ID / ILLEGAL_GENERATION / GROUP_MAX_SIZE_REACHED / no answer
//!                 for a session: all lost
//!                 FENCED_INSTANCE_ID (another process has our static id): all lost, and stop
//!            an OffsetCommit refused with one of those codes: heartbeat at once, which decides
//! ```
//!
//! Partitions a rebalance takes away are `Revoked` (the consumer commits them to the group
//! first); partitions of a generation that is over are `Lost` (another member may own them
//! already, and the group refuses a commit from outside a generation).
//!
//! Eager assignors (roundrobin, range): every owned partition is revoked before rejoining.
//! Cooperative assignors (KIP-429): partitions that stay keep being consumed; only those taken
//! away are revoked after SyncGroup, then the member rejoins once more so the group can hand
//! them out. A revocation waits for the consumer to acknowledge it: the batch in hand finished
//! and its offsets committed, up to the rebalance timeout; heartbeats keep the session meanwhile.
//! Shutdown sends LeaveGroup, except for a static member (KIP-345), which the coordinator keeps
//! until its session times out, as Kafka's clients do.
mod heartbeat;
mod task;
mod topic_size;

use std::{sync::Arc, time::Duration};

use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{
    assign::Assignor,
    coordinator_link::{CoordinatorLink, Membership, generation_lost},
};
use crate::kafka::{
    Client, ClientError,
    error_code::{ErrorCode, ResponseError},
    protocol::{CallError, ConnectError, LeaveGroup},
};

/// Why a group call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// No broker connection, or no coordinator.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Connecting to the coordinator failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// A request failed on the wire.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The coordinator answered an error code.
    #[error("{api} answered {code}")]
    Code {
        /// The request.
        api: &'static str,
        /// Kafka's error code.
        code: ErrorCode,
    },
    /// The answer said nothing about the group.
    #[error("{api} answered nothing for the group")]
    Unanswered {
        /// The request.
        api: &'static str,
    },
    /// The group chose an assignor we do not have.
    #[error("the group chose assignor `{0}`, which is not ours")]
    Protocol(String),
    /// A subscription or assignment did not decode.
    #[error(transparent)]
    Codec(#[from] super::assign::CodecError),
}

impl GroupError {
    /// Whether the same request may work if sent again: the wire or the coordinator failed
    /// (it moved, is loading, did not answer), or its code is retriable; not when our
    /// generation is over or the request was refused for good.
    pub fn worth_retrying(&self) -> bool {
        match self {
            Self::Client(_) | Self::Connect(_) | Self::Call(_) | Self::Unanswered { .. } => true,
            Self::Code { code, .. } => {
                !generation_lost(*code) && (code.coordinator_moved() || code.is_retriable())
            }
            Self::Protocol(_) | Self::Codec(_) => false,
        }
    }

    /// Whether an OffsetFetch with require_stable found a partition's transactional commit
    /// still pending (UNSTABLE_OFFSET_COMMIT).
    pub fn is_unstable_offset(&self) -> bool {
        matches!(self, Self::Code { code, .. } if code.error() == Some(ResponseError::UnstableOffsetCommit))
    }

    /// Whether it says our generation is over (the partitions are lost, not revoked).
    fn lost(&self) -> bool {
        matches!(self, Self::Code { code, .. } if generation_lost(*code))
    }

    /// Whether another process joined with our static instance id and took our place.
    fn fenced(&self) -> bool {
        matches!(self, Self::Code { code, .. } if code.error() == Some(ResponseError::FencedInstanceId))
    }
}

/// How the member joins.
#[derive(Debug)]
pub struct MemberConfig {
    /// The group id.
    pub group_id: String,
    /// The topic we subscribe to.
    pub topic: String,
    /// Session timeout.
    pub session_timeout: Duration,
    /// Rebalance timeout (also the longest wait for the consumer to acknowledge partitions
    /// revoked or lost).
    pub rebalance_timeout: Duration,
    /// Heartbeat interval.
    pub heartbeat_interval: Duration,
    /// Assignors, in order of preference (at least one).
    pub assignors: Vec<Box<dyn Assignor>>,
    /// Static membership id.
    pub group_instance_id: Option<String>,
    /// How often a stable member reads the topic's partition count: a change joins again, so
    /// that partitions added to the topic get owners (`consumer.metadata_refresh_secs`).
    pub metadata_refresh: Duration,
}

/// What the member tells the consumer.
#[derive(Debug)]
pub enum GroupEvent {
    /// Partitions to start consuming in `generation` (possibly none: the generation changed).
    Assigned {
        /// The generation.
        generation: i32,
        /// Newly assigned partitions.
        partitions: Vec<i32>,
        /// How long the rebalance took: from leaving the last stable generation (or starting)
        /// to this assignment, every round of it.
        took: Duration,
    },
    /// Partitions to give up: finish and commit the batch in hand, then send on `done`.
    Revoked {
        /// The partitions.
        partitions: Vec<i32>,
        /// The generation they were ours in: their offsets go to the group in it
        /// ([`MemberHandle::commit_in`]).
        generation: i32,
        /// Acknowledge here; the member waits (at most the rebalance timeout) before rejoining.
        done: oneshot::Sender<()>,
    },
    /// Partitions already lost: our generation is over (the session ended, the coordinator
    /// forgot us, or another process took our static instance id), so another member may own
    /// them now. Stop consuming them, commit nothing to the group for them (it refuses a
    /// commit from outside a generation unless it is empty), then send on `done`.
    Lost {
        /// The partitions.
        partitions: Vec<i32>,
        /// Acknowledge here; the member waits (at most the rebalance timeout) before rejoining.
        done: oneshot::Sender<()>,
    },
}

/// A running member's membership and offset commits, for tasks besides the one that holds the
/// member: the consumer commits its offsets periodically on a task of its own, so that a
/// coordinator that does not answer never holds up a revocation or a loss. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MemberHandle {
    link: Arc<CoordinatorLink>,
}

impl MemberHandle {
    /// Our member id and generation now.
    pub fn membership(&self) -> Membership {
        self.link.membership()
    }

    /// The generation partition `p` became ours in, while it is ours: `None` once the member
    /// has revoked or lost it (the consumer hears of that next).
    pub fn owned_since(&self, p: i32) -> Option<i32> {
        self.link.owned_since(p)
    }

    /// Commits offsets (partition → next offset) to the group in the current generation.
    pub async fn commit(
        &self,
        offsets: &std::collections::BTreeMap<i32, i64>,
    ) -> Result<(), GroupError> {
        self.link.commit(offsets, None).await
    }

    /// Commits offsets to the group in `generation`, the one the partitions were ours in (a
    /// revocation's): refused by the coordinator once the group has moved past it, so a late
    /// commit never moves back the offset of the partitions' next owner.
    pub async fn commit_in(
        &self,
        offsets: &std::collections::BTreeMap<i32, i64>,
        generation: i32,
    ) -> Result<(), GroupError> {
        self.link.commit(offsets, Some(generation)).await
    }

    /// The group's committed offsets of `partitions`, as a read_committed consumer asks for
    /// them: a partition with a transactional commit still pending fails the read
    /// (UNSTABLE_OFFSET_COMMIT), to be asked again.
    pub async fn committed(
        &self,
        partitions: &[i32],
    ) -> Result<std::collections::BTreeMap<i32, i64>, GroupError> {
        self.link.committed(partitions, true).await
    }

    /// The group's committed offsets of `partitions` as they stand: a partition with a
    /// transactional commit still pending answers the offset committed before it.
    pub async fn committed_last_stable(
        &self,
        partitions: &[i32],
    ) -> Result<std::collections::BTreeMap<i32, i64>, GroupError> {
        self.link.committed(partitions, false).await
    }
}

/// A running member. Dropping it without [`GroupMember::stop`] stops the task without leaving.
#[derive(Debug)]
pub struct GroupMember {
    link: Arc<CoordinatorLink>,
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Drop for GroupMember {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl GroupMember {
    /// Starts the member task; its events arrive on the returned receiver.
    pub fn start(client: Arc<Client>, config: MemberConfig) -> (Self, mpsc::Receiver<GroupEvent>) {
        let link = Arc::new(CoordinatorLink::new(
            client,
            config.group_id.clone(),
            config.topic.clone(),
            config.group_instance_id.clone(),
        ));
        let (tx, rx) = mpsc::channel(8);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(task::run(Arc::clone(&link), config, tx, cancel.clone()));
        let member = Self {
            link,
            cancel,
            task: Some(task),
        };
        (member, rx)
    }

    /// Its membership and offset commits, for other tasks.
    pub fn handle(&self) -> MemberHandle {
        MemberHandle {
            link: Arc::clone(&self.link),
        }
    }

    /// Our member id and generation now.
    pub fn membership(&self) -> Membership {
        self.link.membership()
    }

    /// See [`MemberHandle::owned_since`].
    pub fn owned_since(&self, p: i32) -> Option<i32> {
        self.link.owned_since(p)
    }

    /// The generation and send time of the last heartbeat the coordinator answered without an
    /// error: when it last said we were a member in that generation. None before the first.
    pub fn heartbeat_answered(&self) -> Option<(i32, std::time::Instant)> {
        (self.link.heartbeat_answered()).map(|(generation, sent)| (generation, sent.into_std()))
    }

    /// Once the member's task ended on its own (its events closed): the panic it ended with,
    /// if it did (its payload, to carry on), else `None` (it stopped by design: another process
    /// took our static place).
    pub async fn ended_by_panic(&mut self) -> Option<Box<dyn std::any::Any + Send>> {
        let task = self.task.take()?;
        match task.await {
            Err(e) if e.is_panic() => Some(e.into_panic()),
            _ => None,
        }
    }

    /// Stops the task and leaves the group (a dynamic member only), at most `deadline` long.
    /// Revoke the partitions (and commit) before: the member sends no more events.
    pub async fn stop(mut self, deadline: Duration) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(deadline, task).await;
        }
        let m = self.link.membership();
        if self.link.instance_id.is_some() || m.member_id.is_empty() {
            return;
        }
        let request = LeaveGroup {
            group_id: self.link.group_id.clone(),
            member_id: m.member_id.clone(),
            group_instance_id: None,
            reason: Some("shutdown".into()),
        };
        let leave = self.link.call(&request);
        match tokio::time::timeout(deadline, leave).await {
            Ok(Ok(body)) => match ErrorCode::failure(body.error_code) {
                None => info!(group = %self.link.group_id, member = %m.member_id, "group: left"),
                Some(code) => warn!(%code, "group: LeaveGroup refused"),
            },
            Ok(Err(error)) => warn!(%error, "group: LeaveGroup failed"),
            Err(_) => warn!("group: LeaveGroup timed out"),
        }
        self.link.set_membership(Membership::default());
    }
}
