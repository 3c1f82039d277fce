//! Committed offsets of a group: OffsetCommit and OffsetFetch.
//!
//! OffsetCommit is declared from version 2: Nisshi fails version 1 (its −1 commit timestamp
//! comes back as UNKNOWN_MEMBER_ID), and kafka-protocol starts at 2 anyway. OffsetFetch is
//! declared from version 2, the first that can ask for every topic of a group; it changed shape
//! at version 8 (a batch of groups), and [`OffsetFetch::offsets`] reads either shape.
use kafka_protocol::{
    messages::{
        OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
        TopicName,
        offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic},
        offset_fetch_request::{
            OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
        },
    },
    protocol::StrBytes,
};
use rskafka::protocol::api_key::ApiKey;

use crate::kafka::error_code::ErrorCode;

use super::{adapter::Call, coordinator::group_id};

/// A topic name as kafka-protocol's messages carry it.
pub(super) fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

/// One partition's committed offset, to commit or as fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The next offset to consume (−1 when the group has none for the partition).
    pub offset: i64,
    /// Free-form metadata stored with the offset.
    pub metadata: Option<String>,
    /// The per-partition error code of an answer (NONE in requests).
    pub error_code: ErrorCode,
}

/// Commits offsets as a member of a generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommit {
    /// The group id.
    pub group_id: String,
    /// The generation from JoinGroup (−1 for a group without members, e.g. admin tools).
    pub generation_id: i32,
    /// Our member id (empty without a generation).
    pub member_id: String,
    /// Static membership id (v7 and later).
    pub group_instance_id: Option<String>,
    /// The offsets.
    pub offsets: Vec<CommittedOffset>,
}

impl Call for OffsetCommit {
    type Request = OffsetCommitRequest;
    type Response = OffsetCommitResponse;
    const KEY: ApiKey = ApiKey::OffsetCommit;
    const VERSIONS: (i16, i16) = (2, 9);
    const FIRST_FLEXIBLE: i16 = 8;
    const CLIENT_THROTTLES_FROM: i16 = 4;

    fn throttle_ms(response: &Self::Response) -> i32 {
        response.throttle_time_ms
    }

    fn build(&self, version: i16) -> OffsetCommitRequest {
        let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
        for o in &self.offsets {
            let partition = OffsetCommitRequestPartition::default()
                .with_partition_index(o.partition)
                .with_committed_offset(o.offset)
                .with_committed_metadata(
                    o.metadata
                        .as_deref()
                        .map(|m| StrBytes::from_string(m.to_owned())),
                );
            match topics.iter_mut().find(|t| t.name.0.as_str() == o.topic) {
                Some(topic) => topic.partitions.push(partition),
                None => topics.push(
                    OffsetCommitRequestTopic::default()
                        .with_name(topic_name(&o.topic))
                        .with_partitions(vec![partition]),
                ),
            }
        }
        let request = OffsetCommitRequest::default()
            .with_group_id(group_id(&self.group_id))
            .with_generation_id_or_member_epoch(self.generation_id)
            .with_member_id(StrBytes::from_string(self.member_id.clone()))
            .with_topics(topics);
        if version >= 7 {
            request.with_group_instance_id(
                self.group_instance_id
                    .as_deref()
                    .map(|id| StrBytes::from_string(id.to_owned())),
            )
        } else {
            request
        }
    }
}

/// Fetches a group's committed offsets: for the given partitions, or for every partition the
/// group has committed (`topics: None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetch {
    /// The group id.
    pub group_id: String,
    /// Topics and their partitions; `None`: all.
    pub topics: Option<Vec<(String, Vec<i32>)>>,
    /// Whether a partition with a transactional offset commit still pending answers
    /// UNSTABLE_OFFSET_COMMIT rather than the offset committed before it (version 7 and later,
    /// KIP-447): what a consumer that reads committed records starts from.
    pub require_stable: bool,
}

impl Call for OffsetFetch {
    type Request = OffsetFetchRequest;
    type Response = OffsetFetchResponse;
    const KEY: ApiKey = ApiKey::OffsetFetch;
    const VERSIONS: (i16, i16) = (2, 9);
    const FIRST_FLEXIBLE: i16 = 6;
    const CLIENT_THROTTLES_FROM: i16 = 4;

    fn throttle_ms(response: &Self::Response) -> i32 {
        response.throttle_time_ms
    }

    fn build(&self, version: i16) -> OffsetFetchRequest {
        let request =
            OffsetFetchRequest::default().with_require_stable(self.require_stable && version >= 7);
        if version >= 8 {
            let topics = self.topics.as_ref().map(|topics| {
                topics
                    .iter()
                    .map(|(name, partitions)| {
                        OffsetFetchRequestTopics::default()
                            .with_name(topic_name(name))
                            .with_partition_indexes(partitions.clone())
                    })
                    .collect()
            });
            let group = OffsetFetchRequestGroup::default()
                .with_group_id(group_id(&self.group_id))
                .with_topics(topics);
            return request.with_groups(vec![group]);
        }
        let topics = self.topics.as_ref().map(|topics| {
            topics
                .iter()
                .map(|(name, partitions)| {
                    OffsetFetchRequestTopic::default()
                        .with_name(topic_name(name))
                        .with_partition_indexes(partitions.clone())
                })
                .collect()
        });
        request
            .with_group_id(group_id(&self.group_id))
            .with_topics(topics)
    }
}

impl OffsetFetch {
    /// The offsets in `response`, or the group-level error code.
    pub fn offsets(
        response: &OffsetFetchResponse,
        version: i16,
    ) -> Result<Vec<CommittedOffset>, ErrorCode> {
        // The two shapes name their fields alike but are different types.
        macro_rules! flatten {
            ($topics:expr) => {
                $topics
                    .iter()
                    .flat_map(|t| {
                        t.partitions.iter().map(move |p| CommittedOffset {
                            topic: t.name.0.as_str().to_owned(),
                            partition: p.partition_index,
                            offset: p.committed_offset,
                            metadata: p.metadata.as_ref().map(|m| m.as_str().to_owned()),
                            error_code: ErrorCode::new(p.error_code),
                        })
                    })
                    .collect()
            };
        }
        if version >= 8 {
            return match response.groups.first() {
                None => Ok(Vec::new()),
                Some(group) => match ErrorCode::failure(group.error_code) {
                    Some(code) => Err(code),
                    None => Ok(flatten!(group.topics)),
                },
            };
        }
        if let Some(code) = ErrorCode::failure(response.error_code) {
            return Err(code);
        }
        Ok(flatten!(response.topics))
    }
}

#[cfg(test)]
mod tests;
