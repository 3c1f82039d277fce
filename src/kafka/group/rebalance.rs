//! One rebalance round as a member sees it: JoinGroup (with a fresh member id if the coordinator
//! asks for one), the leader's assignment over every member's subscription, SyncGroup.
use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use kafka_protocol::messages::JoinGroupResponse;
use tracing::{debug, error, info, warn};

use super::{
    GroupError,
    assign::{
        Assignment, Assignor, Member, RebalanceProtocol, Subscription, assignment_note,
        decode_assignment, decode_subscription, encode_assignment_noting, encode_subscription,
    },
    coordinator_link::{CoordinatorLink, Membership},
};
use crate::kafka::{
    ClientError,
    error_code::{ErrorCode, ResponseError},
    protocol::{JoinGroup, SyncGroup},
};

/// The settings a round needs.
#[derive(Debug)]
pub(crate) struct Round<'a> {
    /// The coordinator, and the membership the round updates.
    pub link: &'a CoordinatorLink,
    /// Our assignors, in order of preference: one protocol each in JoinGroup.
    pub assignors: &'a [Box<dyn Assignor>],
    /// JoinGroup's session timeout.
    pub session_timeout_ms: i32,
    /// JoinGroup's rebalance timeout.
    pub rebalance_timeout_ms: i32,
}

/// What a round gave us.
#[derive(Debug)]
pub(crate) struct Synced {
    /// The generation our partitions belong to.
    pub generation: i32,
    /// The chosen assignor's protocol.
    pub protocol: RebalanceProtocol,
    /// Our partitions of our topic.
    pub partitions: BTreeSet<i32>,
    /// How many partitions our topic had when the assignment was made, when a leader of ours
    /// made it ([`note`]): a restarted static leader keeps an assignment it did not make now.
    pub assigned_from: Option<usize>,
    /// When SyncGroup was sent. The coordinator restarted our session when it answered, later
    /// than this: an answer read within a session timeout of it comes from a session that is
    /// still running.
    pub sent: tokio::time::Instant,
}

/// What a leader of ours notes in the assignment: the topic's partition count it assigned.
const NOTE: &[u8] = b"usercenter:partitions=";

/// The note of an assignment made over `count` partitions.
fn note(count: usize) -> Vec<u8> {
    [NOTE, count.to_string().as_bytes()].concat()
}

/// The partition count an assignment's note says, when it is ours.
fn noted(user_data: &[u8]) -> Option<usize> {
    std::str::from_utf8(user_data.strip_prefix(NOTE)?)
        .ok()?
        .parse()
        .ok()
}

/// What JoinGroup gave us: the generation, the assignor the group chose, and, for the leader,
/// every member with its subscription.
struct Joined<'r> {
    /// Our member id (the coordinator may have given us one) and the generation we had.
    membership: Membership,
    /// The generation JoinGroup opened.
    generation: i32,
    /// Our assignor of the group's choice.
    assignor: &'r dyn Assignor,
    /// The chosen assignor's name.
    protocol_name: String,
    /// Every member, when we are the leader and must assign; `None` otherwise.
    to_assign: Option<Vec<Member>>,
}

impl Round<'_> {
    /// JoinGroup then SyncGroup. `owned` (with the generation it belongs to) goes into the
    /// subscriptions of cooperative assignors.
    pub async fn run(&self, owned: &BTreeSet<i32>, reason: &str) -> Result<Synced, GroupError> {
        let joined = self.join(owned, reason).await?;
        // KIP-345 (JoinGroup v9): a restarted static leader keeps the assignment the group
        // has and syncs without assigning again.
        let assignments = match &joined.to_assign {
            Some(members) => self.lead(joined.assignor, members).await?,
            None => Vec::new(),
        };
        self.sync(joined, assignments).await
    }

    /// How long the coordinator may hold our JoinGroup or SyncGroup: the rebalance timeout,
    /// and 5 s for the answer (as the Java client waits). Never less than the request timeout
    /// ([`CoordinatorLink::call_held`]).
    fn held(&self) -> std::time::Duration {
        let rebalance = u64::try_from(self.rebalance_timeout_ms).unwrap_or(0);
        std::time::Duration::from_millis(rebalance.saturating_add(5_000))
    }

    /// JoinGroup until the coordinator takes us (again with the member id it hands out, on
    /// MEMBER_ID_REQUIRED); the assignor it chose, and the members to assign if we lead.
    async fn join(&self, owned: &BTreeSet<i32>, reason: &str) -> Result<Joined<'_>, GroupError> {
        let link = self.link;
        let mut m = link.membership();
        let protocols = self.protocols(owned, m.generation)?;
        let joined = loop {
            let answer = link
                .call_held(
                    &JoinGroup {
                        group_id: link.group_id.clone(),
                        session_timeout_ms: self.session_timeout_ms,
                        rebalance_timeout_ms: self.rebalance_timeout_ms,
                        member_id: m.member_id.clone(),
                        group_instance_id: link.instance_id.clone(),
                        protocol_type: "consumer".into(),
                        protocols: protocols.clone(),
                        reason: Some(reason.to_owned()),
                    },
                    self.held(),
                )
                .await?;
            let code = ErrorCode::new(answer.error_code);
            match code.error() {
                None => break answer,
                // Join again with the member id in the answer (JoinGroup v4 and later).
                Some(ResponseError::MemberIdRequired) => {
                    m.member_id = answer.member_id.to_string();
                    link.set_membership(m.clone());
                }
                // Forgotten, or removed as the group was full: join again as a new member.
                Some(ResponseError::UnknownMemberId | ResponseError::GroupMaxSizeReached) => {
                    link.set_membership(Membership::default());
                    return link.failed("JoinGroup", code);
                }
                Some(_) => return link.failed("JoinGroup", code),
            }
        };
        link.note_kept();
        if m.member_id != joined.member_id.as_str() {
            // Kept at once, under the generation before: a broker before Kafka 2.2 gives the
            // id only in a successful JoinGroup, and a SyncGroup that fails next (REBALANCE_IN_
            // PROGRESS when instances start together) must not make the next JoinGroup ask
            // for a new member while this one stays in the group until its session ends.
            m.member_id = joined.member_id.to_string();
            link.set_membership(m.clone());
        }
        self.joined(m, &joined)
    }

    /// What the JoinGroup answer `joined` says, for the member `m`.
    fn joined(&self, m: Membership, joined: &JoinGroupResponse) -> Result<Joined<'_>, GroupError> {
        let protocol_name = joined
            .protocol_name
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let assignor = self
            .assignors
            .iter()
            .find(|a| a.name() == protocol_name)
            .ok_or_else(|| GroupError::Protocol(protocol_name.clone()))?;
        let leader = joined.leader.as_str() == m.member_id;
        info!(
            group = %self.link.group_id, generation = joined.generation_id, member = %m.member_id,
            assignor = %protocol_name, leader, members = joined.members.len(),
            "group: joined"
        );
        let to_assign = (leader && !joined.skip_assignment).then(|| {
            joined
                .members
                .iter()
                .map(|member| Member {
                    id: member.member_id.to_string(),
                    instance_id: member.group_instance_id.as_ref().map(|i| i.to_string()),
                    subscription: subscription_of(&member.member_id, &member.metadata),
                })
                .collect::<Vec<_>>()
        });
        Ok(Joined {
            membership: m,
            generation: joined.generation_id,
            assignor: assignor.as_ref(),
            protocol_name,
            to_assign,
        })
    }

    /// SyncGroup: sends `assignments` (the leader's; empty from followers) and receives our
    /// partitions; the new generation is ours from then on.
    async fn sync(
        &self,
        joined: Joined<'_>,
        assignments: Vec<(String, Bytes)>,
    ) -> Result<Synced, GroupError> {
        let link = self.link;
        let Joined {
            membership: mut m,
            generation,
            assignor,
            protocol_name,
            ..
        } = joined;
        let sent = tokio::time::Instant::now();
        let synced = link
            .call_held(
                &SyncGroup {
                    group_id: link.group_id.clone(),
                    generation_id: generation,
                    member_id: m.member_id.clone(),
                    group_instance_id: link.instance_id.clone(),
                    protocol_type: Some("consumer".into()),
                    protocol_name: Some(protocol_name),
                    assignments,
                },
                self.held(),
            )
            .await?;
        let code = ErrorCode::new(synced.error_code);
        if code.is_ok() || code.error() == Some(ResponseError::RebalanceInProgress) {
            // The coordinator kept us while this waited (a member awaiting sync stays alive).
            link.note_kept();
        }
        if let Some(code) = ErrorCode::failure(synced.error_code) {
            if code.error() == Some(ResponseError::UnknownMemberId) {
                link.set_membership(Membership::default());
            }
            return link.failed("SyncGroup", code);
        }
        let assignment = assignment_of(generation, &synced.assignment);
        let assigned_from = assignment_note(&synced.assignment).and_then(|n| noted(&n));
        m.generation = generation;
        link.set_membership(m);
        let partitions = assignment
            .get(&link.topic)
            .map(|p| p.iter().copied().collect())
            .unwrap_or_default();
        debug!(generation, ?partitions, "group: synced");
        Ok(Synced {
            generation,
            protocol: assignor.protocol(),
            partitions,
            assigned_from,
            sent,
        })
    }

    /// One protocol per assignor, in order of preference, each with our subscription.
    fn protocols(
        &self,
        owned: &BTreeSet<i32>,
        generation: i32,
    ) -> Result<Vec<(String, Bytes)>, GroupError> {
        self.assignors
            .iter()
            .map(|a| {
                let mut s = Subscription {
                    topics: vec![self.link.topic.clone()],
                    generation: -1,
                    ..Default::default()
                };
                if a.protocol() == RebalanceProtocol::Cooperative && !owned.is_empty() {
                    s.owned
                        .insert(self.link.topic.clone(), owned.iter().copied().collect());
                    s.generation = generation;
                }
                Ok((a.name().to_owned(), encode_subscription(&s, a.protocol())?))
            })
            .collect()
    }

    /// The leader's part: every subscribed topic's partitions, the assignor, encoded shares.
    async fn lead(
        &self,
        assignor: &dyn Assignor,
        members: &[Member],
    ) -> Result<Vec<(String, Bytes)>, GroupError> {
        let topics: BTreeSet<&str> = members
            .iter()
            .flat_map(|m| m.subscription.topics.iter().map(String::as_str))
            .collect();
        let topics: Vec<&str> = topics.into_iter().collect();
        let answer = self.link.client.refresh(Some(&topics)).await?;
        // Without our topic's partitions every member would get nothing, and the group would
        // stay stable that way (no size note, so no member's watch sees a change): the round
        // fails instead, and the member joins again after its backoff.
        match answer.get(&self.link.topic) {
            Some(Ok(_)) => {}
            Some(Err(code)) => {
                return Err(ClientError::Topic {
                    topic: self.link.topic.clone(),
                    code: *code,
                }
                .into());
            }
            None => {
                return Err(ClientError::Unanswered { api: "Metadata" }.into());
            }
        }
        let partitions: BTreeMap<String, Vec<i32>> = answer
            .into_iter()
            .filter_map(|(name, t)| {
                // BTreeMap keys: the partition ids come sorted.
                t.ok()
                    .map(|t| (name, t.partitions.keys().copied().collect()))
            })
            .collect();
        // The size of our topic it was made over goes with it: a leader of ours restarted in
        // place keeps this assignment, and compares the topic with it (`member::topic_size`).
        let noted = partitions.get(&self.link.topic).map(|p| note(p.len()));
        assignor
            .assign(members, &partitions)
            .iter()
            .map(|(member, share)| {
                let encoded = encode_assignment_noting(share, noted.as_deref())?;
                Ok((member.clone(), encoded))
            })
            .collect()
    }
}

/// A member's subscription as the leader reads it. One that does not decode (another client's
/// bug, or a member that means harm) subscribes to nothing, so it gets no partitions: refusing
/// the round instead would leave the whole group rebalancing for as long as that member stays.
fn subscription_of(member_id: &str, metadata: &[u8]) -> Subscription {
    decode_subscription(metadata).unwrap_or_else(|error| {
        warn!(member = %member_id, %error, "group: a member's subscription does not decode; it gets no partitions");
        Subscription {
            topics: Vec::new(),
            owned: Default::default(),
            generation: -1,
            user_data: None,
        }
    })
}

/// Our share of the leader's assignment. One that does not decode (the leader's bug, or a
/// leader that means harm) assigns nothing in this generation, said at ERROR: failing the round
/// instead would join again with the same subscription, which a stable group answers with the
/// same generation and the same assignment, round after round, in no generation at all.
fn assignment_of(generation: i32, bytes: &[u8]) -> Assignment {
    decode_assignment(bytes).unwrap_or_else(|error| {
        error!(generation, %error, bytes = bytes.len(), "group: the leader's assignment for this member does not decode; it takes no partitions in this generation");
        Assignment::new()
    })
}

#[cfg(test)]
mod tests;
