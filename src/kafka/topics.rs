//! Creating the service's topics when they are missing.
use std::sync::Arc;

use rskafka::client::{
    Client,
    error::{Error as ClientError, ProtocolError},
};
use tracing::info;

use super::KafkaError;
use crate::config::TopicsConfig;

/// How long the broker may take to create one topic.
const CREATE_TIMEOUT_MS: i32 = 10_000;

/// Creates every topic of `topics` that does not exist yet, with the configured partition count
/// and replication factor. Existing topics are left as they are. Returns the topics created.
pub async fn ensure_topics(
    client: &Client,
    topics: &TopicsConfig,
) -> Result<Vec<String>, KafkaError> {
    let mut created = Vec::new();
    for name in topics.all() {
        if ensure_topic(client, name, topics.partitions, topics.replication_factor).await? {
            created.push(name.to_owned());
        }
    }
    Ok(created)
}

/// Creates `topic` unless it exists; returns whether it created it.
pub async fn ensure_topic(
    client: &Client,
    topic: &str,
    partitions: i32,
    replication_factor: i16,
) -> Result<bool, KafkaError> {
    let existing = client
        .list_topics()
        .await
        .map_err(|e| KafkaError::ListTopics(Arc::new(e)))?;
    if existing.iter().any(|t| t.name == topic) {
        return Ok(false);
    }
    let controller = client
        .controller_client()
        .map_err(|e| create_error(topic, e))?;
    match controller
        .create_topic(topic, partitions, replication_factor, CREATE_TIMEOUT_MS)
        .await
    {
        Ok(()) => {
            info!(topic, partitions, "created topic");
            Ok(true)
        }
        // Another instance created it between our listing and our request.
        Err(ClientError::ServerError {
            protocol_error: ProtocolError::TopicAlreadyExists,
            ..
        }) => Ok(false),
        Err(e) => Err(create_error(topic, e)),
    }
}

fn create_error(topic: &str, source: ClientError) -> KafkaError {
    KafkaError::CreateTopic {
        topic: topic.to_owned(),
        source: Arc::new(source),
    }
}
