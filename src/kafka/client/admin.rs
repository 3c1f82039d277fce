//! Requests on the admin connections: creating topics, log offsets, and finding a group's
//! coordinator (shared by the group member and the `group` tooling).
use std::sync::Arc;

use tracing::info;

use super::{Client, ClientError, Purpose};
use crate::kafka::{
    error_code::ResponseError,
    protocol::{
        Connection, CoordinatorType, CreateTopic, FindCoordinator, ListOffset, OffsetQuery,
    },
};

/// How long the controller may take to create one topic.
const CREATE_TIMEOUT_MS: i32 = 10_000;

impl Client {
    /// Creates `topic` unless it exists; returns whether it created it.
    pub async fn ensure_topic(
        &self,
        topic: &str,
        partitions: i32,
        replication_factor: i16,
    ) -> Result<bool, ClientError> {
        match self.fresh_topic(topic).await {
            Ok(_) => return Ok(false),
            Err(e) if e.is_unknown_topic() => {}
            Err(e) => return Err(e),
        }
        let call = CreateTopic {
            name: topic.to_owned(),
            partitions,
            replication_factor,
            timeout_ms: CREATE_TIMEOUT_MS,
        };
        let c = self.controller().await?;
        let answer = c.call(&call).await.map_err(|e| self.failed(&c, e))?;
        let code = call.code(&answer.body).ok_or(ClientError::Unanswered {
            api: "CreateTopics",
        })?;
        match code.error() {
            None => {
                info!(topic, partitions, "created topic");
                self.invalidate(topic);
                Ok(true)
            }
            // Another instance created it between our look-up and our request.
            Some(ResponseError::TopicAlreadyExists) => Ok(false),
            Some(_) => Err(ClientError::Refused {
                api: "CreateTopics",
                code,
            }),
        }
    }

    /// The earliest or latest offset of `topic`/`partition`, from its leader.
    pub async fn log_offset(
        &self,
        topic: &str,
        partition: i32,
        query: OffsetQuery,
    ) -> Result<i64, ClientError> {
        let call = ListOffset {
            topic: topic.to_owned(),
            partition,
            query,
        };
        // A leader that cannot be reached may have moved (a failover): the next ask looks it
        // up again rather than trying the cached address until the metadata ages out.
        let c = match self.leader(topic, partition, Purpose::Admin).await {
            Ok(c) => c,
            Err(e) => {
                if matches!(e, ClientError::Connect(_)) {
                    self.invalidate(topic);
                }
                return Err(e);
            }
        };
        // A log end or start is answered from memory; a time (`reset-offsets --to-datetime`)
        // may need the broker to read its time indexes, tiered storage's too.
        let within = match query {
            OffsetQuery::At(_) => self.settings.request_timeout,
            _ => self.answered_at_once_within(),
        };
        let answer = match c.call_within(&call, within).await {
            Ok(answer) => answer,
            Err(e) => {
                if e.is_connection_lost() {
                    self.invalidate(topic);
                }
                return Err(self.failed(&c, e));
            }
        };
        let (code, offset) = call
            .offset(&answer.body)
            .ok_or(ClientError::Unanswered { api: "ListOffsets" })?;
        if code.leader_moved() {
            self.invalidate(topic);
        }
        if code.is_ok() {
            Ok(offset)
        } else {
            Err(ClientError::Refused {
                api: "ListOffsets",
                code,
            })
        }
    }

    /// A group-purpose connection to `group`'s coordinator, found with FindCoordinator.
    pub async fn coordinator(&self, group: &str) -> Result<Arc<Connection>, ClientError> {
        let find = FindCoordinator {
            key: group.to_owned(),
            key_type: CoordinatorType::Group,
        };
        let answer = self
            .call_any_within(&find, self.answered_at_once_within())
            .await?;
        let found = FindCoordinator::found(&answer.body, answer.version).ok_or(
            ClientError::Unanswered {
                api: "FindCoordinator",
            },
        )?;
        if !found.error_code.is_ok() {
            return Err(ClientError::Refused {
                api: "FindCoordinator",
                code: found.error_code,
            });
        }
        Ok(self.connection(&found.addr, Purpose::Group).await?)
    }
}
