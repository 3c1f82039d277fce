//! The membership task behind a [`GroupMember`](super::GroupMember): rounds (JoinGroup,
//! SyncGroup) and stable generations (heartbeats), and the revocations between them.
use std::{collections::BTreeSet, ops::ControlFlow, sync::Arc, time::Duration};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::{GroupError, GroupEvent, MemberConfig};
use crate::kafka::{
    error_code::{ErrorCode, ResponseError},
    group::{
        assign::RebalanceProtocol,
        coordinator_link::{CoordinatorLink, Membership, generation_lost},
        rebalance::{Round, Synced},
    },
    protocol::Heartbeat,
};

/// How a stable generation ended.
enum Ended {
    /// A rebalance started.
    Rejoin,
    /// Our generation is over (or the coordinator went silent for a session).
    Lost,
    /// Shutdown.
    Cancelled,
}

pub(super) async fn run(
    link: Arc<CoordinatorLink>,
    config: MemberConfig,
    events: mpsc::Sender<GroupEvent>,
    cancel: CancellationToken,
) {
    let now = tokio::time::Instant::now();
    let task = MemberTask {
        link,
        config,
        events,
        cancel,
        owned: BTreeSet::new(),
        failures: 0,
        last_contact: now,
        reason: "start",
        since: now,
    };
    task.run().await;
}

/// The membership task: what it needs, and where it is between rounds.
struct MemberTask {
    /// The coordinator, shared with [`GroupMember`] (offset commits, LeaveGroup).
    link: Arc<CoordinatorLink>,
    /// How we join.
    config: MemberConfig,
    /// Where the consumer hears of assignments and revocations.
    events: mpsc::Sender<GroupEvent>,
    /// Ends the task (the member is stopping).
    cancel: CancellationToken,
    /// The partitions we own now.
    owned: BTreeSet<i32>,
    /// Rounds failed in a row (the backoff grows with them).
    failures: u32,
    /// When the coordinator last answered us: silent for a session, the generation is lost.
    last_contact: tokio::time::Instant,
    /// Why the next round joins (JoinGroup's reason).
    reason: &'static str,
    /// When the member left its last stable generation (or started): a rebalance's start.
    since: tokio::time::Instant,
}

impl MemberTask {
    /// Rounds and stable generations, until cancelled or the consumer is gone.
    async fn run(mut self) {
        loop {
            let round = Round {
                link: &self.link,
                assignors: &self.config.assignors,
                session_timeout_ms: millis(self.config.session_timeout),
                rebalance_timeout_ms: millis(self.config.rebalance_timeout),
            };
            let result = tokio::select! {
                r = round.run(&self.owned, self.reason) => r,
                () = self.cancel.cancelled() => return,
            };
            let next = match result {
                Ok(synced) => self.synced(synced).await,
                Err(error) => self.round_failed(error).await,
            };
            if next.is_break() {
                return;
            }
        }
    }

    /// A round failed: after a lost generation (or a silent coordinator) everything owned is
    /// revoked; then the next round after a backoff.
    async fn round_failed(&mut self, error: GroupError) -> ControlFlow<()> {
        self.failures += 1;
        let failures = self.failures;
        warn!(group = %self.link.group_id, %error, failures, "group: join failed, retrying");
        if error.lost() || self.last_contact.elapsed() > self.config.session_timeout {
            self.forget_generation();
            self.revoke_owned().await?;
        }
        let backoff = Duration::from_millis(100 * u64::from(failures.min(20)));
        tokio::select! {
            () = tokio::time::sleep(backoff) => ControlFlow::Continue(()),
            () = self.cancel.cancelled() => ControlFlow::Break(()),
        }
    }

    /// A round gave us `synced`: revokes what was taken away, tells the consumer what was
    /// added, then heartbeats through the generation, unless a cooperative rebalance needs
    /// another round at once.
    async fn synced(&mut self, synced: Synced) -> ControlFlow<()> {
        self.failures = 0;
        self.last_contact = tokio::time::Instant::now();
        let taken: BTreeSet<i32> = self.owned.difference(&synced.partitions).copied().collect();
        if !taken.is_empty() {
            self.revoke(taken.clone()).await?;
            self.owned.retain(|p| !taken.contains(p));
        }
        let added: Vec<i32> = synced.partitions.difference(&self.owned).copied().collect();
        self.owned = synced.partitions;
        let assigned = GroupEvent::Assigned {
            generation: synced.generation,
            partitions: added,
            took: self.since.elapsed(),
        };
        if self.events.send(assigned).await.is_err() {
            return ControlFlow::Break(());
        }
        if synced.protocol == RebalanceProtocol::Cooperative && !taken.is_empty() {
            self.reason = "cooperative: partitions given up";
            return ControlFlow::Continue(());
        }
        self.stable(synced.protocol).await
    }

    /// Heartbeats through a stable generation; how it ended says what the next round needs:
    /// after a lost generation, or with an eager assignor, everything owned is revoked first.
    async fn stable(&mut self, protocol: RebalanceProtocol) -> ControlFlow<()> {
        let ended = heartbeat(&self.link, &self.config, &self.cancel).await;
        self.last_contact = tokio::time::Instant::now();
        self.since = self.last_contact;
        match ended {
            Ended::Cancelled => return ControlFlow::Break(()),
            Ended::Rejoin => self.reason = "rebalance in progress",
            Ended::Lost => {
                self.reason = "generation lost";
                self.forget_generation();
                return self.revoke_owned().await;
            }
        }
        if protocol == RebalanceProtocol::Eager {
            return self.revoke_owned().await;
        }
        ControlFlow::Continue(())
    }

    /// Our generation is over: the next round joins with none (the member id stays).
    fn forget_generation(&self) {
        self.link.set_membership(Membership {
            generation: -1,
            ..self.link.membership()
        });
    }

    /// Revokes every partition we own.
    async fn revoke_owned(&mut self) -> ControlFlow<()> {
        let owned = std::mem::take(&mut self.owned);
        self.revoke(owned).await
    }

    /// [`revoke`] within the rebalance timeout; `Break` when the consumer is gone.
    async fn revoke(&self, partitions: BTreeSet<i32>) -> ControlFlow<()> {
        if revoke(&self.events, partitions, self.config.rebalance_timeout).await {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
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
        // The next heartbeat, or the end of the session when that comes first.
        let session_left = config.session_timeout.saturating_sub(last_ok.elapsed());
        tokio::select! {
            () = tokio::time::sleep(config.heartbeat_interval.min(session_left)) => {}
            () = cancel.cancelled() => return Ended::Cancelled,
        }
        let m = link.membership();
        let beat = Heartbeat {
            group_id: link.group_id.clone(),
            generation_id: m.generation,
            member_id: m.member_id,
            group_instance_id: link.instance_id.clone(),
        };
        // The session lasts a session timeout from the last heartbeat the coordinator took,
        // which it took after we sent it: a session counted from the send, and the wait for
        // this answer bounded by what is left of it, so that a silent coordinator is noticed
        // when the session is gone there, not a whole session timeout later.
        let sent = tokio::time::Instant::now();
        let left = config.session_timeout.saturating_sub(last_ok.elapsed());
        // The coordinator's lookup, when it moved or its connection failed, counts too.
        let answer = tokio::time::timeout(left, link.call_within(&beat, left)).await;
        match answer.map(|a| a.map(|a| ErrorCode::new(a.error_code))) {
            Ok(Ok(ErrorCode::NONE)) => last_ok = sent,
            Ok(Ok(c)) if c.error() == Some(ResponseError::RebalanceInProgress) => {
                return Ended::Rejoin;
            }
            Ok(Ok(c)) if generation_lost(c) => {
                warn!(group = %link.group_id, code = %c, "group: generation lost");
                if c.error() == Some(ResponseError::UnknownMemberId) {
                    link.set_membership(Membership::default());
                }
                return Ended::Lost;
            }
            Ok(Ok(c)) => {
                let _ = link.failed::<()>("Heartbeat", c);
                warn!(group = %link.group_id, code = %c, "group: heartbeat refused");
            }
            Ok(Err(error)) => warn!(group = %link.group_id, %error, "group: heartbeat failed"),
            Err(_) => {
                warn!(group = %link.group_id, "group: heartbeat not answered within the session")
            }
        }
        if last_ok.elapsed() >= config.session_timeout {
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
