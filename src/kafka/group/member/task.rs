//! The membership task behind a [`GroupMember`](super::GroupMember): rounds (JoinGroup,
//! SyncGroup) and stable generations (heartbeats), and the partitions given up between them
//! (revoked by a rebalance, or lost with the generation).
use std::{collections::BTreeSet, ops::ControlFlow, sync::Arc, time::Duration};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::{
    GroupError, GroupEvent, MemberConfig,
    heartbeat::{Beat, Confirmed, Ended, confirm, heartbeat},
    topic_size,
};
use crate::kafka::group::{
    assign::RebalanceProtocol,
    coordinator_link::{CoordinatorLink, Membership},
    rebalance::{Round, Synced},
};

/// The rebalance protocol the member follows in a generation whose assignor has `chosen`:
/// cooperative (keep consuming through the next JoinGroup) only when every assignor it offers
/// is cooperative, as the Java client decides. With an eager one in its list, a member of
/// another client (Sarama, librdkafka) that offers only that one makes the group pick it, and
/// that leader hands out partitions whatever their owners say: a member still consuming them
/// through the join would overlap with the new owner until its SyncGroup.
fn followed(config: &MemberConfig, chosen: RebalanceProtocol) -> RebalanceProtocol {
    let all_cooperative = config
        .assignors
        .iter()
        .all(|a| a.protocol() == RebalanceProtocol::Cooperative);
    if chosen == RebalanceProtocol::Cooperative && all_cooperative {
        RebalanceProtocol::Cooperative
    } else {
        RebalanceProtocol::Eager
    }
}

/// How partitions are given up.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Handover {
    /// A rebalance takes them away while we are in the generation: the consumer finishes and
    /// commits its batches ([`GroupEvent::Revoked`]) while heartbeats keep the session.
    Revoke,
    /// Our generation is over, so another member may own them already: the consumer stops
    /// them ([`GroupEvent::Lost`]), and there is no session to keep.
    Lose,
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
        joined_size: None,
    };
    task.run().await;
}

/// The membership task: what it needs, and where it is between rounds.
struct MemberTask {
    /// The coordinator, shared with [`GroupMember`] (offset commits, LeaveGroup).
    link: Arc<CoordinatorLink>,
    /// How we join.
    config: MemberConfig,
    /// Where the consumer hears of assignments, revocations and losses.
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
    /// The topic's partition count read before the last join, or the one the assignment
    /// was made over when a leader of ours noted it ([`topic_size`]).
    joined_size: Option<usize>,
}

impl MemberTask {
    /// Rounds and stable generations, until cancelled or the consumer is gone.
    async fn run(mut self) {
        loop {
            self.joined_size = tokio::select! {
                size = topic_size::read(&self.link) => size,
                () = self.cancel.cancelled() => return,
            };
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
    /// lost; then the next round after a backoff.
    async fn round_failed(&mut self, error: GroupError) -> ControlFlow<()> {
        self.failures += 1;
        let failures = self.failures;
        if error.fenced() {
            return self.fenced().await;
        }
        warn!(group = %self.link.group_id, %error, failures, "group: join failed, retrying");
        // A JoinGroup answered in this round, or a SyncGroup answered REBALANCE_IN_PROGRESS,
        // was contact: the coordinator keeps a member that waits in a rebalance, so a slow
        // round is not taken for a silent coordinator. Refusals that say it moved or that our
        // generation is over are not ([`CoordinatorLink::note_kept`]).
        if let Some(kept) = self.link.kept_at() {
            self.last_contact = self.last_contact.max(kept);
        }
        if error.lost() || self.last_contact.elapsed() > self.config.session_timeout {
            self.lose_owned().await?;
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
    async fn synced(&mut self, mut synced: Synced) -> ControlFlow<()> {
        self.failures = 0;
        // An answer read late may come from a session the coordinator has ended since,
        // handing our partitions to another member: it ends a session timeout after its
        // answer to SyncGroup, which came after we asked, and a member that does not rejoin
        // within the rebalance timeout of a rebalance that began meanwhile is dropped too.
        // Read with less than a heartbeat interval of either left, a heartbeat asks before
        // the consumer hears of the assignment.
        //
        // The session counts from its last sure start: the SyncGroup request, or the heartbeat
        // that confirmed a late answer (about now), so that the member heartbeats and gives
        // up no later than the coordinator's session allows.
        let (rejoin, contact) = match self.read_late(&synced).await {
            None => (false, synced.sent),
            Some(ControlFlow::Continue(Ok(Confirmed::Stable))) => {
                (false, tokio::time::Instant::now())
            }
            Some(ControlFlow::Break(())) => return ControlFlow::Break(()),
            // The rebalance awaits our JoinGroup: nothing new starts, and we join at once.
            Some(ControlFlow::Continue(Ok(Confirmed::Rebalancing))) => {
                synced.partitions.retain(|p| self.owned.contains(p));
                (true, tokio::time::Instant::now())
            }
            Some(ControlFlow::Continue(Err(Ended::Fenced))) => return self.fenced().await,
            Some(ControlFlow::Continue(Err(_))) => return self.generation_lost().await,
        };
        self.last_contact = contact;
        // The size the assignment was made over, when a leader of ours noted it, stands for
        // the one read before the join: a restarted static leader keeps an older assignment.
        if synced.assigned_from.is_some() {
            self.joined_size = synced.assigned_from;
        }
        let taken: BTreeSet<i32> = self.owned.difference(&synced.partitions).copied().collect();
        if !taken.is_empty() {
            let ended = self.give_up(taken.clone(), Handover::Revoke).await?;
            self.owned.retain(|p| !taken.contains(p));
            if self.cancel.is_cancelled() {
                return ControlFlow::Break(());
            }
            if ended.is_some() {
                return self.after_revocation(ended).await;
            }
        }
        let added: Vec<i32> = synced.partitions.difference(&self.owned).copied().collect();
        self.owned = synced.partitions;
        self.link.note_owned(synced.generation, &added);
        let assigned = GroupEvent::Assigned {
            generation: synced.generation,
            partitions: added,
            took: self.since.elapsed(),
        };
        if self.events.send(assigned).await.is_err() {
            return ControlFlow::Break(());
        }
        if rejoin {
            // Eager: nothing is owned (everything was given up before the join), and what a
            // cooperative member kept stays through the next round.
            self.reason = "rebalance in progress";
            return ControlFlow::Continue(());
        }
        let protocol = followed(&self.config, synced.protocol);
        if protocol == RebalanceProtocol::Cooperative && !taken.is_empty() {
            self.reason = "cooperative: partitions given up";
            return ControlFlow::Continue(());
        }
        self.stable(protocol).await
    }

    /// When `synced` was read too late to trust ([`Self::synced`]), what a heartbeat said of
    /// its generation (`Break`: the member stops); `None` when it was read in time.
    async fn read_late(
        &self,
        synced: &Synced,
    ) -> Option<ControlFlow<(), Result<Confirmed, Ended>>> {
        let config = &self.config;
        let bound = config.session_timeout.min(config.rebalance_timeout);
        let trusted = bound.saturating_sub(config.heartbeat_interval);
        if synced.sent.elapsed() < trusted {
            return None;
        }
        warn!(group = %self.link.group_id, generation = synced.generation, read_after = ?synced.sent.elapsed(), "group: the assignment was read late; asking the coordinator whether its generation still holds");
        Some(tokio::select! {
            confirmed = confirm(&self.link, config.session_timeout) => ControlFlow::Continue(confirmed),
            () = self.cancel.cancelled() => ControlFlow::Break(()),
        })
    }

    /// Heartbeats through a stable generation; how it ended says what the next round needs:
    /// after a lost generation everything owned is lost, and with an eager assignor it is
    /// revoked first.
    async fn stable(&mut self, protocol: RebalanceProtocol) -> ControlFlow<()> {
        // From the round's answer (or the revocation's last heartbeat answered).
        let mut contact = self.last_contact;
        let link = &self.link;
        let beats = heartbeat(link, &self.config, &self.cancel, Beat::Stable, &mut contact);
        // Every member watches: the leader's join rebalances the group, and a member cannot
        // always tell it leads (a static leader restarted in place on a coordinator older than
        // JoinGroup v9 is told the old leader id). A follower's join changes nothing but costs
        // a revocation under an eager assignor, once per change of the topic's size.
        let every = self.config.metadata_refresh;
        let resized = topic_size::changed(every, self.joined_size, || topic_size::read(link));
        // A heartbeat dropped in flight is one the coordinator took or not; the next join
        // speaks for the session either way.
        let ended = tokio::select! {
            ended = beats => Some(ended),
            (before, now) = resized => {
                info!(group = %link.group_id, topic = %link.topic, before, now, "group: the topic's partition count changed; joining again so that every partition has an owner");
                None
            }
        };
        // A heartbeat answer ended the run: contact now. The watch did: contact is the last
        // heartbeat answered, so that it does not extend a session the coordinator may have
        // ended already.
        self.since = tokio::time::Instant::now();
        self.last_contact = if ended.is_some() { self.since } else { contact };
        match ended {
            None => self.reason = "partition count changed",
            Some(Ended::Cancelled) => return ControlFlow::Break(()),
            Some(Ended::Rejoin) => self.reason = "rebalance in progress",
            Some(Ended::Lost) => return self.generation_lost().await,
            Some(Ended::Fenced) => return self.fenced().await,
        }
        if protocol == RebalanceProtocol::Eager {
            let ended = self.give_up_owned(Handover::Revoke).await?;
            return self.after_revocation(ended).await;
        }
        ControlFlow::Continue(())
    }

    /// What follows a revocation the heartbeats ran beside ([`Self::give_up`]): nothing when
    /// the session held (`None`), else what we still own is lost, or, fenced, the member stops.
    async fn after_revocation(&mut self, ended: Option<Ended>) -> ControlFlow<()> {
        match ended {
            Some(Ended::Fenced) => self.fenced().await,
            Some(_) => self.generation_lost().await,
            None => ControlFlow::Continue(()),
        }
    }

    /// Another process joined with our static instance id, and the coordinator gave it our
    /// place: what we own is lost, and the member stops, as Kafka's clients do. Joining again
    /// would be refused for as long as the other runs (or, had the coordinator forgotten it,
    /// fence it in turn); two processes must not share an instance id.
    async fn fenced(&mut self) -> ControlFlow<()> {
        error!(
            group = %self.link.group_id,
            instance = self.link.instance_id.as_deref().unwrap_or_default(),
            "group: another process joined the group with our group_instance_id and took our place; this member gives its partitions up and stops consuming until restarted"
        );
        self.lose_owned().await?;
        ControlFlow::Break(())
    }

    /// Our generation is over: what we own is lost, given up without heartbeats (our
    /// generation is gone), and the next round joins with no generation.
    async fn generation_lost(&mut self) -> ControlFlow<()> {
        self.reason = "generation lost";
        self.lose_owned().await?;
        ControlFlow::Continue(())
    }

    /// Our generation is over: the next round joins with none (the member id stays).
    fn forget_generation(&self) {
        self.link.set_membership(Membership {
            generation: -1,
            ..self.link.membership()
        });
    }

    /// Our generation is over: the next round joins with none, and every partition we own is
    /// [`Handover::Lose`]. `Break` when the consumer is gone.
    async fn lose_owned(&mut self) -> ControlFlow<()> {
        self.forget_generation();
        self.give_up_owned(Handover::Lose).await?;
        ControlFlow::Continue(())
    }

    /// Gives up every partition we own; see [`Self::give_up`].
    async fn give_up_owned(&mut self, how: Handover) -> ControlFlow<(), Option<Ended>> {
        let owned = std::mem::take(&mut self.owned);
        self.give_up(owned, how).await
    }

    /// [`hand_over`] within the rebalance timeout; `Break` when the consumer is gone. A
    /// [`Handover::Revoke`] (we are still in the generation) runs heartbeats beside, which
    /// keep the session while the consumer finishes its batches, which may take longer than a
    /// session; then `Continue(Some(..))` says the generation was lost (or we were fenced)
    /// meanwhile.
    async fn give_up(
        &mut self,
        partitions: BTreeSet<i32>,
        how: Handover,
    ) -> ControlFlow<(), Option<Ended>> {
        let generation = self.link.membership().generation;
        // Before the consumer hears of it: a start it has not made yet is not made.
        self.link.note_given_up(&partitions);
        let handing_over = hand_over(
            &self.events,
            (partitions, generation),
            how,
            self.config.rebalance_timeout,
        );
        let mut lost = None;
        let acknowledged = if how == Handover::Revoke {
            tokio::pin!(handing_over);
            let mut contact = self.last_contact;
            let beat = Beat::Revoking;
            let acknowledged = tokio::select! {
                biased;
                done = &mut handing_over => done,
                ended = heartbeat(&self.link, &self.config, &self.cancel, beat, &mut contact) => {
                    lost = Some(ended).filter(|e| matches!(e, Ended::Lost | Ended::Fenced));
                    if lost.is_some() {
                        // The consumer, still finishing the revocation, commits nothing to a
                        // generation that is over.
                        self.forget_generation();
                    }
                    handing_over.await
                }
            };
            // The session the next round's failure is judged by runs from the last heartbeat
            // answered, not from before the revocation.
            self.last_contact = contact;
            acknowledged
        } else {
            handing_over.await
        };
        if acknowledged {
            ControlFlow::Continue(lost)
        } else {
            ControlFlow::Break(())
        }
    }
}

/// Tells the consumer to give up `partitions`, ours in `generation` ([`GroupEvent::Revoked`]
/// or [`GroupEvent::Lost`], as `how` says) and waits for its acknowledgement (at most
/// `within`). False when the consumer is gone.
async fn hand_over(
    events: &mpsc::Sender<GroupEvent>,
    (partitions, generation): (BTreeSet<i32>, i32),
    how: Handover,
    within: Duration,
) -> bool {
    if partitions.is_empty() {
        return true;
    }
    let (done, acked) = oneshot::channel();
    let partitions = partitions.into_iter().collect();
    let event = match how {
        Handover::Revoke => GroupEvent::Revoked {
            partitions,
            generation,
            done,
        },
        Handover::Lose => GroupEvent::Lost { partitions, done },
    };
    if events.send(event).await.is_err() {
        return false;
    }
    match tokio::time::timeout(within, acked).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            warn!("group: partitions not given up within the rebalance timeout");
            true
        }
    }
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests;
