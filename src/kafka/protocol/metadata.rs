//! Metadata: the brokers, the controller, and each topic's partitions and leaders.
//!
//! Asked with `allow_auto_topic_creation = false` (version 4 on): looking a topic up must never
//! create it; the service creates its topics itself, with its configured partition count.
use kafka_protocol::{
    messages::{
        MetadataRequest, MetadataResponse, TopicName, metadata_request::MetadataRequestTopic,
    },
    protocol::StrBytes,
};
use rskafka::protocol::api_key::ApiKey;

use super::adapter::Call;

/// Metadata for some topics, or for every topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// The topics to describe; `None` for every topic.
    pub topics: Option<Vec<String>>,
}

impl Call for Metadata {
    type Request = MetadataRequest;
    type Response = MetadataResponse;
    const KEY: ApiKey = ApiKey::Metadata;
    const VERSIONS: (i16, i16) = (1, 9);
    const FIRST_FLEXIBLE: i16 = 9;
    const CLIENT_THROTTLES_FROM: i16 = 6;

    fn throttle_ms(response: &Self::Response) -> i32 {
        response.throttle_time_ms
    }

    fn build(&self, version: i16) -> MetadataRequest {
        let topics = self.topics.as_ref().map(|names| {
            names
                .iter()
                .map(|n| {
                    MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string(n.clone()))))
                })
                .collect()
        });
        let request = MetadataRequest::default().with_topics(topics);
        if version >= 4 {
            request.with_allow_auto_topic_creation(false)
        } else {
            request
        }
    }
}

#[cfg(test)]
mod tests;
