//! The member's link to its group coordinator: finding it (again, after it moved or its broker
//! restarted), calling it, and the membership (member id, generation) those calls carry.
//!
//! A connection that fails, or an answer that says the coordinator moved
//! ([`ErrorCode::coordinator_moved`]: NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE,
//! COORDINATOR_LOAD_IN_PROGRESS), drops the cached coordinator; the next call asks
//! FindCoordinator again.
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use parking_lot::Mutex;

use super::GroupError;
use crate::kafka::{
    Client,
    error_code::{ErrorCode, ResponseError},
    protocol::{Call, CommittedOffset, Connection, OffsetCommit, OffsetFetch},
};

/// Whether `code` says our generation is over: the coordinator forgot our member id (session
/// timeout, or it restarted), the generation moved on, another process uses our static
/// instance id, or the group was full when we joined again (Kafka removes the member then,
/// and answers its later joins with the same code, never UNKNOWN_MEMBER_ID). The partitions
/// are lost, not revoked. The member task asks first whether the
/// code is FENCED_INSTANCE_ID, after which it stops rather than joining again.
pub(crate) fn generation_lost(code: ErrorCode) -> bool {
    matches!(
        code.error(),
        Some(
            ResponseError::UnknownMemberId
                | ResponseError::IllegalGeneration
                | ResponseError::FencedInstanceId
                | ResponseError::GroupMaxSizeReached
        )
    )
}

/// Who we are in the group right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// Our member id (empty before the first join, and after the coordinator forgot us).
    pub member_id: String,
    /// The generation of our current assignment (−1: none).
    pub generation: i32,
}

impl Default for Membership {
    fn default() -> Self {
        Self {
            member_id: String::new(),
            generation: -1,
        }
    }
}

/// The member's link to its group coordinator, shared by the member task and offset commits.
#[derive(Debug)]
pub(crate) struct CoordinatorLink {
    /// The process's Kafka client: FindCoordinator, and the coordinator's connection.
    pub client: Arc<Client>,
    /// The group.
    pub group_id: String,
    /// The one topic the member subscribes to.
    pub topic: String,
    /// Our static membership id, if any (KIP-345).
    pub instance_id: Option<String>,
    /// The coordinator's connection, until it moves or fails.
    coordinator: Mutex<Option<Arc<Connection>>>,
    /// Our member id and generation, as every call carries them.
    membership: Mutex<Membership>,
    /// Woken when an answer other than a heartbeat's says our generation may be over (an
    /// OffsetCommit refused with UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION or FENCED_INSTANCE_ID):
    /// the member task then heartbeats at once rather than at its interval, and that answer
    /// decides, as Kafka's consumer rejoins on such a commit error.
    pub check_now: tokio::sync::Notify,
    /// When the coordinator last answered a JoinGroup or SyncGroup of ours in a way that says it
    /// kept us: a member waiting in a rebalance is kept alive, and a JoinGroup answered restarts
    /// its session ([`CoordinatorLink::note_kept`]).
    kept_at: Mutex<Option<tokio::time::Instant>>,
    /// The generation and send time of the last heartbeat the coordinator answered without
    /// an error: the last word that we were still a member in that generation.
    heartbeat_answered: Mutex<Option<(i32, tokio::time::Instant)>>,
    /// The partitions we own, each with the generation it became ours in: noted before the
    /// consumer hears of an assignment, and cleared before it hears of a revocation or a loss.
    owned_since: Mutex<BTreeMap<i32, i32>>,
}

impl CoordinatorLink {
    pub fn new(
        client: Arc<Client>,
        group_id: String,
        topic: String,
        instance_id: Option<String>,
    ) -> Self {
        Self {
            client,
            group_id,
            topic,
            instance_id,
            coordinator: Mutex::new(None),
            membership: Mutex::new(Membership::default()),
            check_now: tokio::sync::Notify::new(),
            kept_at: Mutex::new(None),
            heartbeat_answered: Mutex::new(None),
            owned_since: Mutex::new(BTreeMap::new()),
        }
    }

    /// Notes that the coordinator answered a JoinGroup or SyncGroup of ours now, with success
    /// or REBALANCE_IN_PROGRESS: it kept us while the request waited. Not a refusal that says
    /// it moved or that our generation is over, nor any other request's answer (a heartbeat
    /// counts from when it was sent, in the heartbeat loop).
    pub fn note_kept(&self) {
        *self.kept_at.lock() = Some(tokio::time::Instant::now());
    }

    /// When [`CoordinatorLink::note_kept`] last noted an answer.
    pub fn kept_at(&self) -> Option<tokio::time::Instant> {
        *self.kept_at.lock()
    }

    /// Notes that the coordinator answered a heartbeat of `generation`, sent at `sent`,
    /// without an error.
    pub fn note_heartbeat_answered(&self, generation: i32, sent: tokio::time::Instant) {
        *self.heartbeat_answered.lock() = Some((generation, sent));
    }

    /// The generation and send time of the last heartbeat answered without an error.
    pub fn heartbeat_answered(&self) -> Option<(i32, tokio::time::Instant)> {
        *self.heartbeat_answered.lock()
    }

    pub fn membership(&self) -> Membership {
        self.membership.lock().clone()
    }

    /// Notes that `partitions` became ours in `generation`.
    pub fn note_owned(&self, generation: i32, partitions: &[i32]) {
        let mut owned = self.owned_since.lock();
        owned.extend(partitions.iter().map(|&p| (p, generation)));
    }

    /// Notes that `partitions` are ours no longer (revoked or lost).
    pub fn note_given_up(&self, partitions: &BTreeSet<i32>) {
        self.owned_since
            .lock()
            .retain(|p, _| !partitions.contains(p));
    }

    /// The generation partition `p` became ours in, while it is ours.
    pub fn owned_since(&self, p: i32) -> Option<i32> {
        self.owned_since.lock().get(&p).copied()
    }

    pub fn set_membership(&self, m: Membership) {
        *self.membership.lock() = m;
    }

    /// Forgets the coordinator (it moved, or its connection failed).
    pub fn forget_coordinator(&self) {
        if let Some(c) = self.coordinator.lock().take() {
            self.client.forget(&c);
        }
    }

    /// The coordinator's connection: the one kept, unless the broker hung it up (then it is
    /// looked up again, and no request fails on it), or a new lookup.
    async fn coordinator(&self) -> Result<Arc<Connection>, GroupError> {
        {
            let mut kept = self.coordinator.lock();
            match kept.take() {
                Some(c) if !c.is_closed() => {
                    *kept = Some(Arc::clone(&c));
                    return Ok(c);
                }
                Some(hung_up) => self.client.forget(&hung_up),
                None => {}
            }
        }
        let conn = self.client.coordinator(&self.group_id).await?;
        *self.coordinator.lock() = Some(Arc::clone(&conn));
        Ok(conn)
    }

    /// Calls the coordinator; a failed connection is forgotten.
    pub async fn call<C: Call>(&self, call: &C) -> Result<C::Response, GroupError> {
        self.call_bounded(call, |request_timeout| request_timeout)
            .await
    }

    /// [`CoordinatorLink::call`] that gives up after `timeout` instead of the client's request
    /// timeout, counting the connection as lost.
    pub async fn call_within<C: Call>(
        &self,
        call: &C,
        timeout: std::time::Duration,
    ) -> Result<C::Response, GroupError> {
        self.call_bounded(call, |_| timeout).await
    }

    /// [`CoordinatorLink::call`] for a request the coordinator holds while the group
    /// rebalances (JoinGroup, SyncGroup): the answer may take `held` when that is longer than
    /// the request timeout (a group's rebalance timeout may be up to 5 minutes).
    pub async fn call_held<C: Call>(
        &self,
        call: &C,
        held: std::time::Duration,
    ) -> Result<C::Response, GroupError> {
        self.call_bounded(call, |request_timeout| request_timeout.max(held))
            .await
    }

    /// Calls the coordinator with the timeout `timeout` makes of the connection's request
    /// timeout; a failed connection is forgotten.
    async fn call_bounded<C: Call>(
        &self,
        call: &C,
        timeout: impl FnOnce(std::time::Duration) -> std::time::Duration,
    ) -> Result<C::Response, GroupError> {
        let conn = self.coordinator().await?;
        match conn
            .call_within(call, timeout(conn.request_timeout()))
            .await
        {
            Ok(answer) => Ok(answer.body),
            Err(e) => {
                if e.is_connection_lost() {
                    self.forget_coordinator();
                }
                Err(GroupError::Call(e))
            }
        }
    }

    /// Commits `offsets` (partition → next offset) of our topic in `generation` (our current
    /// one when `None`): the coordinator refuses it (ILLEGAL_GENERATION) once the group has
    /// moved past that generation.
    pub async fn commit(
        &self,
        offsets: &BTreeMap<i32, i64>,
        generation: Option<i32>,
    ) -> Result<(), GroupError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let m = self.membership();
        let body = self
            .call(&OffsetCommit {
                group_id: self.group_id.clone(),
                generation_id: generation.unwrap_or(m.generation),
                member_id: m.member_id,
                group_instance_id: self.instance_id.clone(),
                offsets: offsets
                    .iter()
                    .map(|(p, o)| CommittedOffset {
                        topic: self.topic.clone(),
                        partition: *p,
                        offset: *o,
                        metadata: None,
                        error_code: ErrorCode::NONE,
                    })
                    .collect(),
            })
            .await?;
        let failed = body
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .find_map(|p| ErrorCode::failure(p.error_code));
        match failed {
            None => Ok(()),
            Some(code) => {
                if generation_lost(code) {
                    self.check_now.notify_one();
                }
                self.failed("OffsetCommit", code)
            }
        }
    }

    /// The group's committed offsets of `partitions` of our topic (absent: none committed);
    /// with `require_stable`, a partition whose transactional commit is pending fails the read.
    pub async fn committed(
        &self,
        partitions: &[i32],
        require_stable: bool,
    ) -> Result<BTreeMap<i32, i64>, GroupError> {
        let call = OffsetFetch {
            group_id: self.group_id.clone(),
            topics: Some(vec![(self.topic.clone(), partitions.to_vec())]),
            require_stable,
        };
        let conn = self.coordinator().await?;
        let answer = match conn.call(&call).await {
            Ok(a) => a,
            Err(e) => {
                if e.is_connection_lost() {
                    self.forget_coordinator();
                }
                return Err(GroupError::Call(e));
            }
        };
        let offsets = match OffsetFetch::offsets(&answer.body, answer.version) {
            Ok(offsets) => offsets,
            Err(code) => return self.failed("OffsetFetch", code),
        };
        // A transactional commit still pending on a partition (another member of the group
        // commits in transactions): its offset is not known yet, and the one before it is
        // not where a read_committed consumer starts. Asked again, as Kafka's consumer does.
        let unstable = offsets
            .iter()
            .find(|o| o.error_code.error() == Some(ResponseError::UnstableOffsetCommit));
        if let Some(o) = unstable {
            return Err(GroupError::Code {
                api: "OffsetFetch",
                code: o.error_code,
            });
        }
        Ok(offsets
            .into_iter()
            .filter(|o| o.topic == self.topic && o.error_code.is_ok() && o.offset >= 0)
            .map(|o| (o.partition, o.offset))
            .collect())
    }

    /// An error answer: forgets a coordinator that moved, and returns the code as an error.
    pub fn failed<T>(
        &self,
        api: &'static str,
        code: impl Into<ErrorCode>,
    ) -> Result<T, GroupError> {
        let code = code.into();
        if code.coordinator_moved() {
            self.forget_coordinator();
        }
        Err(GroupError::Code { api, code })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes after which the member's partitions are lost and it joins again; a rebalance
    /// or a moved coordinator is not one of them.
    #[test]
    fn the_codes_that_end_our_generation() {
        for lost in [
            ResponseError::UnknownMemberId,
            ResponseError::IllegalGeneration,
            ResponseError::FencedInstanceId,
            ResponseError::GroupMaxSizeReached,
        ] {
            assert!(generation_lost(ErrorCode::of(lost)), "{lost:?}");
        }
        for kept in [
            ResponseError::RebalanceInProgress,
            ResponseError::NotCoordinator,
            ResponseError::CoordinatorLoadInProgress,
        ] {
            assert!(!generation_lost(ErrorCode::of(kept)), "{kept:?}");
        }
        assert!(!generation_lost(ErrorCode::NONE));
    }
}
