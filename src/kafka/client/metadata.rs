//! The metadata cache: brokers, the controller, and each topic's partitions and their leaders.
use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use kafka_protocol::messages::MetadataResponse;
use tokio::time::Instant;

use super::{Client, ClientError, METADATA_MAX_AGE, Purpose};
use crate::kafka::{
    error_code::ErrorCode,
    protocol::{Connection, Metadata},
};

/// One topic as the metadata last described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// Each partition and its leader's node id (`None`: no leader right now).
    pub partitions: BTreeMap<i32, Option<i32>>,
}

#[derive(Debug, Clone)]
struct Cached {
    topic: TopicMetadata,
    at: Instant,
}

/// What the client knows of the cluster.
#[derive(Debug, Default)]
pub(super) struct Cache {
    brokers: HashMap<i32, String>,
    controller: Option<i32>,
    topics: HashMap<String, Cached>,
}

impl Cache {
    /// The addresses of the brokers the metadata listed, in node id order.
    pub(super) fn broker_addrs(&self) -> Vec<String> {
        let mut nodes: Vec<_> = self.brokers.iter().collect();
        nodes.sort();
        nodes.into_iter().map(|(_, a)| a.clone()).collect()
    }

    /// The address of the leader of `topic`/`partition`, when fresh metadata names one.
    fn leader_addr(&self, topic: &str, partition: i32) -> Option<String> {
        let cached = self.topics.get(topic)?;
        if cached.at.elapsed() >= METADATA_MAX_AGE {
            return None;
        }
        let node = cached.topic.partitions.get(&partition).copied().flatten()?;
        self.brokers.get(&node).cloned()
    }

    /// Takes in an answer; returns each asked-for topic's metadata or error code.
    fn absorb(
        &mut self,
        answer: &MetadataResponse,
    ) -> HashMap<String, Result<TopicMetadata, ErrorCode>> {
        if !answer.brokers.is_empty() {
            self.brokers = answer
                .brokers
                .iter()
                .map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port)))
                .collect();
        }
        self.controller = (answer.controller_id.0 >= 0).then_some(answer.controller_id.0);
        let now = Instant::now();
        let mut out = HashMap::new();
        for t in &answer.topics {
            let Some(name) = t.name.as_ref().map(|n| n.0.to_string()) else {
                continue;
            };
            if let Some(code) = ErrorCode::failure(t.error_code) {
                self.topics.remove(&name);
                out.insert(name, Err(code));
                continue;
            }
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let leader = (ErrorCode::new(p.error_code).is_ok() && p.leader_id.0 >= 0)
                        .then_some(p.leader_id.0);
                    (p.partition_index, leader)
                })
                .collect();
            let topic = TopicMetadata { partitions };
            self.topics.insert(
                name.clone(),
                Cached {
                    topic: topic.clone(),
                    at: now,
                },
            );
            out.insert(name, Ok(topic));
        }
        out
    }
}

impl Client {
    /// Asks for the metadata of `topics` (`None`: every topic) and caches it.
    pub async fn refresh(
        &self,
        topics: Option<&[&str]>,
    ) -> Result<HashMap<String, Result<TopicMetadata, ErrorCode>>, ClientError> {
        let call = Metadata {
            topics: topics.map(|t| t.iter().map(|n| (*n).to_owned()).collect()),
        };
        let c = self.any(Purpose::Admin).await?;
        let answer = c
            .call_within(&call, self.answered_at_once_within())
            .await
            .map_err(|e| self.failed(&c, e))?;
        let topics = self.metadata.lock().absorb(&answer.body);
        self.retire_bootstrap(&c);
        Ok(topics)
    }

    /// A connection opened to a bootstrap address that the metadata does not list under that
    /// spelling is closed once the brokers are known: the brokers' own addresses are used from
    /// then on, so one broker never holds two admin connections.
    fn retire_bootstrap(&self, c: &Arc<Connection>) {
        let unlisted = {
            let brokers = &self.metadata.lock().brokers;
            !brokers.is_empty() && !brokers.values().any(|a| a == c.addr())
        };
        if unlisted {
            self.forget(c);
        }
    }

    /// `topic`'s partitions and leaders: cached, or asked when unknown or older than
    /// [`METADATA_MAX_AGE`].
    pub async fn topic(&self, topic: &str) -> Result<TopicMetadata, ClientError> {
        let cached = self.metadata.lock().topics.get(topic).cloned();
        if let Some(c) = cached
            && c.at.elapsed() < METADATA_MAX_AGE
        {
            return Ok(c.topic);
        }
        self.fresh_topic(topic).await
    }

    /// `topic`'s partitions and leaders, asked now.
    pub async fn fresh_topic(&self, topic: &str) -> Result<TopicMetadata, ClientError> {
        let mut answer = self.refresh(Some(&[topic])).await?;
        match answer.remove(topic) {
            Some(Ok(t)) => Ok(t),
            Some(Err(code)) => Err(ClientError::Topic {
                topic: topic.to_owned(),
                code,
            }),
            None => Err(ClientError::Unanswered { api: "Metadata" }),
        }
    }

    /// Forgets what is cached of `topic`: a caller saw its leader move.
    pub fn invalidate(&self, topic: &str) {
        self.metadata.lock().topics.remove(topic);
    }

    /// The number of partitions of `topic` (from the cache when fresh).
    pub async fn partition_count(&self, topic: &str) -> Result<usize, ClientError> {
        Ok(self.topic(topic).await?.partitions.len())
    }

    /// A connection for `purpose` to the leader of `topic`/`partition`.
    pub async fn leader(
        &self,
        topic: &str,
        partition: i32,
        purpose: Purpose,
    ) -> Result<Arc<Connection>, ClientError> {
        let addr = self.leader_addr(topic, partition).await?;
        Ok(self.connection(&addr, purpose).await?)
    }

    /// The address of the leader of `topic`/`partition`: from the cache; when the cache has
    /// none for the partition, from fresh metadata, one lookup of the topic at a time: a
    /// caller that waited for another's takes its outcome, a failure too, when it finished
    /// after this caller asked (during an outage the waiters do not each wait out a lookup).
    pub async fn leader_addr(&self, topic: &str, partition: i32) -> Result<String, ClientError> {
        // Every fetch and produce reconnect asks: answered under the lock, nothing cloned but
        // the address.
        if let Some(addr) = self.metadata.lock().leader_addr(topic, partition) {
            return Ok(addr);
        }
        let asked = Instant::now();
        let turn = Arc::clone(
            self.leader_lookups
                .lock()
                .entry(topic.to_owned())
                .or_default(),
        );
        let mut last = turn.lock().await;
        match *last {
            Some((finished, succeeded)) if finished >= asked => {
                if !succeeded {
                    return Err(ClientError::NoLeader {
                        topic: topic.to_owned(),
                        partition,
                    });
                }
            }
            _ => {
                let looked = self.fresh_topic(topic).await;
                *last = Some((Instant::now(), looked.is_ok()));
                looked?;
            }
        }
        drop(last);
        self.metadata
            .lock()
            .leader_addr(topic, partition)
            .ok_or_else(|| ClientError::NoLeader {
                topic: topic.to_owned(),
                partition,
            })
    }

    /// An admin connection to the controller (for CreateTopics).
    pub async fn controller(&self) -> Result<Arc<Connection>, ClientError> {
        self.refresh(Some(&[])).await?;
        let addr = {
            let m = self.metadata.lock();
            m.controller.and_then(|id| m.brokers.get(&id).cloned())
        };
        let addr = addr.ok_or(ClientError::NoController)?;
        Ok(self.connection(&addr, Purpose::Admin).await?)
    }
}

#[cfg(test)]
mod tests;
