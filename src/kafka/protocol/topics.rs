//! Topic administration and log offsets: CreateTopics and ListOffsets.
//!
//! CreateTopics goes to the controller; ListOffsets to the partition's leader. Both are
//! declared from the lowest version kafka-protocol encodes (CreateTopics 2), ListOffsets from the
//! first with an isolation level (2): it asks read_committed, as the consumer's Fetch does.
use kafka_protocol::messages::{
    CreateTopicsRequest, CreateTopicsResponse, ListOffsetsRequest, ListOffsetsResponse,
    create_topics_request::CreatableTopic,
    list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic},
};
use rskafka::protocol::api_key::ApiKey;

use super::{READ_COMMITTED, READ_UNCOMMITTED, adapter::Call, offsets::topic_name};
use crate::kafka::error_code::ErrorCode;

/// Creates one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTopic {
    /// The topic.
    pub name: String,
    /// Its partition count.
    pub partitions: i32,
    /// Its replication factor.
    pub replication_factor: i16,
    /// How long the controller may take.
    pub timeout_ms: i32,
}

impl Call for CreateTopic {
    type Request = CreateTopicsRequest;
    type Response = CreateTopicsResponse;
    const KEY: ApiKey = ApiKey::CreateTopics;
    const VERSIONS: (i16, i16) = (2, 7);
    const FIRST_FLEXIBLE: i16 = 5;
    const CLIENT_THROTTLES_FROM: i16 = 3;

    fn throttle_ms(response: &Self::Response) -> i32 {
        response.throttle_time_ms
    }

    fn build(&self, _version: i16) -> CreateTopicsRequest {
        let topic = CreatableTopic::default()
            .with_name(topic_name(&self.name))
            .with_num_partitions(self.partitions)
            .with_replication_factor(self.replication_factor);
        CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(self.timeout_ms)
    }
}

impl CreateTopic {
    /// The answer's code for the topic; `None` when the answer does not name it.
    pub fn code(&self, response: &CreateTopicsResponse) -> Option<ErrorCode> {
        response
            .topics
            .iter()
            .find(|t| t.name.0.as_str() == self.name)
            .map(|t| ErrorCode::new(t.error_code))
    }
}

/// Which offset of a partition's log to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetQuery {
    /// The first offset still in the log (the log start).
    Earliest,
    /// The end of what a read_committed consumer can read: the last stable offset, which is
    /// the high watermark (the offset the next record will get) unless a transaction is open.
    /// Starting there never passes records of a transaction that has not ended yet.
    Latest,
    /// The high watermark, the offset the next record will get, whatever transactions are
    /// open (asked read_uncommitted): where a read_uncommitted consumer (Sarama's default)
    /// may have read and committed up to.
    HighWatermark,
    /// The first record with a timestamp at or after this many ms since the epoch (−1 in the
    /// answer when there is none).
    At(i64),
}

/// The earliest or latest offset of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffset {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// Which offset.
    pub query: OffsetQuery,
}

impl Call for ListOffset {
    type Request = ListOffsetsRequest;
    type Response = ListOffsetsResponse;
    const KEY: ApiKey = ApiKey::ListOffsets;
    const VERSIONS: (i16, i16) = (2, 7);
    const FIRST_FLEXIBLE: i16 = 6;
    const CLIENT_THROTTLES_FROM: i16 = 3;

    fn throttle_ms(response: &Self::Response) -> i32 {
        response.throttle_time_ms
    }

    fn build(&self, _version: i16) -> ListOffsetsRequest {
        // Kafka's sentinels: −2 asks for the earliest offset, −1 for the latest.
        let timestamp = match self.query {
            OffsetQuery::Earliest => -2,
            OffsetQuery::Latest | OffsetQuery::HighWatermark => -1,
            OffsetQuery::At(ms) => ms,
        };
        let isolation = if self.query == OffsetQuery::HighWatermark {
            READ_UNCOMMITTED
        } else {
            READ_COMMITTED
        };
        let partition = ListOffsetsPartition::default()
            .with_partition_index(self.partition)
            .with_timestamp(timestamp);
        let topic = ListOffsetsTopic::default()
            .with_name(topic_name(&self.topic))
            .with_partitions(vec![partition]);
        ListOffsetsRequest::default()
            .with_replica_id((-1).into())
            .with_isolation_level(isolation)
            .with_topics(vec![topic])
    }
}

impl ListOffset {
    /// The partition's code and offset in `response`; `None` when the answer does not name it.
    pub fn offset(&self, response: &ListOffsetsResponse) -> Option<(ErrorCode, i64)> {
        response
            .topics
            .iter()
            .filter(|t| t.name.0.as_str() == self.topic)
            .flat_map(|t| &t.partitions)
            .find(|p| p.partition_index == self.partition)
            .map(|p| (ErrorCode::new(p.error_code), p.offset))
    }
}

#[cfg(test)]
mod tests;
