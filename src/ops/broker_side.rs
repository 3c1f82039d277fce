//! The broker side of the group tools: the group's coordinator (DescribeGroups, OffsetFetch,
//! OffsetCommit) and the partitions' log offsets (ListOffsets), through one [`Client`] built
//! from the service's own `[kafka]` settings (TLS, SASL).
use std::{collections::BTreeMap, sync::Arc};

use super::GroupCommandError;
use crate::{
    config::KafkaConfig,
    kafka::{
        Client, ClientError,
        client::PartitionFetcher,
        error_code::{ErrorCode, ResponseError},
        group::assign::decode_assignment,
        protocol::{
            CommittedOffset, Connection, DescribeGroups, OffsetCommit, OffsetFetch, OffsetQuery,
        },
    },
};

/// One member as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    /// The member id.
    pub id: String,
    /// Its static id, if any.
    pub instance_id: Option<String>,
    /// Its client id.
    pub client_id: String,
    /// The host it connects from.
    pub client_host: String,
    /// Its partitions by topic; `None` when the broker does not report it (Nisshi 0.8.1 sends
    /// empty assignment bytes in DescribeGroups) or it is not in the consumer format.
    pub assigned: Option<BTreeMap<String, Vec<i32>>>,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupView {
    /// `Stable`, `Empty`, `Dead`, `PreparingRebalance`, `CompletingRebalance`.
    pub state: String,
    /// The protocol type (`consumer`).
    pub protocol_type: String,
    /// The chosen assignor (some brokers, Nisshi among them, leave it empty).
    pub protocol: String,
    /// The members.
    pub members: Vec<MemberView>,
}

/// The state of a group the brokers do not know (DescribeGroups answered GROUP_ID_NOT_FOUND).
pub const UNKNOWN_GROUP: &str = "unknown to the brokers";

impl GroupView {
    /// What the refusal of a group with members adds about its static members: they stay in the
    /// group after they stopped, until their session times out.
    pub fn static_members_hint(&self) -> String {
        let ids: Vec<&str> = self
            .members
            .iter()
            .filter_map(|m| m.instance_id.as_deref())
            .collect();
        if ids.is_empty() {
            return String::new();
        }
        format!(
            " ({} static: {}; a stopped static member stays in the group until its session \
             times out, consumer.session_timeout_ms, so wait that long after stopping it)",
            ids.len(),
            ids.join(", ")
        )
    }

    /// Whether no member is joined (offsets may then be changed from outside): the group is
    /// empty, dead, or unknown to the brokers (nobody joined it since its state expired; Nisshi
    /// answers so for a group that only ever had offsets committed, as the static mode does).
    pub fn is_inactive(&self) -> bool {
        self.members.is_empty()
            && ["empty", "dead", "", UNKNOWN_GROUP]
                .contains(&self.state.to_ascii_lowercase().as_str())
    }
}

/// Connections to one group's coordinator and to the partition leaders.
#[derive(Debug)]
pub struct Admin {
    group: String,
    coordinator: Arc<Connection>,
    client: Arc<Client>,
}

fn refused(what: &'static str, code: impl Into<ErrorCode>) -> GroupCommandError {
    GroupCommandError::Refused {
        what,
        code: code.into(),
    }
}

impl Admin {
    /// The group it inspects and resets.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// Finds `group`'s coordinator through the bootstrap brokers of `config`.
    pub async fn connect(config: &KafkaConfig, group: &str) -> Result<Self, GroupCommandError> {
        config.warn_if_password_in_clear();
        let settings = config
            .connect_settings()
            .map_err(GroupCommandError::Security)?;
        let client = Arc::new(Client::new(config.brokers.clone(), settings));
        let coordinator = match client.coordinator(group).await {
            Ok(c) => c,
            Err(ClientError::Refused { api, code }) => return Err(refused(api, code)),
            Err(e) => return Err(GroupCommandError::Client(e)),
        };
        Ok(Self {
            group: group.to_owned(),
            coordinator,
            client,
        })
    }

    /// The group's state and members.
    pub async fn describe(&self) -> Result<GroupView, GroupCommandError> {
        let answer = self
            .coordinator
            .call(&DescribeGroups {
                groups: vec![self.group.clone()],
            })
            .await?;
        let g = answer
            .body
            .groups
            .first()
            .ok_or(GroupCommandError::Unanswered {
                what: "DescribeGroups",
            })?;
        if let Some(code) = ErrorCode::failure(g.error_code) {
            // Kafka 4 answers so for a group of its new consumer protocol (KIP-848: members
            // with `group.protocol=consumer`), whose members DescribeGroups does not show:
            // such a group is no empty one.
            let message = g.error_message.as_deref().unwrap_or_default();
            if message.contains("not a classic group") {
                return Err(GroupCommandError::NotClassic {
                    group: self.group.clone(),
                    message: message.to_owned(),
                });
            }
            if code.error() == Some(ResponseError::GroupIdNotFound) {
                // Nobody ever joined the group, or its metadata expired: nothing to show.
                return Ok(GroupView {
                    state: UNKNOWN_GROUP.to_owned(),
                    protocol_type: String::new(),
                    protocol: String::new(),
                    members: Vec::new(),
                });
            }
            return Err(refused("DescribeGroups", code));
        }
        let consumer = g.protocol_type.as_str() == "consumer";
        let members = g
            .members
            .iter()
            .map(|m| MemberView {
                id: m.member_id.to_string(),
                instance_id: m.group_instance_id.as_ref().map(|i| i.to_string()),
                client_id: m.client_id.to_string(),
                client_host: m.client_host.to_string(),
                assigned: (consumer && !m.member_assignment.is_empty())
                    .then(|| decode_assignment(&m.member_assignment).ok())
                    .flatten(),
            })
            .collect();
        Ok(GroupView {
            state: g.group_state.to_string(),
            protocol_type: g.protocol_type.to_string(),
            protocol: g.protocol_data.to_string(),
            members,
        })
    }

    /// The group's committed offsets (all topics), by topic and partition.
    pub async fn committed(&self) -> Result<BTreeMap<(String, i32), i64>, GroupCommandError> {
        let answer = self
            .coordinator
            .call(&OffsetFetch {
                group_id: self.group.clone(),
                topics: None,
                require_stable: false,
            })
            .await?;
        let offsets = OffsetFetch::offsets(&answer.body, answer.version)
            .map_err(|code| refused("OffsetFetch", code))?;
        Ok(offsets
            .into_iter()
            .filter(|o| o.error_code.is_ok() && o.offset >= 0)
            .map(|o| ((o.topic, o.partition), o.offset))
            .collect())
    }

    /// Commits `offsets` as an admin (no generation, no member id): only accepted while the
    /// group has no members.
    pub async fn commit(
        &self,
        topic: &str,
        offsets: &[(i32, i64)],
    ) -> Result<(), GroupCommandError> {
        let answer = self
            .coordinator
            .call(&OffsetCommit {
                group_id: self.group.clone(),
                generation_id: -1,
                member_id: String::new(),
                group_instance_id: None,
                offsets: offsets
                    .iter()
                    .map(|&(partition, offset)| CommittedOffset {
                        topic: topic.to_owned(),
                        partition,
                        offset,
                        metadata: Some("usercenter group reset-offsets".to_owned()),
                        error_code: ErrorCode::NONE,
                    })
                    .collect(),
            })
            .await?;
        let failed = answer
            .body
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .find_map(|p| ErrorCode::failure(p.error_code));
        match failed {
            // Nisshi and Kafka refuse a commit from outside the group's generation once it has
            // members again.
            Some(code)
                if matches!(
                    code.error(),
                    Some(
                        ResponseError::UnknownMemberId
                            | ResponseError::IllegalGeneration
                            | ResponseError::RebalanceInProgress
                    )
                ) =>
            {
                Err(GroupCommandError::Joined {
                    group: self.group.clone(),
                    code,
                    replay: false,
                })
            }
            Some(code) => Err(refused("OffsetCommit", code)),
            None => Ok(()),
        }
    }

    /// The partitions of `topic`, sorted (empty when it does not exist).
    pub async fn partitions(&self, topic: &str) -> Result<Vec<i32>, GroupCommandError> {
        match self.client.fresh_topic(topic).await {
            Ok(t) => Ok(t.partitions.into_keys().collect()),
            Err(e) if e.is_unknown_topic() => Ok(Vec::new()),
            Err(e) => Err(GroupCommandError::Client(e)),
        }
    }

    /// The offset of `topic`/`partition` for `query` (ListOffsets); `None` for a timestamp
    /// after the last record.
    pub async fn offset(
        &self,
        topic: &str,
        partition: i32,
        query: OffsetQuery,
    ) -> Result<Option<i64>, GroupCommandError> {
        let offset = self
            .client
            .log_offset(topic, partition, query)
            .await
            .map_err(GroupCommandError::Client)?;
        Ok((offset >= 0).then_some(offset))
    }

    /// A fetcher of `topic`/`partition` (for reading records).
    pub fn fetcher(&self, topic: &str, partition: i32) -> PartitionFetcher {
        PartitionFetcher::new(Arc::clone(&self.client), topic, partition)
    }
}
