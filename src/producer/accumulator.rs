//! One partition's queue of batches: records append to the open batch, which closes at a record
//! count, an encoded byte size or a linger time, whichever comes first.
//!
//! ```text
//! append ──► [open batch] ──(count | bytes | linger | flush)──► ready ──► next_batch (partition task)
//! ```
use std::{collections::VecDeque, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use rskafka::record::Record;
use tokio::{
    sync::{Notify, watch},
    time::Instant,
};

use crate::kafka::records::size::{BATCH_OVERHEAD, placed_len};

use super::{
    ProduceError,
    delivery::{DeliveryFuture, OutcomeSlot, OutcomeWatch},
    partitioner::Sticky,
};

/// Limits a batch closes at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchLimits {
    /// Records in a batch at most (`batch_max_records`).
    pub max_records: usize,
    /// Encoded bytes of a batch at most (`ProducerConfig::batch_limit`).
    pub max_bytes: usize,
    /// How long a batch waits for more records after its first (`linger_ms`).
    pub linger: Duration,
    /// Delivery timeout, counted from a batch's first record.
    pub delivery_timeout: Duration,
}

/// A closed (or open) batch of one partition.
#[derive(Debug)]
pub(crate) struct Batch {
    pub records: Vec<Record>,
    /// Encoded size, batch header included, uncompressed.
    pub bytes: usize,
    /// Buffer bytes the records hold (released when the batch ends).
    pub cost: usize,
    /// When the first record was appended.
    pub created: Instant,
    /// Delivery deadline: the delivery timeout after its first record.
    pub deadline: Instant,
    pub slot: OutcomeSlot,
    first_ts: DateTime<Utc>,
    rx: OutcomeWatch,
}

impl Batch {
    fn new(first_ts: DateTime<Utc>, timeout: Duration) -> Self {
        let (slot, rx) = tokio::sync::watch::channel(None);
        let created = Instant::now();
        Self {
            records: Vec::new(),
            bytes: BATCH_OVERHEAD,
            cost: 0,
            created,
            deadline: super::deadline_after(created, timeout),
            slot,
            first_ts,
            rx,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    open: Option<Batch>,
    ready: VecDeque<Batch>,
    /// Records appended so far.
    appended: u64,
    /// Close the open batch now if it holds records appended before this count.
    flush_up_to: u64,
    closed: bool,
}

/// The queue of one partition, shared by appenders and the partition's task.
#[derive(Debug)]
pub(crate) struct PartitionQueue {
    pub partition: i32,
    limits: BatchLimits,
    state: Mutex<State>,
    /// The topic's sticky partition, moved on whenever a batch here is taken.
    sticky: Arc<Sticky>,
    partitions: usize,
    wake: Notify,
    completed: watch::Sender<u64>,
    /// Set after a failure when the producer holds partitions (see
    /// [`super::Producer::hold_after_failures`]): batches fail with it instead of being sent.
    held: Mutex<Option<ProduceError>>,
}

impl PartitionQueue {
    pub fn new(
        partition: i32,
        limits: BatchLimits,
        sticky: Arc<Sticky>,
        partitions: usize,
    ) -> Arc<Self> {
        Arc::new(Self {
            partition,
            limits,
            state: Mutex::new(State::default()),
            sticky,
            partitions,
            wake: Notify::new(),
            completed: watch::channel(0).0,
            held: Mutex::new(None),
        })
    }

    /// Holds the partition with `error`: later batches fail with it until [`Self::release`].
    pub fn hold(&self, error: ProduceError) {
        *self.held.lock() = Some(error);
    }

    /// The error the partition is held with, if it is.
    pub fn held(&self) -> Option<ProduceError> {
        self.held.lock().clone()
    }

    /// Sends batches again.
    pub fn release(&self) {
        *self.held.lock() = None;
    }

    /// Appends a record whose [`crate::kafka::records::size::Measure::fixed`] part is `fixed`; returns its
    /// delivery report and whether a batch closed (for the sticky partitioner), or `None` once
    /// the queue is closed. The caller has checked that the record fits an empty batch.
    pub fn append(
        &self,
        record: Record,
        fixed: usize,
        cost: usize,
    ) -> Option<(DeliveryFuture, bool)> {
        let mut closed_one = false;
        let (future, wake) = {
            let mut st = self.state.lock();
            if st.closed {
                return None;
            }
            let placed = |b: &Batch| {
                let ts_delta = record.timestamp.timestamp_millis() - b.first_ts.timestamp_millis();
                placed_len(fixed, ts_delta, b.records.len())
            };
            let fits = st.open.as_ref().is_some_and(|b| {
                b.records.len() < self.limits.max_records
                    && b.bytes + placed(b) <= self.limits.max_bytes
            });
            if !fits && let Some(full) = st.open.take() {
                st.ready.push_back(full);
                closed_one = true;
            }
            let mut wake = closed_one;
            let timeout = self.limits.delivery_timeout;
            let batch = st.open.get_or_insert_with(|| {
                wake = true; // the partition task must start the linger timer
                Batch::new(record.timestamp, timeout)
            });
            batch.bytes += placed(batch);
            batch.cost += cost;
            batch.records.push(record);
            let index = batch.records.len() - 1;
            let future = DeliveryFuture::pending(batch.rx.clone(), self.partition, index);
            if batch.records.len() >= self.limits.max_records {
                if let Some(full) = st.open.take() {
                    st.ready.push_back(full);
                }
                closed_one = true;
                wake = true;
            }
            st.appended += 1;
            (future, wake)
        };
        if wake {
            self.wake.notify_one();
        }
        Some((future, closed_one))
    }

    /// The next batch to send, waiting for one to close; `None` once closed and drained.
    ///
    /// # Cancellation
    /// Cancel-safe: a batch is only taken out of the queue when it is returned.
    pub async fn next_batch(&self) -> Option<Batch> {
        loop {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let linger_until = {
                let mut st = self.state.lock();
                if let Some(batch) = st.ready.pop_front() {
                    self.sticky
                        .batch_closed(self.partition as usize, self.partitions);
                    return Some(batch);
                }
                match &st.open {
                    Some(open) => {
                        let first_index = st.appended - open.records.len() as u64;
                        let due = open
                            .created
                            .checked_add(self.limits.linger)
                            .unwrap_or(open.created);
                        if st.closed || st.flush_up_to > first_index || due <= Instant::now() {
                            self.sticky
                                .batch_closed(self.partition as usize, self.partitions);
                            return st.open.take();
                        }
                        Some(due)
                    }
                    None if st.closed => return None,
                    None => None,
                }
            };
            match linger_until {
                Some(due) => {
                    tokio::select! {
                        () = &mut notified => {}
                        () = tokio::time::sleep_until(due) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// The delivery deadline of the oldest batch not yet sent.
    pub fn oldest_deadline(&self) -> Option<Instant> {
        let st = self.state.lock();
        st.ready
            .front()
            .or(st.open.as_ref())
            .map(|batch| batch.deadline)
    }

    /// Takes every batch not yet sent (ready ones and the open one), oldest first.
    pub fn take_pending(&self) -> Vec<Batch> {
        let mut st = self.state.lock();
        let mut out: Vec<Batch> = st.ready.drain(..).collect();
        out.extend(st.open.take());
        out
    }

    /// Asks the partition task to close the open batch now; returns the record count to wait for.
    pub fn request_flush(&self) -> u64 {
        let target = {
            let mut st = self.state.lock();
            st.flush_up_to = st.appended;
            st.appended
        };
        self.wake.notify_one();
        target
    }

    /// Records the end (delivered or failed) of `n` records.
    pub fn completed(&self, n: usize) {
        self.completed.send_modify(|c| *c += n as u64);
    }

    /// Waits until `target` records have ended.
    pub async fn wait_completed(&self, target: u64) {
        let mut rx = self.completed.subscribe();
        let _ = rx.wait_for(|done| *done >= target).await;
    }

    /// No more appends: the partition task drains what is there and stops.
    pub fn close(&self) {
        self.state.lock().closed = true;
        self.wake.notify_one();
    }
}

#[cfg(test)]
mod tests;
