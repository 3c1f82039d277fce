//! The pipeline of one partition: one task that takes the partition's closed batches from its
//! [`PartitionQueue`], numbers them under the producer id and epoch, encodes each once, keeps
//! up to `max_in_flight` Produce requests on the leader's connection, handles every answer, and
//! settles each batch (metrics, buffer space, delivery reports) itself.
//!
//! ```text
//!  PartitionQueue ──next_batch──► accept: sequence, encode once ──► waiting ──► in flight (≤ window,
//!        ▲ take_pending (fail behind)                                  ▲        written in order,
//!        │ hold (after a failure)                                      │        answered in order)
//!        └──────────────── recover: resend in order, split, renumber ──┴─── answers ──► settle
//! ```
//!
//! The window (`window`) is one request until a batch of the current identity is acknowledged
//! on the partition, then `max_in_flight`; one again after a renewal and after the partition
//! sent nothing for `window::IDLE_BOUND`. Kafka 2.5+ takes any first sequence from a producer
//! id it holds no state for, so a first batch refused for a reason of its own must have nothing
//! behind it in flight. Without a producer id (idempotence off, or no broker hands one out) the
//! same pipeline runs with producer id −1 and one request in flight: a resent batch is then
//! always written before the ones behind it.
//!
//! # Answers and what the pipeline does (see `request::classify`)
//! - success: delivered, with the base offset;
//! - DUPLICATE_SEQUENCE_NUMBER (46): delivered before, offset unknown (−1; librdkafka and the
//!   Java client do the same);
//! - a retriable error, a lost connection or no answer within `request_timeout_ms`: every
//!   request in flight is let finish, then the unacknowledged batches are resent in order,
//!   unchanged (same identity, same sequences), after a backoff, to the leader found in fresh
//!   metadata;
//! - OUT_OF_ORDER_SEQUENCE_NUMBER (45) behind an earlier failed or split batch: part of that
//!   resend (the gap is the earlier batch's), as the Java client does;
//! - OUT_OF_ORDER_SEQUENCE_NUMBER on the first unacknowledged batch, UNKNOWN_PRODUCER_ID (59),
//!   INVALID_PRODUCER_EPOCH (47), PRODUCER_FENCED (90): the broker's state and ours differ. Once
//!   nothing is in flight the identity is renewed (KIP-360) and every unacknowledged batch is
//!   renumbered from sequence 0 and resent in order. We resend rather than fail (librdkafka,
//!   the Java client): per-key order outranks the rare duplicate, which the consumer's dedupe
//!   removes;
//! - CORRUPT_MESSAGE (2): not written, damaged on the way; resent unchanged after a backoff,
//!   as a retriable error is, at most `answer::DAMAGED_RESENDS` times, then failed as below;
//! - MESSAGE_TOO_LARGE (10) or RECORD_LIST_TOO_LARGE (18): not written. The batch is decoded
//!   back into its records and split in place, left half before right half, on the same
//!   sequences; one record alone fails with [`ProduceError::RecordTooLarge`] and blocks
//!   nothing: the batches behind it are resent under a renewed identity, renumbered from 0.
//!   Renumbering them over its sequence under the same identity could lose one: a copy of a
//!   batch behind it that an earlier, timed-out request still carries may reach the broker
//!   after the renumbered batch, take the next sequence and make the broker answer the batch
//!   renumbered onto that sequence as a duplicate. Under a new identity (or epoch) the old
//!   copy is out of order and refused. When a batch ahead of the record in the same round was
//!   not delivered and may have been written (answered with a retriable error, or its answer
//!   lost), the record goes again behind that batch's resend and is dropped only once no such
//!   batch is ahead of it: the renewal never renumbers a batch the broker may have written;
//! - any other error: that batch fails, and every batch behind it (in flight, waiting, or in
//!   the queue) fails with the same error, so a caller that retries them keeps their order; the
//!   next batch starts under a renewed identity, since the failed sequence left a gap. When
//!   [`super::Producer::hold_after_failures`] was called, the partition is held: later batches
//!   fail unsent until [`super::Producer::release_holds`];
//! - a batch still unacknowledged after its delivery deadline fails the same way.
mod answer;
mod piece;
mod recover;
mod unsettled;
mod window;

use std::{collections::VecDeque, sync::Arc, time::Duration};

use futures::{FutureExt, StreamExt, future::BoxFuture, stream::FuturesOrdered};
use rskafka::{protocol::api_key::ApiKey, record::Record};
use tokio::time::Instant;

use super::{
    ProduceError, Shared, TransportError,
    accumulator::{Batch, PartitionQueue},
    delivery::Outcome,
    request::{next_sequence, produce_request},
    transport::PartitionLeader,
};
use crate::kafka::protocol::{CallError, ProducerIdentity};
use piece::{Answered, Piece, Recovery};
use unsettled::{Unsettled, fail_batch};
use window::Window;

/// The state of one partition's pipeline. See the module docs.
pub(super) struct PartitionTask {
    shared: Arc<Shared>,
    topic: Arc<str>,
    queue: Arc<PartitionQueue>,
    /// The producer id and epoch pieces are numbered under.
    identity: ProducerIdentity,
    /// Requests in flight at most: one until the broker holds our state on the partition.
    window: Window,
    /// How long a request may go unanswered before it counts as failed.
    request_timeout: Duration,
    /// The sequence of the next new piece.
    next_sequence: i32,
    /// The leader's connection, looked up when there is none.
    leader: Option<Arc<dyn PartitionLeader>>,
    /// Encoded pieces to send (again), in order.
    waiting: VecDeque<Piece>,
    /// Requests in flight, in the order they were written; each owns its piece and hands it
    /// back with the answer, so a piece is always in exactly one place.
    in_flight: FuturesOrdered<BoxFuture<'static, Answered>>,
    /// Pieces of the current round that go out again, in order.
    returned: Vec<Piece>,
    /// What the current round needs before the next; `None`: all is well.
    recovery: Option<Recovery>,
    /// The last failure seen, for the timeout error.
    last: Option<String>,
    /// A piece failed for good: the pieces behind it fail with this.
    aborting: Option<ProduceError>,
    /// The identity must be renewed before the next new piece (a failed sequence left a gap).
    renew_before_next: bool,
    /// A record dropped this round (too large alone) left a gap: the pieces behind it go out
    /// again under a renewed identity, renumbered from 0.
    renew_now: bool,
    /// Failed rounds in a row, for the backoff.
    failed_rounds: u32,
    /// The batches taken from the queue and not settled yet.
    unsettled: Unsettled,
    /// The queue is closed and drained.
    closed: bool,
}

/// Runs the pipeline of `queue` until the queue is closed and every batch is settled.
pub(super) async fn run(shared: Arc<Shared>, topic: Arc<str>, queue: Arc<PartitionQueue>) {
    PartitionTask::new(shared, topic, queue).run().await;
}

impl PartitionTask {
    fn new(shared: Arc<Shared>, topic: Arc<str>, queue: Arc<PartitionQueue>) -> Self {
        let identity = shared.transport.identity();
        let depth = if identity.is_none() {
            1
        } else {
            shared.transport.max_in_flight().clamp(1, 5)
        };
        let request_timeout = Duration::from_millis(shared.config.request_timeout_ms);
        Self {
            shared,
            topic,
            queue,
            identity,
            window: Window::new(depth),
            request_timeout,
            next_sequence: 0,
            leader: None,
            waiting: VecDeque::new(),
            in_flight: FuturesOrdered::new(),
            returned: Vec::new(),
            recovery: None,
            last: None,
            aborting: None,
            renew_before_next: false,
            renew_now: false,
            failed_rounds: 0,
            unsettled: Unsettled::default(),
            closed: false,
        }
    }

    /// Room in the window, and not behind requests still in flight on a connection the broker
    /// hung up: their answers come at once (lost), and a piece sent meanwhile on a new
    /// connection could reach the broker before them and be refused as out of order (one more
    /// round of resends: answers settle in send order, so it counts as behind their failure).
    fn room(&self) -> bool {
        let hung_up = self.leader.as_ref().is_some_and(|l| l.is_closed());
        self.in_flight.len() < self.window.size() && (!hung_up || self.in_flight.is_empty())
    }

    async fn run(mut self) {
        loop {
            if self.recovery.is_none() && !self.waiting.is_empty() && self.room() {
                self.send_waiting().await;
                continue;
            }
            if self.in_flight.is_empty() {
                if let Some(recovery) = self.recovery.take() {
                    self.recover(recovery).await;
                    continue;
                }
                if self.closed && self.waiting.is_empty() {
                    return;
                }
                if self.renew_before_next && self.waiting.is_empty() {
                    self.renew().await;
                    continue;
                }
            }
            let accepting = !self.closed
                && self.recovery.is_none()
                && self.waiting.is_empty()
                && self.room()
                && !self.renew_before_next;
            tokio::select! {
                biased;
                Some(answered) = self.in_flight.next() => {
                    self.answered(answered);
                    if self.recovery.is_none() {
                        self.failed_rounds = 0;
                    }
                }
                batch = self.queue.next_batch(), if accepting => match batch {
                    Some(batch) => self.accept(batch),
                    None => self.closed = true,
                },
                // Not reached: with nothing in flight the checks above send, recover, renew or
                // return.
                else => return,
            }
        }
    }

    /// Takes a batch from the queue: fails it when the partition is held, else numbers and
    /// encodes it (its records are in the request's bytes from here on).
    fn accept(&mut self, mut batch: Batch) {
        if let Some(error) = self.queue.held() {
            fail_batch(&self.shared, &self.queue, batch, &error);
            return;
        }
        let records = std::mem::take(&mut batch.records);
        let deadline = batch.deadline;
        let serial = self.unsettled.push(batch, records.len());
        match self.encode(&records, self.next_sequence, deadline, (serial, 0)) {
            Ok(piece) => {
                self.next_sequence = next_sequence(piece.sequence, piece.count);
                self.waiting.push_back(piece);
            }
            Err(e) => {
                // A codec that fails on our own records: nothing a resend would fix. No
                // sequence was used; what is queued behind fails with it.
                let error = ProduceError::Fatal(Arc::new(TransportError::Encode(e)));
                self.fail_behind(&error);
                self.settle(serial, 0, records.len(), Outcome::Failed(error));
            }
        }
    }

    /// `records` encoded as a piece from `sequence` on; `origin`: its batch's serial and the
    /// index of its first record there.
    fn encode(
        &self,
        records: &[Record],
        sequence: i32,
        deadline: Instant,
        (serial, first): (u64, usize),
    ) -> std::io::Result<Piece> {
        let config = &self.shared.config;
        let request = produce_request(
            &self.topic,
            self.queue.partition,
            records,
            config.compression.to_rskafka(),
            self.identity,
            sequence,
            i32::try_from(config.request_timeout_ms).unwrap_or(i32::MAX),
        )?;
        Ok(Piece {
            request,
            count: records.len(),
            sequence,
            deadline,
            serial,
            first,
            damaged: 0,
            sent: Instant::now(),
            via: None,
        })
    }

    /// Sends waiting pieces while there is room in the window.
    async fn send_waiting(&mut self) {
        let Some(leader) = self.leader().await else {
            return;
        };
        while self.room()
            && let Some(piece) = self.waiting.pop_front()
        {
            if self.shared.past_send_until() {
                // Unsent, with all behind them: the queue first, as with a refused batch. A
                // resent piece's sequence may have been written: a renewed identity next.
                self.waiting.push_front(piece);
                self.fail_behind(&ProduceError::LeaseEnded);
                self.fail_waiting(&ProduceError::LeaseEnded);
                self.renew_before_next = true;
                return;
            }
            self.send(&leader, piece);
        }
    }

    /// Puts `piece` in flight on `leader`.
    fn send(&mut self, leader: &Arc<dyn PartitionLeader>, mut piece: Piece) {
        piece.sent = Instant::now();
        piece.via = Some(Arc::clone(leader));
        let leader = Arc::clone(leader);
        let limit = self.request_timeout;
        // The lane hands the request to the connection no later than `send_until`: one that
        // waited past it in the lane (the process was frozen, the lane's connection busy) is
        // dropped unwritten (see `Producer::send_until` for the bound's limit).
        let write_by = *self.shared.send_until.lock();
        let mut request: BoxFuture<'static, Answered> = Box::pin(async move {
            let produced = leader.produce(&piece.request, limit, write_by);
            let answer = match tokio::time::timeout(limit, produced).await {
                Ok(answer) => answer,
                Err(_) => Err(CallError::Timeout {
                    api: ApiKey::Produce,
                    after: limit,
                }),
            };
            (piece, answer)
        });
        // One poll now: the request takes its place on the connection before the next one is
        // made. (A no-op waker is fine: FuturesOrdered polls it again.)
        if let Some(answered) = (&mut request).now_or_never() {
            request = Box::pin(std::future::ready(answered));
        }
        self.in_flight.push_back(request);
    }

    /// The leader's connection, looked up when there is none or the broker hung up the one
    /// there was (no request fails on it then) and no request is in flight on it any more
    /// ([`Self::room`] then sends nothing).
    async fn leader(&mut self) -> Option<Arc<dyn PartitionLeader>> {
        if self.in_flight.is_empty()
            && let Some(leader) = self.leader.take_if(|leader| leader.is_closed())
        {
            leader.lost();
        }
        if self.leader.is_none() {
            let transport = Arc::clone(&self.shared.transport);
            match transport
                .leader(Arc::clone(&self.topic), self.queue.partition)
                .await
            {
                Ok(leader) => self.leader = Some(leader),
                Err(e) => self.need_recovery(Recovery::Refresh, e.to_string()),
            }
        }
        self.leader.clone()
    }

    fn need_recovery(&mut self, recovery: Recovery, cause: String) {
        self.recovery = self.recovery.max(Some(recovery));
        self.last = Some(cause);
    }

    /// Records the outcome of `count` records from index `first` of batch `serial`, and
    /// settles the batch once all of its records have one.
    fn settle(&mut self, serial: u64, first: usize, count: usize, outcome: Outcome) {
        if let Some((batch, n, outcome)) = self.unsettled.record(serial, first, count, outcome) {
            unsettled::settle(&self.shared, &self.topic, &self.queue, batch, n, outcome);
        }
    }

    /// Settles `piece` with `outcome`.
    fn settle_piece(&mut self, piece: &Piece, outcome: Outcome) {
        self.settle(piece.serial, piece.first, piece.count, outcome);
    }

    /// After `error`: holds the partition when the producer holds partitions, and fails every
    /// batch still in the queue (it is behind the failed one).
    fn fail_behind(&mut self, error: &ProduceError) {
        if self.shared.hold.load(std::sync::atomic::Ordering::Acquire) {
            self.queue.hold(error.clone());
        }
        for later in self.queue.take_pending() {
            fail_batch(&self.shared, &self.queue, later, error);
        }
    }
}

#[cfg(test)]
mod fresh_identity_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod window_tests;
