//! The consumer in group mode: a [`GroupMember`] decides which partitions this instance owns;
//! this supervisor starts a partition task for each assigned one and stops it when the
//! partition is revoked or lost.
//!
//! ```text
//!  GroupMember ── Assigned(gen, ps) ─► OffsetFetch(ps) ─► task per p (claims the fence first)
//!              ── Revoked(ps, done) ─► cancel tasks, await (batch in hand commits)
//!                                      ─► OffsetCommit(store offsets of ps) ─► done
//!              ── Lost(ps, done) ─► cancel tasks, await ─► done (no generation to commit in)
//!  every auto_commit_interval_ms ─► OffsetCommit(store offsets of the owned partitions), on a
//!                                   task of its own (stopped by a revocation or a loss)
//!  (a partition's offset goes to the group only once its task stored where it starts)
//!  shutdown ─► stop every task ─► OffsetCommit ─► LeaveGroup (dynamic members)
//! ```
//!
//! The store stays the source of truth: its offsets commit with the effects, and what goes to
//! Kafka is a copy, read back from the store, so that tools see our position and lag, and a
//! new instance with an empty store starts where the group stopped.
mod existing;
mod group_offsets;
mod member_config;
mod owned;

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::task::JoinHandle;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::{error, info, warn};

use super::partition::Context;
use crate::kafka::{
    Client,
    group::{GroupEvent, GroupMember},
};
use existing::existing;
use group_offsets::{commit, commit_handover, committed};
use member_config::member_config;
use owned::{Owned, stop};

/// Longest wait for the group's committed offsets of new partitions, for an offset commit,
/// for LeaveGroup, and for the topic's size while assigned partitions wait for it.
const REQUEST_DEADLINE: Duration = Duration::from_secs(5);

/// Runs the group member and the partition tasks it asks for until `cancel`.
pub(crate) async fn supervise(
    client: Arc<Client>,
    ctx: Arc<Context>,
    tasks: TaskTracker,
    cancel: CancellationToken,
) {
    let (member, mut events) = GroupMember::start(Arc::clone(&client), member_config(&ctx));
    let mut commits =
        tokio::time::interval(Duration::from_millis(ctx.config.auto_commit_interval_ms));
    commits.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut supervisor = GroupSupervisor {
        client,
        ctx,
        tasks,
        cancel: cancel.clone(),
        member,
        owned: BTreeMap::new(),
        waiting: BTreeMap::new(),
        periodic: None,
    };
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            event = events.recv() => match event {
                None => {
                    // A member that panicked is a defect, carried on to the supervisor's task,
                    // which the service watches (it stops, to be started again).
                    if let Some(panic) = supervisor.member.ended_by_panic().await {
                        std::panic::resume_unwind(panic);
                    }
                    // The member stopped on its own: another process took our static place.
                    error!("consumer: the group member stopped; this instance consumes nothing until it is restarted");
                    supervisor.ctx.metrics.generation.set(-1);
                    supervisor.ctx.metrics.member_stopped.set(1);
                    break;
                }
                Some(GroupEvent::Assigned { generation, partitions, took }) => {
                    supervisor.assigned(generation, partitions, took).await;
                }
                Some(GroupEvent::Revoked { partitions, generation, done }) => {
                    info!(count = partitions.len(), partitions = ?few(&partitions), "consumer: partitions revoked");
                    // Their offsets go to the group in the generation they were ours in (the
                    // member rejoins without us once the rebalance timeout passed).
                    supervisor.stop_periodic();
                    let handed = supervisor.give_up(&partitions).await;
                    let patience = supervisor.handover_patience();
                    commit_handover(&supervisor.member.handle(), &supervisor.ctx, &handed, generation, patience).await;
                    let _ = done.send(());
                }
                Some(GroupEvent::Lost { partitions, done }) => {
                    warn!(count = partitions.len(), partitions = ?few(&partitions), "consumer: partitions lost (our group generation is over); their offsets stay in the store, not committed to the group");
                    supervisor.stop_periodic();
                    let _ = supervisor.give_up(&partitions).await;
                    supervisor.ctx.metrics.generation.set(-1);
                    let _ = done.send(());
                }
            },
            _ = commits.tick() => {
                supervisor.start_shown().await;
                supervisor.commit_owned();
            }
        }
    }
    // A revocation (or loss) still queued is answered by dropping it: the member task ends.
    drop(events);
    supervisor.shutdown().await;
}

/// The group member of this instance and the partition tasks it asked for.
struct GroupSupervisor {
    /// The process's Kafka client, for the partition tasks' fetches.
    client: Arc<Client>,
    /// What the partition tasks share.
    ctx: Arc<Context>,
    /// Where the partition tasks run (the consumer waits for them at shutdown).
    tasks: TaskTracker,
    /// The consumer's shutdown; each partition task has a child of it.
    cancel: CancellationToken,
    /// Our membership of the group: its events, its offset commits.
    member: GroupMember,
    /// The task of each partition we own.
    owned: BTreeMap<i32, Owned>,
    /// Partitions assigned to us that the topic's metadata did not show yet (added to the
    /// topic since a broker last heard), with the generation they were assigned in: each
    /// starts once the metadata shows it ([`existing`]).
    waiting: BTreeMap<i32, i32>,
    /// The periodic commit of the owned partitions' offsets, while it runs: on a task of its
    /// own, so that a coordinator that does not answer (up to a request's deadline) holds up
    /// no revocation or loss meanwhile.
    periodic: Option<JoinHandle<()>>,
}

impl GroupSupervisor {
    /// Starts a task for each of `partitions`, assigned in `generation` after a rebalance
    /// that took `took`, from the group's committed offsets.
    async fn assigned(&mut self, generation: i32, partitions: Vec<i32>, took: Duration) {
        let metrics = Arc::clone(&self.ctx.metrics);
        info!(
            generation,
            count = partitions.len(),
            partitions = ?few(&partitions),
            rebalance_secs = took.as_secs_f64(),
            "consumer: partitions assigned"
        );
        metrics.rebalances.add(1);
        metrics.rebalance_seconds.observe(took.as_secs_f64());
        metrics.generation.set(i64::from(generation));
        let (partitions, waiting) =
            existing(&self.client, &self.ctx.topic, partitions, REQUEST_DEADLINE).await;
        self.waiting
            .extend(waiting.into_iter().map(|p| (p, generation)));
        self.start(generation, partitions).await;
    }

    /// Starts a task for each of `partitions`, assigned in `generation`, from the group's
    /// committed offsets; none once the member's generation is over.
    async fn start(&mut self, generation: i32, partitions: Vec<i32>) {
        let partitions = self.still_ours(generation, partitions);
        if partitions.is_empty() {
            return;
        }
        let committed = committed(
            &self.member.handle(),
            &partitions,
            self.committed_patience(),
        )
        .await;
        // That read may have taken seconds, long enough for the generation to end, or for
        // the member to give the partitions up while their revocation waits behind this read.
        for p in self.still_ours(generation, partitions) {
            self.spawn(p, generation, committed.get(&p).copied());
        }
        self.report_running();
    }

    /// Those of `partitions`, assigned in `generation`, that are still the member's from that
    /// assignment. The others must not start, or a task would claim a partition its next owner
    /// may hold: the generation ended (a loss is on its way), or the member revoked them (the
    /// revocation waits behind this start, which took longer than the rebalance timeout the
    /// member waits for it; a rebalance since may have given them to another member, or back
    /// to us, and then their new assignment starts them).
    fn still_ours(&self, generation: i32, partitions: Vec<i32>) -> Vec<i32> {
        let over = self.member.membership().generation < 0;
        let (ours, gone): (Vec<i32>, Vec<i32>) = partitions
            .into_iter()
            .partition(|&p| !over && self.member.owned_since(p) == Some(generation));
        if !gone.is_empty() {
            info!(
                generation,
                count = gone.len(),
                partitions = ?few(&gone),
                "consumer: partitions given up (their generation ended, or a rebalance took them) before they started; not starting them"
            );
        }
        ours
    }

    /// Starts the waiting partitions that the topic's metadata shows now.
    async fn start_shown(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        // Bounded: the supervisor's events (a revocation, a loss, the shutdown) wait behind
        // it, and with the brokers silent a metadata read takes a connect timeout per address.
        let reading = self.client.partition_count(&self.ctx.topic);
        let Ok(Ok(count)) = tokio::time::timeout(REQUEST_DEADLINE, reading).await else {
            return;
        };
        let waiting: Vec<i32> = self.waiting.keys().copied().collect();
        let mut by_generation: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
        for p in existing::shown(&waiting, count) {
            if let Some(generation) = self.waiting.remove(&p) {
                by_generation.entry(generation).or_default().push(p);
            }
        }
        for (generation, partitions) in by_generation {
            info!(topic = %self.ctx.topic, count = partitions.len(), partitions = ?few(&partitions), "consumer: the topic's metadata shows assigned partitions that waited; starting them");
            self.start(generation, partitions).await;
        }
    }

    /// Starts the task of partition `p`, assigned in `generation`, with the group's committed
    /// offset of it.
    fn spawn(&mut self, p: i32, generation: i32, committed: Option<i64>) {
        let (client, ctx) = (&self.client, &self.ctx);
        let owned = Owned::spawn(
            client,
            ctx,
            &self.tasks,
            &self.cancel,
            p,
            generation,
            committed,
        );
        self.owned.insert(p, owned);
    }

    /// The partitions we own whose task stored its start offset: the ones whose store offset
    /// may go to the group ([`Owned::has_started`]).
    fn started(&self) -> Vec<i32> {
        let owned = self.owned.iter();
        owned
            .filter(|(_, o)| o.has_started())
            .map(|(p, _)| *p)
            .collect()
    }

    /// Stops the tasks of `partitions` (each commits its batch in hand to the store); those
    /// whose task had stored its start offset ([`stop`]).
    async fn give_up(&mut self, partitions: &[i32]) -> Vec<i32> {
        // A set: the leader may be another client, and an assignment may name many numbers.
        let gone: std::collections::HashSet<i32> = partitions.iter().copied().collect();
        self.waiting.retain(|p, _| !gone.contains(p));
        let stopped: Vec<(i32, Owned)> = partitions
            .iter()
            .filter_map(|p| self.owned.remove(p).map(|o| (*p, o)))
            .collect();
        let started = stop(stopped).await;
        // Given up once their tasks stopped: the metrics say so before a commit to the group,
        // which may wait for a coordinator that no longer answers.
        for p in partitions {
            self.ctx.metrics.drop_lag(&self.ctx.topic, *p);
        }
        self.report_running();
        started
    }

    /// Starts again the tasks that ended while their partitions are still ours
    /// ([`Self::restart_ended`]), then commits the owned partitions' offsets.
    /// One commit at a time: a tick while the last one still waits commits nothing.
    fn commit_owned(&mut self) {
        self.restart_ended();
        if self.periodic.as_ref().is_some_and(|c| !c.is_finished()) {
            return;
        }
        let partitions = self.started();
        let (member, ctx) = (self.member.handle(), Arc::clone(&self.ctx));
        self.periodic = Some(tokio::spawn(async move {
            commit(&member, &ctx, &partitions).await;
        }));
    }

    /// Stops the periodic commit, if it runs: the partitions are handed over or lost, and
    /// their offsets go to the group (or not) as that says.
    fn stop_periodic(&mut self) {
        if let Some(c) = self.periodic.take() {
            c.abort();
        }
    }

    /// A partition task ends on its own when another owner claimed the partition (it was
    /// fenced). When that owner is a member the group dropped (a frozen instance that woke up
    /// and claimed before its heartbeat told it), the partition would stay unconsumed for as
    /// long as the group keeps it with us, which a sticky assignor does for good. So a task
    /// that ended is started again (claiming the partition back) once we have stayed a member
    /// with the partition for [`restart_after`]: three session timeouts, by which a member
    /// that lost the partition, the stale claimer or we, has heard it from the coordinator and
    /// given the partition up. A member whose heartbeats go unanswered gives its partitions up
    /// when its session ends (10.3 s after the cut, with a 10 s session, in
    /// `tests/it/postgres/netns/broker_cut.rs`); the rest is room for a revocation that waits
    /// for the batch in hand. And only once a heartbeat sent after the task ended was answered
    /// in the generation we hold: a member waiting in a rebalance round sends none, and one
    /// whose round outlives its session (a lost SyncGroup answer, a cut mid-JoinGroup, with
    /// cooperative assignors, which keep their partitions through a round) is no longer in the
    /// group, whose new owner claimed the partition.
    fn restart_ended(&mut self) {
        let after = restart_after(&self.ctx);
        let generation = self.member.membership().generation;
        let answered = self.member.heartbeat_answered();
        let confirmed_since =
            |ended: Instant| answered.is_some_and(|(g, sent)| g == generation && sent > ended);
        let mut again = Vec::new();
        for (p, o) in &mut self.owned {
            if !o.task.is_finished() {
                continue;
            }
            let Some(ended) = o.ended else {
                o.ended = Some(Instant::now());
                self.ctx.metrics.drop_lag(&self.ctx.topic, *p);
                warn!(topic = %self.ctx.topic, partition = *p, ?after, "consumer: the partition task ended (another owner claimed it, or it failed) while the group gives the partition to us; claiming it again if that lasts, once a heartbeat since is answered");
                continue;
            };
            // Not one the member has given up since: its revocation or loss is on its way.
            let still_ours = self.member.owned_since(*p).is_some();
            if ended.elapsed() >= after && generation >= 0 && confirmed_since(ended) && still_ours {
                again.push((*p, o.committed));
            }
        }
        // With the group's offset the partition's assignment came with: the task that ended
        // may have ended before it stored its start, and the store's offset can be older.
        for (p, committed) in again {
            info!(topic = %self.ctx.topic, partition = p, generation, "consumer: claiming the partition again");
            self.spawn(p, generation, committed);
        }
        self.report_running();
    }

    /// Sets the assigned-partitions gauge to what this instance consumes: the partitions whose
    /// task runs.
    fn report_running(&self) {
        let running = self
            .owned
            .values()
            .filter(|o| !o.task.is_finished())
            .count();
        self.ctx.metrics.assigned_partitions.set(running as i64);
    }

    /// Stops every task, commits their offsets and leaves the group.
    async fn shutdown(mut self) {
        self.stop_periodic();
        let generation = self.member.membership().generation;
        let partitions = stop(self.owned.into_iter().collect()).await;
        commit_handover(
            &self.member.handle(),
            &self.ctx,
            &partitions,
            generation,
            REQUEST_DEADLINE,
        )
        .await;
        self.member.stop(REQUEST_DEADLINE).await;
    }

    /// How long the group's committed offsets of new partitions may be asked for: the
    /// supervisor handles no revocation meanwhile, whose acknowledgement the member awaits for
    /// at most the rebalance timeout.
    fn committed_patience(&self) -> Duration {
        let rebalance = Duration::from_millis(u64::from(self.ctx.config.rebalance_timeout_ms));
        (rebalance / 4).min(group_offsets::COMMITTED_PATIENCE)
    }

    /// How long a revocation's offset commit may be tried: within the rebalance timeout,
    /// which bounds how long the member waits for the revocation.
    fn handover_patience(&self) -> Duration {
        Duration::from_millis(u64::from(self.ctx.config.rebalance_timeout_ms) / 2)
    }
}

/// How long a partition task must have been ended, with the partition still ours, before it is
/// started again ([`GroupSupervisor::restart_ended`]).
fn restart_after(ctx: &Context) -> Duration {
    Duration::from_millis(u64::from(ctx.config.session_timeout_ms) * 3)
}

/// The first partitions of a list, for a log line: a leader may be another client, and an
/// assignment may name very many.
fn few(partitions: &[i32]) -> &[i32] {
    &partitions[..partitions.len().min(16)]
}
