//! Produce of encoded record batches, acks = all: one batch to one partition ([`Produce`]), or
//! several partitions' batches in one request ([`ProduceBatches`], at most one per partition).
//!
//! The batch travels as the bytes [`crate::kafka::records::encode`] wrote: kafka-protocol
//! carries a partition's records as raw bytes, so a resend reuses the same buffer (a reference
//! count, not a copy). Declared up to version 8, the last before the flexible versions.
use bytes::Bytes;
use kafka_protocol::messages::{
    ProduceRequest, ProduceResponse,
    produce_request::{PartitionProduceData, TopicProduceData},
};
use rskafka::protocol::api_key::ApiKey;

use super::{adapter::Call, offsets::topic_name};
use crate::kafka::error_code::ErrorCode;

/// One batch for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Produce {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The encoded record batch.
    pub batch: Bytes,
    /// How long the broker may wait for the replicas (the request's `timeout_ms`).
    pub timeout_ms: i32,
}

impl Call for Produce {
    type Request = ProduceRequest;
    type Response = ProduceResponse;
    const KEY: ApiKey = ApiKey::Produce;
    const VERSIONS: (i16, i16) = (3, 8);
    const FIRST_FLEXIBLE: i16 = 9;
    const CLIENT_THROTTLES_FROM: i16 = 6;

    fn throttle_ms(response: &Self::Response) -> i32 {
        response.throttle_time_ms
    }

    fn build(&self, version: i16) -> ProduceRequest {
        // The one-partition case of several.
        let parts = vec![self.clone()];
        ProduceBatches { parts }.build(version)
    }
}

/// Several partitions' batches in one request, as Kafka clients send what is ready for one
/// broker: one request and one answer instead of one per partition. A partition appears at most
/// once (its batches are written in the order of the requests that carry them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceBatches {
    /// The batches, each for its own partition.
    pub parts: Vec<Produce>,
}

impl Call for ProduceBatches {
    type Request = ProduceRequest;
    type Response = ProduceResponse;
    const KEY: ApiKey = ApiKey::Produce;
    const VERSIONS: (i16, i16) = Produce::VERSIONS;
    const FIRST_FLEXIBLE: i16 = Produce::FIRST_FLEXIBLE;
    const CLIENT_THROTTLES_FROM: i16 = Produce::CLIENT_THROTTLES_FROM;

    fn throttle_ms(response: &Self::Response) -> i32 {
        Produce::throttle_ms(response)
    }

    fn build(&self, _version: i16) -> ProduceRequest {
        // The topics in the order their first batch comes, each with its partitions in order.
        let mut topics: Vec<TopicProduceData> = Vec::new();
        for part in &self.parts {
            let data = PartitionProduceData::default()
                .with_index(part.partition)
                .with_records(Some(part.batch.clone()));
            match topics.iter_mut().find(|t| t.name.0.as_str() == part.topic) {
                Some(topic) => topic.partition_data.push(data),
                None => topics.push(
                    TopicProduceData::default()
                        .with_name(topic_name(&part.topic))
                        .with_partition_data(vec![data]),
                ),
            }
        }
        let timeout_ms = self.parts.iter().map(|p| p.timeout_ms).max().unwrap_or(0);
        ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(timeout_ms)
            .with_topic_data(topics)
    }
}

impl Produce {
    /// The error code (NONE: success) and base offset the broker answered for the batch's
    /// partition; `None` when the answer does not mention it, or mentions it more than once:
    /// a broker answers each partition once, so a second entry is an answer damaged on the
    /// way (one bit of another partition's index), and either entry may be the other
    /// partition's: neither may settle this batch (as delivered, its rows would be deleted).
    pub fn answer(&self, response: &ProduceResponse) -> Option<(ErrorCode, i64)> {
        let mut entries = (response.responses.iter())
            .filter(|t| t.name.0.as_str() == self.topic)
            .flat_map(|t| &t.partition_responses)
            .filter(|p| p.index == self.partition);
        let entry = entries.next()?;
        if entries.next().is_some() {
            return None;
        }
        Some((ErrorCode::new(entry.error_code), entry.base_offset))
    }
}

#[cfg(test)]
mod tests;
