//! The producer: partitioning, batching, compression, idempotency headers, backpressure, flush
//! and close; and its one pipeline to the brokers: per partition one task
//! (`producer::pipeline`) that owns batching's output, the producer id and sequences, the
//! in-flight window, retries under the delivery deadline, splitting of batches too large for
//! the broker, and holding after a failure; below it the [`Transport`] seam, which is the
//! [`BrokerTransport`] over the process's Kafka client in production and a mock broker in the
//! unit tests.
//!
//! ```text
//!  send / enqueue ──► partitioner ──► PartitionQueue (one per partition)
//!        │ buffer bytes                 open batch ─(count | encoded bytes | linger | flush)─► ready
//!        │ (Semaphore)                                                                       │
//!        ▼                                          partition task (one per partition) ◄─────┘
//!  DeliveryFuture ◄── watch(outcome of the batch) ◄── sequence, encode once, ≤ max_in_flight
//!                                                     Produce requests (acks=all) in order;
//!                                                     resend unchanged until the deadline; split
//!                                                     what is too large; fail what is behind a
//!                                                     failure; hold
//!                                                          │ Transport: partition counts, producer
//!                                                          ▼ id and epoch, the partition's leader
//!                                                     BrokerTransport ─► leader's Produce connection
//! ```
//!
//! A record's bytes are copied once on their way to the wire: from the record into the encoded
//! batch, which is resent as it is (a batch too large is decoded back and split, a rare copy).
//!
//! # Idempotency scheme
//! The broker drops a resent batch it already has (producer id, epoch and sequence), but only
//! within one producer session: a restart, a renewed identity or idempotence turned off can still
//! write a record twice. Consumers drop those by headers that identify a record for ever:
//! - `ce_producerid`: the instance's producer id, kept in `producer.id` in the data directory
//!   (`outbox::identity`), so it survives restarts;
//! - `ce_sequence`: a number never reused by that producer id;
//! - `ce_id`: the event id.
//!
//! The producer does not number records: the outbox stamps `ce_producerid`/`ce_sequence` from
//! the store's one counter, in the transaction that commits the row (`outbox::stamp`), so a
//! replay after a crash is the same record, `ce_id` included (`stamp` gives a row without
//! one its own). A record that arrives without both is refused with
//! [`ProduceError::MissingIdentity`]; one without `ce_id` (a load test's) gets a fresh one. A
//! consumer treats `ce_id` as the dedupe key, falling back to (`ce_producerid`,
//! `ce_sequence`) (`consumer::process::dedupe_key`). Retries of a batch whose acknowledgement
//! was lost therefore duplicate records in the log, but never their effects.
//!
//! # Ordering
//! The pipeline's sequences keep a partition's batches in order on the wire through retries,
//! with one request in flight without a producer id and until the broker holds state for the
//! identity on the partition (any first sequence goes before that). A failed batch fails every
//! batch behind it too, so records of one key keep their order when the caller retries them.
//!
//! # Cancellation
//! [`Producer::enqueue`] and [`Producer::send`] are cancel-safe: cancelled before the record is
//! buffered, nothing is sent; once buffered (there is no await after that point in `enqueue`) the
//! record is delivered whether or not anybody awaits its [`DeliveryFuture`].
mod accumulator;
mod broker;
mod delivery;
mod error;
mod metrics;
#[cfg(test)]
pub(crate) mod mock;
mod partitioner;
mod pipeline;
mod produce_lane;
mod record;
mod request;
mod session;
mod transport;

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use parking_lot::RwLock;
use tokio::{sync::Semaphore, time::Instant};
use tokio_util::task::TaskTracker;

pub use crate::config::{BufferFullPolicy, Codec, ProducerConfig};
pub use broker::BrokerTransport;
pub use delivery::{Delivery, DeliveryFuture};
pub use error::{ProduceError, Result};
pub use metrics::ProducerMetrics;
pub use partitioner::{Partitioner, keyed_partition, murmur2};
pub use record::ProducerRecord;
pub use request::produce_request;
pub use session::{ProducerSession, SessionError};
pub use transport::{MetadataError, PartitionAnswer, PartitionLeader, Transport, TransportError};

use accumulator::{BatchLimits, PartitionQueue};
use partitioner::Sticky;
use record::to_record;

use crate::kafka::records::size::{self, BATCH_OVERHEAD};

#[derive(Debug)]
struct TopicState {
    queues: Vec<Arc<PartitionQueue>>,
    sticky: Arc<Sticky>,
}

pub(crate) struct Shared {
    config: ProducerConfig,
    transport: Arc<dyn Transport>,
    metrics: Arc<ProducerMetrics>,
    topics: RwLock<HashMap<String, Arc<TopicState>>>,
    buffer: Semaphore,
    tasks: TaskTracker,
    closed: AtomicBool,
    /// [`Producer::hold_after_failures`] was called.
    hold: AtomicBool,
    /// [`Producer::send_until`]: no request is written after it.
    send_until: parking_lot::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Whether the time set by [`Producer::send_until`] has passed.
    fn past_send_until(&self) -> bool {
        self.send_until.lock().is_some_and(|t| Instant::now() >= t)
    }

    fn release(&self, cost: usize) {
        self.buffer.add_permits(cost);
        self.metrics.buffer_bytes.add(-(cost as i64));
    }
}

/// The producer. Cheap to clone; all clones share buffers and partition tasks.
#[derive(Debug, Clone)]
pub struct Producer {
    shared: Arc<Shared>,
}

impl Producer {
    /// A producer writing through `transport`. `config` must have passed
    /// [`ProducerConfig::check`].
    pub fn new(transport: Arc<dyn Transport>, config: ProducerConfig) -> Self {
        Self::with_metrics(transport, config, Arc::default())
    }

    /// [`Producer::new`] counting into `metrics`, which may exist before the producer (the
    /// service's `/metrics` holds them from its start).
    pub fn with_metrics(
        transport: Arc<dyn Transport>,
        config: ProducerConfig,
        metrics: Arc<ProducerMetrics>,
    ) -> Self {
        let buffer = Semaphore::new(config.buffer_bytes.min(Semaphore::MAX_PERMITS));
        Self {
            shared: Arc::new(Shared {
                config,
                transport,
                metrics,
                topics: RwLock::new(HashMap::new()),
                buffer,
                tasks: TaskTracker::new(),
                closed: AtomicBool::new(false),
                hold: AtomicBool::new(false),
                send_until: parking_lot::Mutex::new(None),
            }),
        }
    }

    /// The producer's metrics.
    pub fn metrics(&self) -> &Arc<ProducerMetrics> {
        &self.shared.metrics
    }

    /// Looks up `topic`'s partitions and starts its partition tasks, once; returns the partition
    /// count.
    pub async fn prepare(&self, topic: &str) -> Result<usize> {
        Ok(self.topic(topic).await?.queues.len())
    }

    /// The topic's partition queues, set up on first use.
    async fn topic(&self, topic: &str) -> Result<Arc<TopicState>> {
        if let Some(t) = self.shared.topics.read().get(topic) {
            return Ok(Arc::clone(t));
        }
        let metadata = |source| ProduceError::Metadata {
            topic: topic.to_owned(),
            source: Arc::new(source),
        };
        let count = match self.shared.transport.partition_count(topic).await {
            Ok(0) => return Err(metadata(MetadataError::NoPartitions)),
            Ok(count) => count,
            Err(MetadataError::UnknownTopic) => {
                return Err(ProduceError::UnknownTopic(topic.to_owned()));
            }
            Err(error) => return Err(metadata(error)),
        };
        let cfg = &self.shared.config;
        let limits = BatchLimits {
            max_records: cfg.batch_max_records,
            max_bytes: cfg.batch_limit(),
            linger: Duration::from_millis(cfg.linger_ms),
            delivery_timeout: Duration::from_millis(cfg.delivery_timeout_ms),
        };
        let mut topics = self.shared.topics.write();
        // Checked under the lock `close` takes, so no task starts after `close` looked.
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(ProduceError::Closed);
        }
        if let Some(t) = topics.get(topic) {
            return Ok(Arc::clone(t));
        }
        let name: Arc<str> = Arc::from(topic);
        let sticky = Arc::new(Sticky::default());
        let queues: Vec<_> = (0..count)
            .map(|p| PartitionQueue::new(p as i32, limits, Arc::clone(&sticky), count))
            .collect();
        for queue in &queues {
            self.shared.tasks.spawn(pipeline::run(
                Arc::clone(&self.shared),
                Arc::clone(&name),
                Arc::clone(queue),
            ));
        }
        let state = Arc::new(TopicState { queues, sticky });
        topics.insert(topic.to_owned(), Arc::clone(&state));
        Ok(state)
    }

    /// Buffers `record` and returns its delivery report without waiting for the broker.
    /// Waits for the topic's metadata the first time a topic is used, and, when the buffer is
    /// full, either fails with [`ProduceError::BufferFull`] (`on_buffer_full = "error"`) or waits
    /// for space (`"wait"`).
    pub async fn enqueue(&self, record: ProducerRecord) -> Result<DeliveryFuture> {
        let wait = self.shared.config.on_buffer_full == BufferFullPolicy::Wait;
        self.buffer_record(record, wait).await
    }

    /// Buffers `record`, waiting for buffer space when the buffer is full whatever
    /// `on_buffer_full` says, and returns its delivery report.
    pub async fn send_later(&self, record: ProducerRecord) -> Result<DeliveryFuture> {
        self.buffer_record(record, true).await
    }

    /// Produces `record` and waits for the broker's acknowledgement (acks=all). Waits for
    /// buffer space when the buffer is full.
    pub async fn send(&self, record: ProducerRecord) -> Result<Delivery> {
        self.buffer_record(record, true).await?.wait().await
    }

    async fn buffer_record(&self, record: ProducerRecord, wait: bool) -> Result<DeliveryFuture> {
        let shared = &self.shared;
        if shared.closed.load(Ordering::Acquire) {
            return Err(ProduceError::Closed);
        }
        let state = self.topic(&record.topic).await?;
        let record = to_record(record)?;
        let measure = size::measure(&record);
        let single = BATCH_OVERHEAD + size::placed_len(measure.fixed, 0, 0);
        let limit = shared.config.max_message_bytes;
        if single > limit {
            shared.metrics.errors_too_large.add(1);
            return Err(ProduceError::RecordTooLarge {
                size: single,
                limit,
            });
        }
        let cost = measure.memory;
        let capacity = shared.config.buffer_bytes;
        if cost > capacity {
            shared.metrics.errors_too_large.add(1);
            return Err(ProduceError::RecordTooLarge {
                size: cost,
                limit: capacity,
            });
        }
        let permits = cost as u32; // cost <= buffer_bytes <= u32::MAX, checked in config
        let permit = if wait {
            shared
                .buffer
                .acquire_many(permits)
                .await
                .map_err(|_| ProduceError::Closed)?
        } else {
            shared.buffer.try_acquire_many(permits).map_err(|_| {
                shared.metrics.errors_buffer_full.add(1);
                ProduceError::BufferFull { capacity }
            })?
        };
        permit.forget();
        shared.metrics.buffer_bytes.add(cost as i64);

        // From here on there is no await: the record is buffered, or its bytes are given back.
        let n = state.queues.len();
        let p = shared
            .config
            .partitioner
            .partition(record.key.as_deref(), n)
            .unwrap_or_else(|| state.sticky.current(n));
        let Some((future, closed_batch)) = state.queues[p].append(record, measure.fixed, cost)
        else {
            shared.release(cost);
            return Err(ProduceError::Closed);
        };
        if closed_batch {
            state.sticky.batch_closed(p, n);
        }
        Ok(future)
    }

    /// From now on a partition with a failed record is held (later batches fail unsent) until
    /// [`Producer::release_holds`]: for a caller that retries failures in order (the relay).
    pub fn hold_after_failures(&self) {
        self.shared.hold.store(true, Ordering::Release);
    }

    /// Writes no produce request after `until` (`None`: no limit): batches not yet written by
    /// then fail with [`ProduceError::LeaseEnded`], with everything behind them. For a sender
    /// that may publish only while it holds a lease (the outbox relay): a process that was
    /// frozen past its lease's end and wakes sends nothing it had buffered. The bound is on
    /// handing a request to the connection: one handed over before `until` but queued behind
    /// a write the connection has not finished (a stalled connection) is written when that
    /// write ends, within the request timeout; rskafka does not say when a write begins.
    pub fn send_until(&self, until: Option<Instant>) {
        *self.shared.send_until.lock() = until;
    }

    /// Sends on every held partition again (the caller is about to retry in order).
    pub fn release_holds(&self) {
        for t in self.shared.topics.read().values() {
            t.queues.iter().for_each(|q| q.release());
        }
    }

    /// Closes every open batch now instead of at its linger; waits for nothing. For a caller
    /// that has enqueued all it is going to and will wait for every report before it enqueues
    /// more (the relay's round): lingering could only delay it, never add to a batch.
    pub fn send_buffered(&self) {
        for t in self.shared.topics.read().values() {
            for q in &t.queues {
                let _ = q.request_flush();
            }
        }
    }

    /// Sends everything buffered now and waits until each of those records was delivered or
    /// failed.
    pub async fn flush(&self) {
        let topics: Vec<Arc<TopicState>> = self.shared.topics.read().values().cloned().collect();
        let mut waits = Vec::new();
        for t in &topics {
            for q in &t.queues {
                waits.push((Arc::clone(q), q.request_flush()));
            }
        }
        for (q, target) in waits {
            q.wait_completed(target).await;
        }
    }

    /// Refuses new records, delivers everything buffered and stops the partition tasks. Returns
    /// `Err(Timeout)` if that takes longer than `deadline` (records then still buffered keep
    /// their own delivery deadlines).
    pub async fn close(&self, deadline: Duration) -> Result<()> {
        let topics: Vec<Arc<TopicState>> = {
            // Under the lock `prepare` checks the flag with: no topic appears after this.
            let topics = self.shared.topics.write();
            self.shared.closed.store(true, Ordering::Release);
            topics.values().cloned().collect()
        };
        for t in &topics {
            for q in &t.queues {
                q.close();
            }
        }
        self.shared.tasks.close();
        tokio::time::timeout(deadline, self.shared.tasks.wait())
            .await
            .map_err(|_| ProduceError::Timeout {
                deadline,
                last_error: "close deadline passed with records still buffered".into(),
            })
    }
}

/// `now + d`, or a day from `now` when that would overflow the clock.
pub(crate) fn deadline_after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests;
