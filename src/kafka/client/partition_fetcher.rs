//! One partition's fetches, through its leader's fetch lane (`fetch_lane.rs`).
use std::sync::Arc;

use tokio::sync::oneshot;

use super::{Client, fetch_lane::Want};
use crate::kafka::protocol::{FetchError, FetchPart, Fetched, read_partition};

/// Fetches one partition from its leader, through the leader's fetch lane.
#[derive(Debug)]
pub struct PartitionFetcher {
    client: Arc<Client>,
    topic: String,
    partition: i32,
}

impl PartitionFetcher {
    /// A fetcher of `topic`/`partition`; it finds the leader on each fetch (from the cache).
    pub fn new(client: Arc<Client>, topic: &str, partition: i32) -> Self {
        Self {
            client,
            topic: topic.to_owned(),
            partition,
        }
    }

    /// Records from `offset` on, up to about `max_bytes`, waiting up to `max_wait_ms`.
    pub async fn fetch(
        &self,
        offset: i64,
        max_bytes: i32,
        max_wait_ms: i32,
    ) -> Result<Fetched, FetchError> {
        let addr = self
            .client
            .leader_addr(&self.topic, self.partition)
            .await
            .map_err(Arc::new)?;
        let (reply, answer) = oneshot::channel();
        let want = Want {
            part: FetchPart {
                topic: self.topic.clone(),
                partition: self.partition,
                offset,
                max_bytes,
            },
            max_wait_ms,
            reply,
        };
        let lane = self.client.lane(&addr);
        let result = match lane.send(want).await {
            Ok(()) => answer.await.unwrap_or(Err(FetchError::Missing)),
            Err(_) => Err(FetchError::LeaderChanged { code: None }),
        };
        let result = result.and_then(|data| read_partition(data, offset, max_bytes));
        if let Err(FetchError::LeaderChanged { .. }) = &result {
            self.client.invalidate(&self.topic);
        }
        result
    }
}
