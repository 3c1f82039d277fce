//! The member's link to its group coordinator: finding it (again, after it moved or its broker
//! restarted), calling it, and the membership (member id, generation) those calls carry.
//!
//! A connection that fails, or an answer that says the coordinator moved (NOT_COORDINATOR,
//! COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS), drops the cached coordinator; the
//! next call asks FindCoordinator again.
use std::{collections::BTreeMap, sync::Arc};

use parking_lot::Mutex;

use super::GroupError;
use crate::kafka::protocol::{
    Call, Cluster, CommittedOffset, Connection, CoordinatorType, FindCoordinator, OffsetCommit,
    OffsetFetch,
};

/// Kafka error codes the member acts on.
pub(crate) mod code {
    /// The coordinator is still loading the group.
    pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    /// No coordinator right now.
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    /// The group moved to another broker.
    pub const NOT_COORDINATOR: i16 = 16;
    /// Our generation is over.
    pub const ILLEGAL_GENERATION: i16 = 22;
    /// The coordinator forgot our member id (session timeout, or it restarted).
    pub const UNKNOWN_MEMBER_ID: i16 = 25;
    /// A rebalance started: rejoin.
    pub const REBALANCE_IN_PROGRESS: i16 = 27;
    /// Join again with the member id in the answer (JoinGroup v4 and later).
    pub const MEMBER_ID_REQUIRED: i16 = 79;
    /// Another process uses our static instance id.
    pub const FENCED_INSTANCE_ID: i16 = 82;

    /// Whether `code` says to look for the coordinator again.
    pub fn coordinator_moved(code: i16) -> bool {
        matches!(
            code,
            COORDINATOR_LOAD_IN_PROGRESS | COORDINATOR_NOT_AVAILABLE | NOT_COORDINATOR
        )
    }
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

/// The coordinator link shared by the member task and offset commits.
#[derive(Debug)]
pub(crate) struct Link {
    pub cluster: Arc<Cluster>,
    pub group_id: String,
    pub topic: String,
    pub instance_id: Option<String>,
    coordinator: Mutex<Option<Arc<Connection>>>,
    membership: Mutex<Membership>,
}

impl Link {
    pub fn new(
        cluster: Arc<Cluster>,
        group_id: String,
        topic: String,
        instance_id: Option<String>,
    ) -> Self {
        Self {
            cluster,
            group_id,
            topic,
            instance_id,
            coordinator: Mutex::new(None),
            membership: Mutex::new(Membership::default()),
        }
    }

    pub fn membership(&self) -> Membership {
        self.membership.lock().clone()
    }

    pub fn set_membership(&self, m: Membership) {
        *self.membership.lock() = m;
    }

    /// Forgets the coordinator (it moved, or its connection failed).
    pub fn forget_coordinator(&self) {
        if let Some(c) = self.coordinator.lock().take() {
            self.cluster.forget(&c);
        }
    }

    async fn coordinator(&self) -> Result<Arc<Connection>, GroupError> {
        if let Some(c) = self.coordinator.lock().as_ref() {
            return Ok(Arc::clone(c));
        }
        let any = self.cluster.any().await?;
        let answer = match any
            .call(&FindCoordinator {
                key: self.group_id.clone(),
                key_type: CoordinatorType::Group,
            })
            .await
        {
            Ok(a) => a,
            Err(e) => {
                if e.is_connection_lost() {
                    self.cluster.forget(&any);
                }
                return Err(GroupError::Call(e));
            }
        };
        let found =
            FindCoordinator::found(&answer.body, answer.version).ok_or(GroupError::Code {
                api: "FindCoordinator",
                code: -1,
            })?;
        if found.error_code != 0 {
            return Err(GroupError::Code {
                api: "FindCoordinator",
                code: found.error_code,
            });
        }
        let conn = self.cluster.connection(&found.addr).await?;
        *self.coordinator.lock() = Some(Arc::clone(&conn));
        Ok(conn)
    }

    /// Calls the coordinator; a failed connection is forgotten.
    pub async fn call<C: Call>(&self, call: &C) -> Result<C::Response, GroupError> {
        let conn = self.coordinator().await?;
        match conn.call(call).await {
            Ok(answer) => Ok(answer.body),
            Err(e) => {
                if e.is_connection_lost() {
                    self.forget_coordinator();
                }
                Err(GroupError::Call(e))
            }
        }
    }

    /// Commits `offsets` (partition → next offset) of our topic in our current generation.
    pub async fn commit(&self, offsets: &BTreeMap<i32, i64>) -> Result<(), GroupError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let m = self.membership();
        let body = self
            .call(&OffsetCommit {
                group_id: self.group_id.clone(),
                generation_id: m.generation,
                member_id: m.member_id,
                group_instance_id: self.instance_id.clone(),
                offsets: offsets
                    .iter()
                    .map(|(p, o)| CommittedOffset {
                        topic: self.topic.clone(),
                        partition: *p,
                        offset: *o,
                        metadata: None,
                        error_code: 0,
                    })
                    .collect(),
            })
            .await?;
        let failed = body
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| p.error_code)
            .find(|c| *c != 0);
        match failed {
            None => Ok(()),
            Some(code) => self.failed("OffsetCommit", code),
        }
    }

    /// The group's committed offsets of `partitions` of our topic (absent: none committed).
    pub async fn committed(&self, partitions: &[i32]) -> Result<BTreeMap<i32, i64>, GroupError> {
        let call = OffsetFetch {
            group_id: self.group_id.clone(),
            topics: Some(vec![(self.topic.clone(), partitions.to_vec())]),
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
        match OffsetFetch::offsets(&answer.body, answer.version) {
            Ok(offsets) => Ok(offsets
                .into_iter()
                .filter(|o| o.topic == self.topic && o.error_code == 0 && o.offset >= 0)
                .map(|o| (o.partition, o.offset))
                .collect()),
            Err(code) => self.failed("OffsetFetch", code),
        }
    }

    /// An error answer: forgets a coordinator that moved, and returns the code as an error.
    pub fn failed<T>(&self, api: &'static str, code: i16) -> Result<T, GroupError> {
        if code::coordinator_moved(code) {
            self.forget_coordinator();
        }
        Err(GroupError::Code { api, code })
    }
}
