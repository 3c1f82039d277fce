//! Produce of one encoded record batch to one partition, acks = all.
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

    fn build(&self, _version: i16) -> ProduceRequest {
        let partition = PartitionProduceData::default()
            .with_index(self.partition)
            .with_records(Some(self.batch.clone()));
        let topic = TopicProduceData::default()
            .with_name(topic_name(&self.topic))
            .with_partition_data(vec![partition]);
        ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(self.timeout_ms)
            .with_topic_data(vec![topic])
    }
}

impl Produce {
    /// The error code (NONE: success) and base offset the broker answered for the batch's
    /// partition; `None` when the answer does not mention it.
    pub fn answer(&self, response: &ProduceResponse) -> Option<(ErrorCode, i64)> {
        response
            .responses
            .iter()
            .filter(|t| t.name.0.as_str() == self.topic)
            .flat_map(|t| &t.partition_responses)
            .find(|p| p.index == self.partition)
            .map(|p| (ErrorCode::new(p.error_code), p.base_offset))
    }
}

#[cfg(test)]
mod tests;
