//! The one mock Kafka behind [`Transport`], for the unit tests of the producer and of the
//! outbox relay. Its partition leaders take the encoded Produce requests the real pipeline
//! sends, decode their batches, check their sequences as a broker does (with a producer id),
//! keep the records per partition, and can fail, stall or refuse batches on request.
//!
//! Sequences are checked as Kafka 2.5 and later check them (KIP-360): a partition that holds no
//! state for a producer id takes any first sequence from it, and a renewal hands out a new
//! producer id, as Kafka does for a producer without a transactional id. So the first batch of
//! an identity on a partition is not checked against anything, which is what the pipeline's
//! window of one request until the first acknowledgement is for. With
//! [`MockBroker::strict_sequences`] it expects sequence 0 first, as Nisshi does, and a renewal
//! bumps the epoch of producer id 1.
use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::future::BoxFuture;
use parking_lot::Mutex;
use rskafka::{protocol::api_key::ApiKey, record::Record};

use super::{
    MetadataError, PartitionAnswer, PartitionLeader, SessionError, Transport,
    request::{next_sequence, take_records},
};
use crate::kafka::{
    ClientError,
    error_code::{ErrorCode, ResponseError},
    protocol::{CallError, Produce, ProducerIdentity},
    records::size,
};

/// The topic the mock does not know.
pub(crate) const MISSING_TOPIC: &str = "missing";

/// A broker in memory.
#[derive(Debug, Default)]
pub(crate) struct MockBroker {
    /// Partitions of every topic but [`MISSING_TOPIC`].
    pub partitions: usize,
    /// Fail this many produce attempts first (the request fails, as on a lost connection).
    pub fail_first: AtomicUsize,
    /// Answer every attempt with NOT_LEADER_OR_FOLLOWER (retriable).
    pub always_fail: AtomicBool,
    /// Batches over this many encoded bytes, uncompressed (as the producer counts them), get
    /// MESSAGE_TOO_LARGE (0: no limit).
    pub broker_limit: usize,
    /// Batches of more records than this get MESSAGE_TOO_LARGE (0: no limit).
    pub record_limit: usize,
    /// Batches holding a record with this value get this error code.
    pub refuse: Mutex<Option<(Vec<u8>, ResponseError)>>,
    /// Batches holding a record with this value arrive damaged (CORRUPT_MESSAGE, not written)
    /// this many more times; then they arrive intact.
    pub damage: Mutex<Option<(Vec<u8>, usize)>>,
    /// Written records per partition.
    pub log: Mutex<HashMap<i32, Vec<Record>>>,
    /// Produce attempts.
    pub attempts: AtomicUsize,
    /// While set, produce never answers.
    pub stall: AtomicBool,
    /// How long an answer takes to come back once the request is taken (zero: at once), so
    /// that requests are in flight together.
    pub latency: Duration,
    /// Above 1: a producer id and sequences, and this many requests in flight per partition
    /// (the idempotent producer). 0 or 1: producer id −1 and one in flight (idempotence off).
    pub pipeline: usize,
    /// Once set, [`MISSING_TOPIC`] exists (an operator created it).
    pub created: AtomicBool,
    /// Answer every attempt on this partition with NOT_LEADER_OR_FOLLOWER while set.
    pub failing_partition: Mutex<Option<i32>>,
    /// Write the next batch holding this value, then lose its answer (a timeout).
    pub lose_answer: Mutex<Option<Vec<u8>>>,
    /// Answer every attempt on this topic with TOPIC_AUTHORIZATION_FAILED while set (an ACL
    /// missing).
    pub refused_topic: Mutex<Option<String>>,
    /// Renewals of the producer identity so far: its epoch.
    pub renewals: AtomicUsize,
    /// While set, renewing the identity fails (InitProducerId answers COORDINATOR_NOT_AVAILABLE).
    pub refuse_renewals: AtomicBool,
    /// Per partition and producer id, the epoch of the last batch written and the sequence
    /// expected next.
    pub sequences: Mutex<HashMap<(i32, i64), (i16, i32)>>,
    /// Expect sequence 0 from a producer id a partition holds no state for (OUT_OF_ORDER
    /// otherwise), as Nisshi does, and bump the epoch of producer id 1 on a renewal. Unset: any
    /// first sequence is taken and a renewal hands out a new producer id (Kafka 2.5+).
    pub strict_sequences: bool,
    /// How long the caller of the last produce attempt said it would wait for it, and by when
    /// it had to be written.
    pub last_timeout: Mutex<Option<(Duration, Option<tokio::time::Instant>)>>,
    /// Leaders looked up so far; each leader is known by its number in that count (from 1).
    pub leaders: AtomicUsize,
    /// Leaders up to this number say their connection is closed (the broker hung it up).
    pub closed_leaders: AtomicUsize,
    /// The numbers of the leaders told their way is lost, in order.
    pub lost_leaders: Mutex<Vec<usize>>,
}

impl MockBroker {
    /// A broker whose topics have `partitions` partitions.
    pub fn new(partitions: usize) -> Self {
        Self {
            partitions,
            ..Default::default()
        }
    }

    /// The values written to `partition`, in order.
    pub fn values(&self, partition: i32) -> Vec<Vec<u8>> {
        self.log
            .lock()
            .get(&partition)
            .map(|records| {
                records
                    .iter()
                    .map(|r| r.value.clone().unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Forgets every producer's sequences, as a broker restarted on memory storage does, or as
    /// Kafka does for a producer idle past `producer.id.expiration.ms`.
    pub fn forget_producers(&self) {
        self.sequences.lock().clear();
    }

    /// The current identity: producer id 1 at an epoch per renewal when sequences are strict,
    /// else a new producer id per renewal at epoch 0.
    fn current(&self) -> ProducerIdentity {
        if self.pipeline <= 1 {
            return ProducerIdentity::NONE;
        }
        let renewals = self.renewals.load(Ordering::SeqCst);
        if self.strict_sequences {
            ProducerIdentity {
                id: 1,
                epoch: i16::try_from(renewals).unwrap_or(i16::MAX),
            }
        } else {
            ProducerIdentity {
                id: 1 + i64::try_from(renewals).unwrap_or(i64::MAX - 1),
                epoch: 0,
            }
        }
    }

    /// Answers one Produce request: takes it (in the order the requests are first polled), then
    /// answers after the latency.
    async fn produce(&self, request: &Produce) -> Result<PartitionAnswer, CallError> {
        let answer = self.take(request).await;
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        answer
    }

    /// What the broker makes of one Produce request.
    async fn take(&self, request: &Produce) -> Result<PartitionAnswer, CallError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if self.stall.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        let partition = request.partition;
        let refused = |e: ResponseError| Ok(Some((ErrorCode::of(e), -1)));
        if self.always_fail.load(Ordering::SeqCst)
            || *self.failing_partition.lock() == Some(partition)
        {
            return refused(ResponseError::NotLeaderOrFollower);
        }
        if self.refused_topic.lock().as_deref() == Some(request.topic.as_str()) {
            return refused(ResponseError::TopicAuthorizationFailed);
        }
        if self
            .fail_first
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            let after = Duration::ZERO;
            return Err(CallError::Timeout {
                api: ApiKey::Produce,
                after,
            });
        }
        let Some(records) = take_records(request) else {
            return refused(ResponseError::CorruptMessage);
        };
        let too_many = self.record_limit > 0 && records.len() > self.record_limit;
        if too_many || (self.broker_limit > 0 && size::batch_len(&records) > self.broker_limit) {
            return refused(ResponseError::MessageTooLarge);
        }
        if let Some((value, code)) = &*self.refuse.lock()
            && records.iter().any(|r| r.value.as_ref() == Some(value))
        {
            return refused(*code);
        }
        if let Some((value, times)) = &mut *self.damage.lock()
            && *times > 0
            && records.iter().any(|r| r.value.as_ref() == Some(&*value))
        {
            *times -= 1;
            return refused(ResponseError::CorruptMessage);
        }
        let lose = {
            let mut lose = self.lose_answer.lock();
            let holds = |v: &Vec<u8>| records.iter().any(|r| r.value.as_ref() == Some(v));
            lose.take_if(|v| holds(v)).is_some()
        };
        let answer = self.append(partition, stamp(&request.batch), records);
        if lose {
            return Err(CallError::Timeout {
                api: ApiKey::Produce,
                after: Duration::ZERO,
            });
        }
        Ok(Some(answer))
    }

    /// Writes `records` stamped `(identity, base sequence)` to `partition` when their sequence
    /// is the one expected; the answer.
    fn append(
        &self,
        partition: i32,
        (identity, base): (ProducerIdentity, i32),
        records: Vec<Record>,
    ) -> (ErrorCode, i64) {
        if !identity.is_none() {
            let mut sequences = self.sequences.lock();
            let expected = match sequences.get(&(partition, identity.id)) {
                Some((epoch, next)) if *epoch == identity.epoch => Some(*next),
                // A new epoch of a producer id the partition knows starts at 0.
                Some(_) => Some(0),
                None if self.strict_sequences => Some(0),
                // Kafka 2.5+: no state for the producer id here, any first sequence is taken.
                None => None,
            };
            if let Some(expected) = expected
                && base != expected
            {
                let code = if base < expected {
                    ResponseError::DuplicateSequenceNumber
                } else {
                    ResponseError::OutOfOrderSequenceNumber
                };
                return (ErrorCode::of(code), -1);
            }
            let next = next_sequence(base, records.len());
            sequences.insert((partition, identity.id), (identity.epoch, next));
        }
        let mut log = self.log.lock();
        let part = log.entry(partition).or_default();
        let base_offset = part.len() as i64;
        part.extend(records);
        (ErrorCode::NONE, base_offset)
    }
}

/// The producer id, epoch and base sequence in the header of an encoded batch (record batch
/// v2: producer id at byte 43, epoch at 51, base sequence at 53).
fn stamp(batch: &[u8]) -> (ProducerIdentity, i32) {
    let field = |at: usize, len: usize| batch.get(at..at + len).unwrap_or_default();
    let id = field(43, 8).try_into().map_or(-1, i64::from_be_bytes);
    let epoch = field(51, 2).try_into().map_or(-1, i16::from_be_bytes);
    let base = field(53, 4).try_into().map_or(-1, i32::from_be_bytes);
    (ProducerIdentity { id, epoch }, base)
}

/// A partition's leader in the mock, with its number among the leaders looked up.
struct MockLeader(Arc<MockBroker>, usize);

impl PartitionLeader for MockLeader {
    fn produce<'a>(
        &'a self,
        request: &'a Produce,
        timeout: Duration,
        write_by: Option<tokio::time::Instant>,
    ) -> BoxFuture<'a, Result<PartitionAnswer, CallError>> {
        *self.0.last_timeout.lock() = Some((timeout, write_by));
        // The pipeline's own timeout drops this future: nothing is kept that could be written
        // later.
        Box::pin(self.0.produce(request))
    }

    fn lost(&self) {
        self.0.lost_leaders.lock().push(self.1);
    }

    fn is_closed(&self) -> bool {
        self.1 <= self.0.closed_leaders.load(Ordering::SeqCst)
    }
}

impl Transport for MockBroker {
    fn partition_count<'a>(
        &'a self,
        topic: &'a str,
    ) -> BoxFuture<'a, Result<usize, MetadataError>> {
        Box::pin(async move {
            if topic == MISSING_TOPIC && !self.created.load(Ordering::SeqCst) {
                Err(MetadataError::UnknownTopic)
            } else {
                Ok(self.partitions)
            }
        })
    }

    fn identity(&self) -> ProducerIdentity {
        self.current()
    }

    fn max_in_flight(&self) -> usize {
        self.pipeline.max(1)
    }

    fn renew(
        &self,
        stale: ProducerIdentity,
    ) -> BoxFuture<'_, Result<ProducerIdentity, SessionError>> {
        Box::pin(async move {
            if self.refuse_renewals.load(Ordering::SeqCst) {
                return Err(SessionError::Refused(
                    ResponseError::CoordinatorNotAvailable.into(),
                ));
            }
            if self.current() == stale && !stale.is_none() {
                self.renewals.fetch_add(1, Ordering::SeqCst);
            }
            Ok(self.current())
        })
    }

    fn leader(
        self: Arc<Self>,
        _topic: Arc<str>,
        _partition: i32,
    ) -> BoxFuture<'static, Result<Arc<dyn PartitionLeader>, ClientError>> {
        Box::pin(async move {
            let number = self.leaders.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(Arc::new(MockLeader(self, number)) as Arc<dyn PartitionLeader>)
        })
    }

    fn invalidate(&self, _topic: &str) {}
}
