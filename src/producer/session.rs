//! The producer's identity (producer id and epoch), shared by every partition's pipeline.
//!
//! Without idempotence the identity is [`ProducerIdentity::NONE`] (producer id −1, no
//! sequences) and never changes: the same pipelines run, with one request in flight.
//!
//! It starts with InitProducerId. When a partition's pipeline finds that the identity can no longer
//! be used as is (the broker lost our producer state, our sequences fell out of step with the
//! broker's, or the epoch is stale), it asks [`ProducerSession::renew`] for the next identity:
//! InitProducerId with the current id and epoch (KIP-360, version 3 and later), which bumps the
//! epoch, or, when the broker cannot bump (older version, an error, an exhausted epoch), a fresh
//! producer id. Under either, every partition starts its sequences again at 0.
//!
//! Measured on Nisshi 0.8.1: InitProducerId with our id and epoch (v5) answers a new producer id
//! at epoch 0, as Kafka does for a producer without a transactional id; a stale epoch then
//! gets PRODUCER_FENCED (90), and an id it never handed out (or forgot in a restart of memory
//! storage) UNKNOWN_PRODUCER_ID (59). It would also accept the local epoch + 1 that librdkafka
//! and the Java client use for idempotence without transactions; asking the broker works with
//! both kinds of broker answer.
//!
//! Renewals are serialised and keyed by the identity the caller saw fail, so several partitions
//! hitting the same problem cause one renewal, not one each.
use std::{sync::Arc, time::Duration};

use parking_lot::Mutex;
use rskafka::protocol::api_key::ApiKey;
use tracing::{info, warn};

use crate::kafka::{
    Client, ClientError,
    error_code::ErrorCode,
    protocol::{CallError, InitProducerId, ProducerIdentity},
    retry::{Failed, with_retries},
};

/// Why no producer identity could be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// No broker could be reached, or the request failed.
    #[error("InitProducerId request failed")]
    Client(#[from] ClientError),
    /// The broker answered an error code.
    #[error("InitProducerId answered {0}")]
    Refused(ErrorCode),
    /// The epoch cannot be bumped any further: only a new producer id will do.
    #[error("the producer epoch is exhausted")]
    EpochExhausted,
    /// The broker answered no error and no producer id (−1) or a negative epoch, which Kafka
    /// never does: writing on under it would drop sequences with requests still in flight.
    #[error("InitProducerId answered producer id {id}, epoch {epoch}, without an error")]
    NoIdentity { id: i64, epoch: i16 },
}

impl SessionError {
    /// Whether asking again may succeed: no broker answered, the request failed on the wire or
    /// timed out, or the broker answered a retriable code (COORDINATOR_LOAD_IN_PROGRESS while
    /// a KRaft broker fetches a block of producer ids, NOT_COORDINATOR, ...).
    pub fn may_pass(&self) -> bool {
        match self {
            Self::Client(ClientError::Connect(_)) => true,
            Self::Client(ClientError::Call(e)) => !matches!(e, CallError::Unsupported { .. }),
            Self::Client(ClientError::Refused { code, .. }) | Self::Refused(code) => {
                code.is_retriable()
            }
            Self::Client(_) | Self::EpochExhausted | Self::NoIdentity { .. } => false,
        }
    }
}

/// How long [`ProducerSession::start`] asks for a producer id before the producer goes on
/// without idempotence.
pub const START_PATIENCE: Duration = Duration::from_secs(30);

/// The longest pause between two of its tries.
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// The producer id and epoch every partition of one producer writes under.
#[derive(Debug)]
pub struct ProducerSession {
    client: Arc<Client>,
    current: Mutex<ProducerIdentity>,
    /// Serialises renewals (held across the InitProducerId request).
    renewing: tokio::sync::Mutex<()>,
}

impl ProducerSession {
    /// Obtains a fresh producer id from any broker of `client`, asking again, with a pause
    /// that grows from 100 ms to 5 s, while the failure may pass ([`SessionError::may_pass`])
    /// and for at most [`START_PATIENCE`]: without an id the process would write without
    /// idempotence until it restarts, and meanwhile it writes nothing. Fails at once when the
    /// brokers cannot give one (InitProducerId unsupported or not authorised).
    pub async fn start(client: Arc<Client>) -> Result<Self, SessionError> {
        let give_up = tokio::time::Instant::now() + START_PATIENCE;
        let client_ref = &client;
        let identity = with_retries(START_PATIENCE, MAX_PAUSE, |tries| async move {
            // Each try for 20 s at most (two default connect timeouts: a silent first broker,
            // then the next), within what is left of the patience: the client's request
            // timeout covers a JoinGroup's rebalance, longer than the patience.
            let left = give_up
                .saturating_duration_since(tokio::time::Instant::now())
                .min(Duration::from_secs(20));
            let tried = tokio::time::timeout(left, init(client_ref, InitProducerId::default()))
                .await
                .unwrap_or_else(|_| {
                    Err(SessionError::Client(ClientError::Call(
                        CallError::Timeout {
                            api: ApiKey::InitProducerId,
                            after: left,
                        },
                    )))
                });
            tried.map_err(|error| {
                if !error.may_pass() {
                    return Failed::Stop(error);
                }
                warn!(%error, tries, "no producer id yet");
                Failed::Again(error)
            })
        })
        .await?;
        info!(
            producer_id = identity.id,
            epoch = identity.epoch,
            "idempotent producer id"
        );
        Ok(Self::with(client, identity))
    }

    /// A session without idempotence: producer id −1 for good.
    pub fn anonymous(client: Arc<Client>) -> Self {
        Self::with(client, ProducerIdentity::NONE)
    }

    fn with(client: Arc<Client>, identity: ProducerIdentity) -> Self {
        Self {
            client,
            current: Mutex::new(identity),
            renewing: tokio::sync::Mutex::new(()),
        }
    }

    /// The client the session writes through.
    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }

    /// The identity to write under now.
    pub fn identity(&self) -> ProducerIdentity {
        *self.current.lock()
    }

    /// The identity that replaces `stale`: the current one when another partition already
    /// renewed it, else a bumped epoch (or a new producer id) from the broker.
    pub async fn renew(&self, stale: ProducerIdentity) -> Result<ProducerIdentity, SessionError> {
        let _one_at_a_time = self.renewing.lock().await;
        let current = self.identity();
        if current != stale || current.is_none() {
            return Ok(current);
        }
        let bumped = if stale.epoch < i16::MAX - 1 {
            init(
                &self.client,
                InitProducerId {
                    current: Some(stale),
                },
            )
            .await
        } else {
            Err(SessionError::EpochExhausted)
        };
        let next = match bumped {
            // A broker may bump the epoch or hand out a new id; both are fresh sequence spaces
            // unless it returned exactly what we had.
            Ok(next) if next != stale => next,
            _ => init(&self.client, InitProducerId::default()).await?,
        };
        info!(
            old_id = stale.id,
            old_epoch = stale.epoch,
            producer_id = next.id,
            epoch = next.epoch,
            "idempotent producer identity renewed"
        );
        *self.current.lock() = next;
        Ok(next)
    }
}

/// How long an InitProducerId may go unanswered before its connection counts as lost: a broker
/// answers one that names no transactional id from memory.
const INIT_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

async fn init(client: &Client, call: InitProducerId) -> Result<ProducerIdentity, SessionError> {
    // Partitions wait for a renewal one at a time behind it, past their delivery deadlines.
    let answer = client.call_any_within(&call, INIT_WITHIN).await?;
    let identity = InitProducerId::identity(&answer.body).map_err(SessionError::Refused)?;
    usable(identity)
}

/// `identity` when it is one to write under: a producer id and an epoch of 0 or more.
fn usable(identity: ProducerIdentity) -> Result<ProducerIdentity, SessionError> {
    let ProducerIdentity { id, epoch } = identity;
    if id < 0 || epoch < 0 {
        return Err(SessionError::NoIdentity { id, epoch });
    }
    Ok(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A broker that answers no error with producer id −1 gives no identity: a renewal would
    /// otherwise go on without sequences, with requests still in flight.
    #[test]
    fn an_answer_without_a_producer_id_is_no_identity() {
        let none = ProducerIdentity::NONE;
        assert!(matches!(
            usable(none),
            Err(SessionError::NoIdentity { id: -1, .. })
        ));
        let bad_epoch = ProducerIdentity { id: 3, epoch: -1 };
        assert!(usable(bad_epoch).is_err());
        let good = ProducerIdentity { id: 3, epoch: 0 };
        assert_eq!(usable(good).ok(), Some(good));
        assert!(!SessionError::NoIdentity { id: -1, epoch: -1 }.may_pass());
    }
}
