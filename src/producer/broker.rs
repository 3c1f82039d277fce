//! The producer's transport to the brokers, over the process's Kafka client: partition counts
//! from its metadata cache, the producer id and epoch of one [`ProducerSession`], and each
//! partition's leader on its `Purpose::Produce` connection.
//!
//! ```text
//!  partition pipeline ──leader(topic, p)──► ConnectionLeader ──Produce (encoded batch)──► broker
//!        ▲                                                                                  │
//!        └──────────────────────────── (error code, base offset) ◄───────────────────────────┘
//! ```
//!
//! With `enable_idempotence = false`, or when the brokers give no producer id, the identity is
//! producer id −1, and the pipelines keep one request in flight per partition.
use std::sync::Arc;

use futures::future::BoxFuture;
use tracing::{info, warn};

use super::{
    MetadataError, ProducerConfig, SessionError, Transport,
    session::ProducerSession,
    transport::{PartitionAnswer, PartitionLeader},
};
use crate::kafka::{
    Client, ClientError, Purpose,
    error_code::ErrorCode,
    protocol::{CallError, Connection, Produce, ProducerIdentity},
};

/// The transport to the brokers. See the module docs.
#[derive(Debug)]
pub struct BrokerTransport {
    session: ProducerSession,
    /// Requests in flight per partition: `max_in_flight` with a producer id, else 1.
    max_in_flight: usize,
}

impl BrokerTransport {
    /// The transport `producer` asks for on `client`: idempotent (a producer id from
    /// InitProducerId, up to `max_in_flight` requests per partition) unless it is turned off or
    /// no broker hands out a producer id; then producer id −1 and one request in flight.
    pub async fn connect(client: Arc<Client>, producer: &ProducerConfig) -> Self {
        let session = if producer.enable_idempotence {
            match ProducerSession::start(Arc::clone(&client)).await {
                Ok(session) => Some(session),
                Err(error) => {
                    warn!(%error, "no idempotent producer (the brokers gave no producer id): one request in flight per partition");
                    None
                }
            }
        } else {
            None
        };
        let (session, max_in_flight) = match session {
            Some(session) => (session, producer.max_in_flight.clamp(1, 5)),
            None => (ProducerSession::anonymous(client), 1),
        };
        let id = session.identity();
        info!(
            producer_id = id.id,
            epoch = id.epoch,
            max_in_flight,
            "producer transport"
        );
        Self {
            session,
            max_in_flight,
        }
    }

    /// The producer id and epoch batches are written under now ([`ProducerIdentity::NONE`]
    /// without idempotence).
    pub fn identity(&self) -> ProducerIdentity {
        self.session.identity()
    }
}

impl Transport for BrokerTransport {
    fn partition_count<'a>(
        &'a self,
        topic: &'a str,
    ) -> BoxFuture<'a, Result<usize, MetadataError>> {
        Box::pin(async move {
            match self.session.client().partition_count(topic).await {
                Ok(0) => Err(MetadataError::NoPartitions),
                Ok(n) => Ok(n),
                Err(e) if e.is_unknown_topic() => Err(MetadataError::UnknownTopic),
                Err(e) => Err(MetadataError::Request(Box::new(e))),
            }
        })
    }

    fn identity(&self) -> ProducerIdentity {
        self.session.identity()
    }

    fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    fn renew(
        &self,
        stale: ProducerIdentity,
    ) -> BoxFuture<'_, Result<ProducerIdentity, SessionError>> {
        Box::pin(self.session.renew(stale))
    }

    fn leader(
        self: Arc<Self>,
        topic: Arc<str>,
        partition: i32,
    ) -> BoxFuture<'static, Result<Arc<dyn PartitionLeader>, ClientError>> {
        Box::pin(async move {
            let client = Arc::clone(self.session.client());
            let connection = client.leader(&topic, partition, Purpose::Produce).await?;
            Ok(Arc::new(ConnectionLeader { client, connection }) as Arc<dyn PartitionLeader>)
        })
    }

    fn invalidate(&self, topic: &str) {
        self.session.client().invalidate(topic);
    }
}

/// A partition's leader: the client's Produce connection to the broker that leads it.
struct ConnectionLeader {
    client: Arc<Client>,
    connection: Arc<Connection>,
}

impl PartitionLeader for ConnectionLeader {
    fn produce<'a>(
        &'a self,
        request: &'a Produce,
    ) -> BoxFuture<'a, Result<PartitionAnswer, CallError>> {
        Box::pin(async move {
            let answer = self.connection.call(request).await?;
            let answer = request.answer(&answer.body);
            if matches!(answer, Some((code, _)) if code == ErrorCode::NONE) {
                // A fetch lane waiting on this partition need not wait out its poll.
                self.client.appended(&request.topic, request.partition);
            }
            Ok(answer)
        })
    }

    fn lost(&self) {
        self.client.forget(&self.connection);
    }
}
