//! A member of a consumer group: the task that joins, syncs, heartbeats and rejoins, and tells
//! the consumer which partitions it gained and which it must give up.
//!
//! ```text
//!            ┌──────────── rejoin (REBALANCE_IN_PROGRESS, or cooperative: once more after
//!            ▼              giving partitions up) ◄───────────────────────────┐
//!  FindCoordinator ─► JoinGroup ─► (leader: assign) ─► SyncGroup ─► Revoked / Assigned events
//!            ▲                                                        │
//!            │ coordinator moved / broker restarted            heartbeat every interval
//!            └── UNKNOWN_MEMBER_ID / ILLEGAL_GENERATION / no answer for a session: all lost
//! ```
//!
//! Eager assignors (roundrobin, range): every owned partition is revoked before rejoining.
//! Cooperative assignors (KIP-429): partitions that stay keep being consumed; only those taken
//! away are revoked after SyncGroup, then the member rejoins once more so the group can hand
//! them out. A revocation waits for the consumer to acknowledge it: the batch in hand finished
//! and its offsets committed. Shutdown sends LeaveGroup, except for a static member (KIP-345),
//! which the coordinator keeps until its session times out, as Kafka's clients do.
use std::{collections::BTreeSet, sync::Arc, time::Duration};

use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{
    assign::{Assignor, RebalanceProtocol},
    coordinator_link::{CoordinatorLink, Membership, generation_lost},
    rebalance::Round,
};
use crate::kafka::{
    Client, ClientError,
    error_code::{ErrorCode, ResponseError},
    protocol::{CallError, ConnectError, Heartbeat, LeaveGroup},
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
    /// Whether it says our generation is over (the partitions are lost, not revoked).
    fn lost(&self) -> bool {
        matches!(self, Self::Code { code, .. } if generation_lost(*code))
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
    /// Rebalance timeout (also the longest wait for a revocation's acknowledgement).
    pub rebalance_timeout: Duration,
    /// Heartbeat interval.
    pub heartbeat_interval: Duration,
    /// Assignors, in order of preference (at least one).
    pub assignors: Vec<Box<dyn Assignor>>,
    /// Static membership id.
    pub group_instance_id: Option<String>,
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
        /// Acknowledge here; the member waits (at most the rebalance timeout) before rejoining.
        done: oneshot::Sender<()>,
    },
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
        let task = tokio::spawn(run(Arc::clone(&link), config, tx, cancel.clone()));
        let member = Self {
            link,
            cancel,
            task: Some(task),
        };
        (member, rx)
    }

    /// Our member id and generation now.
    pub fn membership(&self) -> Membership {
        self.link.membership()
    }

    /// Commits offsets (partition → next offset) to the group in the current generation.
    pub async fn commit(
        &self,
        offsets: &std::collections::BTreeMap<i32, i64>,
    ) -> Result<(), GroupError> {
        self.link.commit(offsets).await
    }

    /// The group's committed offsets of `partitions`.
    pub async fn committed(
        &self,
        partitions: &[i32],
    ) -> Result<std::collections::BTreeMap<i32, i64>, GroupError> {
        self.link.committed(partitions).await
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

/// How a stable generation ended.
enum Ended {
    /// A rebalance started.
    Rejoin,
    /// Our generation is over (or the coordinator went silent for a session).
    Lost,
    /// Shutdown.
    Cancelled,
}

async fn run(
    link: Arc<CoordinatorLink>,
    config: MemberConfig,
    events: mpsc::Sender<GroupEvent>,
    cancel: CancellationToken,
) {
    let round = Round {
        link: &link,
        assignors: &config.assignors,
        session_timeout_ms: millis(config.session_timeout),
        rebalance_timeout_ms: millis(config.rebalance_timeout),
    };
    let revoke = |partitions: BTreeSet<i32>| revoke(&events, partitions, config.rebalance_timeout);
    let mut owned = BTreeSet::new();
    let mut failures = 0u32;
    let mut last_contact = tokio::time::Instant::now();
    let mut reason = "start";
    let mut since = tokio::time::Instant::now();
    loop {
        let result = tokio::select! {
            r = round.run(&owned, reason) => r,
            () = cancel.cancelled() => return,
        };
        let synced = match result {
            Ok(s) => s,
            Err(error) => {
                failures += 1;
                warn!(group = %link.group_id, %error, failures, "group: join failed, retrying");
                if error.lost() || last_contact.elapsed() > config.session_timeout {
                    link.set_membership(Membership {
                        generation: -1,
                        ..link.membership()
                    });
                    if !revoke(std::mem::take(&mut owned)).await {
                        return;
                    }
                }
                let backoff = Duration::from_millis(100 * u64::from(failures.min(20)));
                tokio::select! {
                    () = tokio::time::sleep(backoff) => continue,
                    () = cancel.cancelled() => return,
                }
            }
        };
        failures = 0;
        last_contact = tokio::time::Instant::now();
        let protocol = synced.protocol;
        let taken: BTreeSet<i32> = owned.difference(&synced.partitions).copied().collect();
        if !taken.is_empty() {
            if !revoke(taken.clone()).await {
                return;
            }
            owned.retain(|p| !taken.contains(p));
        }
        let added: Vec<i32> = synced.partitions.difference(&owned).copied().collect();
        owned = synced.partitions;
        let assigned = GroupEvent::Assigned {
            generation: synced.generation,
            partitions: added,
            took: since.elapsed(),
        };
        if events.send(assigned).await.is_err() {
            return;
        }
        if protocol == RebalanceProtocol::Cooperative && !taken.is_empty() {
            reason = "cooperative: partitions given up";
            continue;
        }
        let ended = heartbeat(&link, &config, &cancel).await;
        last_contact = tokio::time::Instant::now();
        since = last_contact;
        match ended {
            Ended::Cancelled => return,
            Ended::Rejoin => reason = "rebalance in progress",
            Ended::Lost => {
                reason = "generation lost";
                link.set_membership(Membership {
                    generation: -1,
                    ..link.membership()
                });
                if !revoke(std::mem::take(&mut owned)).await {
                    return;
                }
                continue;
            }
        }
        if protocol == RebalanceProtocol::Eager && !revoke(std::mem::take(&mut owned)).await {
            return;
        }
    }
}

/// Heartbeats until the generation ends.
async fn heartbeat(
    link: &CoordinatorLink,
    config: &MemberConfig,
    cancel: &CancellationToken,
) -> Ended {
    let mut last_ok = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep(config.heartbeat_interval) => {}
            () = cancel.cancelled() => return Ended::Cancelled,
        }
        let m = link.membership();
        let beat = Heartbeat {
            group_id: link.group_id.clone(),
            generation_id: m.generation,
            member_id: m.member_id,
            group_instance_id: link.instance_id.clone(),
        };
        // Unanswered for a session timeout, the session is gone at the coordinator anyway: a
        // silent coordinator is noticed then, not after the client's request timeout.
        let answer = link.call_within(&beat, config.session_timeout).await;
        match answer.map(|a| ErrorCode::new(a.error_code)) {
            Ok(ErrorCode::NONE) => last_ok = tokio::time::Instant::now(),
            Ok(c) if c.error() == Some(ResponseError::RebalanceInProgress) => return Ended::Rejoin,
            Ok(c) if generation_lost(c) => {
                warn!(group = %link.group_id, code = %c, "group: generation lost");
                if c.error() == Some(ResponseError::UnknownMemberId) {
                    link.set_membership(Membership::default());
                }
                return Ended::Lost;
            }
            Ok(c) => {
                let _ = link.failed::<()>("Heartbeat", c);
                warn!(group = %link.group_id, code = %c, "group: heartbeat refused");
            }
            Err(error) => warn!(group = %link.group_id, %error, "group: heartbeat failed"),
        }
        if last_ok.elapsed() > config.session_timeout {
            warn!(group = %link.group_id, "group: no heartbeat answered for a session timeout");
            return Ended::Lost;
        }
    }
}

/// Tells the consumer to give up `partitions` and waits for its acknowledgement (at most
/// `within`). False when the consumer is gone.
async fn revoke(
    events: &mpsc::Sender<GroupEvent>,
    partitions: BTreeSet<i32>,
    within: Duration,
) -> bool {
    if partitions.is_empty() {
        return true;
    }
    let (done, acked) = oneshot::channel();
    let event = GroupEvent::Revoked {
        partitions: partitions.into_iter().collect(),
        done,
    };
    if events.send(event).await.is_err() {
        return false;
    }
    match tokio::time::timeout(within, acked).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            warn!("group: revocation not acknowledged within the rebalance timeout");
            true
        }
    }
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}
