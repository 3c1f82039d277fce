//! The one mock Kafka behind [`Transport`], for the unit tests of the producer and of the
//! outbox relay: it keeps what it is sent per partition and can fail, stall or refuse batches
//! on request.
use std::{
    collections::HashMap,
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
};

use parking_lot::Mutex;
use rskafka::{
    client::error::{Error as ClientError, ProtocolError, RequestContext},
    record::Record,
};

use super::{Codec, MetadataError, Transport, TransportError};
use crate::future::BoxFuture;
use crate::kafka::records::size;

/// The topic the mock does not know.
pub(crate) const MISSING_TOPIC: &str = "missing";

/// A broker in memory.
#[derive(Debug, Default)]
pub(crate) struct MockBroker {
    /// Partitions of every topic but [`MISSING_TOPIC`].
    pub partitions: usize,
    /// Fail this many produce attempts with a retriable error first.
    pub fail_first: AtomicUsize,
    /// Fail every attempt (retriable).
    pub always_fail: AtomicBool,
    /// Batches over this many encoded bytes get MessageTooLarge (0: no limit).
    pub broker_limit: usize,
    /// Written records per partition.
    pub log: Mutex<HashMap<i32, Vec<Record>>>,
    /// Produce attempts.
    pub attempts: AtomicUsize,
    /// While set, produce never answers.
    pub stall: AtomicBool,
    /// What [`Transport::max_in_flight`] answers (0 counts as 1).
    pub pipeline: usize,
    /// Once set, [`MISSING_TOPIC`] exists (an operator created it).
    pub created: AtomicBool,
    /// Fail every attempt on this partition (retriable) while set.
    pub failing_partition: Mutex<Option<i32>>,
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
}

/// A broker error answer, as rskafka reports it.
pub(crate) fn server_error(protocol_error: ProtocolError) -> ClientError {
    ClientError::ServerError {
        protocol_error,
        error_message: None,
        request: RequestContext::Partition("t".into(), 0),
        response: None,
        is_virtual: false,
    }
}

impl Transport for MockBroker {
    fn max_in_flight(&self) -> usize {
        self.pipeline.max(1)
    }

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

    fn produce<'a>(
        &'a self,
        _topic: &'a str,
        partition: i32,
        records: Vec<Record>,
        _codec: Codec,
    ) -> BoxFuture<'a, Result<Vec<i64>, TransportError>> {
        Box::pin(async move {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            if self.stall.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            if self.always_fail.load(Ordering::SeqCst)
                || *self.failing_partition.lock() == Some(partition)
            {
                return Err(server_error(ProtocolError::NotLeaderOrFollower).into());
            }
            if self
                .fail_first
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(ClientError::Timeout.into());
            }
            if self.broker_limit > 0 && size::batch_len(&records) > self.broker_limit {
                let refused = server_error(ProtocolError::MessageTooLarge);
                if self.pipeline > 1 {
                    // A pipelining transport owns the batch and hands it back, as the
                    // idempotent one does.
                    return Err(TransportError::TooLarge {
                        source: Box::new(refused),
                        records: Some(records),
                    });
                }
                return Err(refused.into());
            }
            let mut log = self.log.lock();
            let part = log.entry(partition).or_default();
            let base = part.len() as i64;
            let n = records.len() as i64;
            part.extend(records);
            Ok((base..base + n).collect())
        })
    }
}
