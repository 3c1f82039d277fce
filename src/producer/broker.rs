//! The producer's transport to the brokers, over the process's Kafka client: partition counts
//! from its metadata cache, the producer id and epoch of one [`ProducerSession`], and each
//! partition's leader on its `Purpose::Produce` connection, through that connection's
//! [`ProduceLane`], which sends the batches the partitions hand it at once in one request.
//!
//! ```text
//!  partition pipeline ──leader(topic, p)──► ConnectionLeader ──batch──► ProduceLane ──Produce──► broker
//!        ▲                                                                                     │
//!        └───────────────────────────── (error code, base offset) ◄────────────────────────────┘
//! ```
//!
//! With `enable_idempotence = false`, or when the brokers give no producer id, the identity is
//! producer id −1, and the pipelines keep one request in flight per partition.
use std::{
    collections::HashMap,
    sync::{Arc, Weak},
    time::Duration,
};

use futures::future::BoxFuture;
use parking_lot::Mutex;
use tracing::{info, warn};

use super::{
    MetadataError, ProducerConfig, SessionError, Transport,
    produce_lane::ProduceLane,
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
    /// The lane of each Produce connection the client handed out, by the connection's address
    /// in memory. The partitions' leaders hold the lanes; a lane, and with it its connection,
    /// ends when the last partition using it let go (after a lost connection, a moved leader).
    lanes: Mutex<HashMap<usize, Weak<ProduceLane>>>,
}

impl BrokerTransport {
    /// The transport `producer` asks for on `client`: idempotent (a producer id from
    /// InitProducerId, asked for again for up to 30 s while the failure may pass, up to
    /// `max_in_flight` requests per partition) unless it is turned off or the brokers do not
    /// hand out a producer id; then producer id −1 and one request in flight.
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
            lanes: Mutex::new(HashMap::new()),
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
            let lane = self.lane(connection);
            Ok(Arc::new(ConnectionLeader { client, lane }) as Arc<dyn PartitionLeader>)
        })
    }

    fn invalidate(&self, topic: &str) {
        self.session.client().invalidate(topic);
    }
}

impl BrokerTransport {
    /// The lane of `connection`, started when it has none (any more).
    fn lane(&self, connection: Arc<Connection>) -> Arc<ProduceLane> {
        // While a lane lives it holds its connection, so no other connection can have the
        // same address: an entry that still upgrades is this connection's.
        let key = Arc::as_ptr(&connection) as usize;
        let mut lanes = self.lanes.lock();
        if let Some(lane) = lanes.get(&key).and_then(Weak::upgrade) {
            return lane;
        }
        lanes.retain(|_, lane| lane.strong_count() > 0);
        let lane = Arc::new(ProduceLane::start(connection));
        lanes.insert(key, Arc::downgrade(&lane));
        lane
    }
}

/// A partition's leader: the lane of the client's Produce connection to the broker that leads
/// it.
struct ConnectionLeader {
    client: Arc<Client>,
    lane: Arc<ProduceLane>,
}

impl PartitionLeader for ConnectionLeader {
    fn produce<'a>(
        &'a self,
        request: &'a Produce,
        timeout: Duration,
        write_by: Option<tokio::time::Instant>,
    ) -> BoxFuture<'a, Result<PartitionAnswer, CallError>> {
        // Handed to the lane at once: the contract's place on the way to the broker is taken
        // here, when the future is made, which is no later than its first poll.
        let answered = self.lane.produce(request, timeout, write_by);
        Box::pin(async move {
            let answer = answered.await?;
            if matches!(answer, Some((code, _)) if code == ErrorCode::NONE) {
                // A fetch lane waiting on this partition need not wait out its poll.
                self.client.appended(&request.topic, request.partition);
            }
            Ok(answer)
        })
    }

    fn lost(&self) {
        self.client.forget(self.lane.connection());
    }

    fn is_closed(&self) -> bool {
        self.lane.connection().is_closed()
    }
}
