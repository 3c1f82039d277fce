//! The writer task: a window of in-flight produce requests, answered in order, and the recovery
//! round that follows any failure (see the parent module for what each answer leads to).
//!
//! Each in-flight future owns its batch and hands it back with the answer, so a batch is
//! always in exactly one place: `waiting`, in flight, `returned` (failed in this round), or
//! answered. Requests are issued from this one task in sequence order; each future is polled
//! once as soon as it is made, which takes its correlation id and its place in the
//! connection's write queue before the next one is made, so the broker sees them in order.
use std::{collections::VecDeque, sync::Arc};

use futures::{FutureExt, StreamExt, future::BoxFuture, stream::FuturesOrdered};
use kafka_protocol::messages::ProduceResponse;
use tokio::{
    sync::{mpsc, oneshot},
    time::Instant,
};
use tracing::{debug, warn};

use super::{
    Cause, Delivered, Reply, Submission, WriteError, WriterConfig,
    request::{Verdict, classify, next_sequence, produce_request, restamp, take_records},
};
use crate::{
    kafka::{
        Purpose,
        error_code::{ErrorCode, ResponseError},
        protocol::{CallError, Connection, Produce, ProducerIdentity},
    },
    producer::session::ProducerSession,
};

/// A batch with its sequence, its request (built once, resent unchanged) and its submitter.
struct Batch {
    request: Produce,
    count: usize,
    sequence: i32,
    deadline: Instant,
    reply: oneshot::Sender<Reply>,
}

impl Batch {
    fn answer(self, outcome: Result<Delivered, WriteError>) {
        // The submitter may have stopped waiting; nothing to do then.
        let _ = self.reply.send(outcome.into());
    }

    /// Answers `error` for a batch the broker rejected, handing its records back.
    fn reject(self, error: WriteError) {
        let _ = self.reply.send(Reply {
            result: Err(error),
            rejected: take_records(&self.request),
        });
    }
}

type Answered = (Batch, Result<ProduceResponse, CallError>);

/// The recovery a failed round needs, most severe last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Trouble {
    Retry,
    Refresh,
    Renew,
}

pub(super) struct Pipeline {
    session: Arc<ProducerSession>,
    topic: String,
    partition: i32,
    config: WriterConfig,
    queue: mpsc::Receiver<Submission>,
    identity: ProducerIdentity,
    next_sequence: i32,
    connection: Option<Arc<Connection>>,
    waiting: VecDeque<Batch>,
    in_flight: FuturesOrdered<BoxFuture<'static, Answered>>,
    /// Batches of the current round that failed in a way that resends them, in order.
    returned: Vec<Batch>,
    trouble: Option<Trouble>,
    /// The last failure, for the timeout error.
    last: Option<Arc<Cause>>,
    /// A batch failed for good: the batches behind it fail with this.
    aborting: Option<Arc<WriteError>>,
    /// The identity must be renewed before the next new batch (a failed sequence left a gap).
    renew_before_next: bool,
    failed_rounds: u32,
}

impl Pipeline {
    pub(super) fn new(
        session: Arc<ProducerSession>,
        topic: &str,
        partition: i32,
        config: WriterConfig,
        queue: mpsc::Receiver<Submission>,
    ) -> Self {
        let identity = session.identity();
        Self {
            session,
            topic: topic.to_owned(),
            partition,
            config,
            queue,
            identity,
            next_sequence: 0,
            connection: None,
            waiting: VecDeque::new(),
            in_flight: FuturesOrdered::new(),
            returned: Vec::new(),
            trouble: None,
            last: None,
            aborting: None,
            renew_before_next: false,
            failed_rounds: 0,
        }
    }

    fn room(&self) -> bool {
        self.in_flight.len() < self.config.max_in_flight.max(1)
    }

    /// Takes a submission: assigns its sequence and builds its request.
    fn accept(&mut self, s: Submission) {
        let count = s.records.len();
        let sequence = self.next_sequence;
        self.next_sequence = next_sequence(sequence, count);
        let request = produce_request(
            &self.topic,
            self.partition,
            &s.records,
            self.config.compression,
            self.identity,
            sequence,
            self.config.broker_timeout_ms,
        );
        // The records are in the batch's bytes now; a rejected batch decodes them again.
        drop(s.records);
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                // A codec that fails on our own records: nothing a resend would fix.
                let _ = s.reply.send(Err(WriteError::Encode(Arc::new(e))).into());
                self.next_sequence = sequence;
                return;
            }
        };
        self.waiting.push_back(Batch {
            request,
            count,
            sequence,
            deadline: Instant::now() + self.config.delivery_timeout,
            reply: s.reply,
        });
    }

    /// Sends the first waiting batch on `connection`.
    fn send(&mut self, connection: &Arc<Connection>) {
        let Some(batch) = self.waiting.pop_front() else {
            return;
        };
        let connection = Arc::clone(connection);
        let mut request: BoxFuture<'static, Answered> = Box::pin(async move {
            let answer = connection.call(&batch.request).await.map(|a| a.body);
            (batch, answer)
        });
        // One poll now: the request takes its correlation id and write-queue place before the
        // next one is made. (A no-op waker is fine: FuturesOrdered polls it again.)
        if let Some(answered) = (&mut request).now_or_never() {
            request = Box::pin(futures::future::ready(answered));
        }
        self.in_flight.push_back(request);
    }

    fn set_trouble(&mut self, trouble: Trouble, cause: Cause) {
        self.trouble = self.trouble.max(Some(trouble));
        self.last = Some(Arc::new(cause));
    }

    /// Handles the answer to the oldest request in flight.
    fn answered(&mut self, (batch, answer): Answered) {
        let (verdict, code) = match &answer {
            Ok(response) => match batch.request.answer(response) {
                Some((code, offset)) => {
                    (classify(code, offset, self.trouble.is_some()), Some(code))
                }
                // An answer that does not mention our partition: ask the leader again.
                None => (Verdict::Retry { refresh: true }, None),
            },
            // The broker has none of Produce v3 to v8.
            Err(CallError::Unsupported { .. }) => {
                let code = ErrorCode::of(ResponseError::UnsupportedVersion);
                (Verdict::Fail(code), Some(code))
            }
            Err(_) => (Verdict::Retry { refresh: true }, None),
        };
        if let Verdict::Delivered(base_offset) = verdict {
            let records = batch.count;
            batch.answer(Ok(Delivered {
                base_offset,
                records,
            }));
            return;
        }
        let (topic, partition, sequence) = (&self.topic, self.partition, batch.sequence);
        match &answer {
            Ok(_) => {
                let code = code.map_or_else(
                    || "partition not in the answer".to_owned(),
                    |c| c.to_string(),
                );
                debug!(%topic, partition, sequence, %code, "produce error");
            }
            Err(error) => debug!(%topic, partition, sequence, %error, "produce failed"),
        }
        if let Some(cause) = &self.aborting {
            batch.reject(WriteError::Aborted(Arc::clone(cause)));
            return;
        }
        let trouble = match verdict {
            Verdict::Fail(code) => {
                let error = WriteError::Rejected { code };
                warn!(%topic, partition, %error, "batch failed");
                let cause = Arc::new(error.clone());
                // What was queued before the failure was known is behind it; what comes later
                // is taken after the recovery. Drained before the submitter hears of the
                // failure: it may answer at once with pieces of this batch (a split), which
                // belong to "later", and it runs on another thread.
                self.abort_queued(&cause);
                batch.reject(error);
                self.aborting = Some(cause);
                // Drain the window, then fail what is behind (see `recover`).
                self.trouble = self.trouble.max(Some(Trouble::Retry));
                return;
            }
            Verdict::Renew => Trouble::Renew,
            Verdict::Retry { refresh: true } => Trouble::Refresh,
            _ => Trouble::Retry,
        };
        let cause = match answer {
            Ok(_) => code.map_or(Cause::NotInAnswer, Cause::Code),
            Err(e) => {
                if e.is_connection_lost()
                    && let Some(c) = self.connection.take()
                {
                    self.session.client().forget(&c);
                }
                Cause::Call(e)
            }
        };
        self.set_trouble(trouble, cause);
        self.returned.push(batch);
    }

    /// After a failed round (nothing in flight): fail what must fail, then get ready to resend.
    async fn recover(&mut self, trouble: Trouble) {
        // Everything returned in this round came before the failed batch, if one failed: those
        // are resent. What never left `waiting` is behind it.
        let mut resend: VecDeque<Batch> = self.returned.drain(..).collect();
        if let Some(cause) = self.aborting.take() {
            self.abort_waiting(&cause);
            self.renew_before_next = true;
        }
        resend.append(&mut self.waiting);
        self.waiting = resend;
        self.failed_rounds += 1;
        let backoff = self
            .config
            .retry_backoff
            .saturating_mul(1 << self.failed_rounds.min(16).saturating_sub(1))
            .min(self.config.max_backoff);
        debug!(topic = %self.topic, partition = self.partition, ?trouble, batches = self.waiting.len(), ?backoff, "resending");
        tokio::time::sleep(backoff).await;
        self.expire();
        if trouble >= Trouble::Refresh {
            self.connection = None;
            self.session.client().invalidate(&self.topic);
        }
        if trouble == Trouble::Renew && !self.waiting.is_empty() {
            self.renew().await;
        }
    }

    /// Fails every waiting batch behind a failed one, handing its records back (the submitter
    /// may send them again once it dealt with the failed one).
    fn abort_waiting(&mut self, cause: &Arc<WriteError>) {
        for batch in self.waiting.drain(..) {
            batch.reject(WriteError::Aborted(Arc::clone(cause)));
        }
    }

    /// Fails every queued submission behind a failed batch, handing its records back.
    fn abort_queued(&mut self, cause: &Arc<WriteError>) {
        while let Ok(s) = self.queue.try_recv() {
            let _ = s.reply.send(Reply {
                result: Err(WriteError::Aborted(Arc::clone(cause))),
                rejected: Some(s.records),
            });
        }
    }

    /// Fails the first waiting batch (and all behind it) when its delivery timeout has passed.
    fn expire(&mut self) {
        let Some(first) = self.waiting.front() else {
            return;
        };
        if Instant::now() < first.deadline {
            return;
        }
        let error = WriteError::Timeout {
            after: self.config.delivery_timeout,
            last: self
                .last
                .clone()
                .unwrap_or_else(|| Arc::new(Cause::NoAnswer)),
        };
        warn!(topic = %self.topic, partition = self.partition, %error, "batch failed");
        let first = self.waiting.pop_front();
        let cause = Arc::new(error.clone());
        // As with a refused batch: what is behind it fails before its submitter hears.
        self.abort_waiting(&cause);
        self.abort_queued(&cause);
        if let Some(first) = first {
            first.answer(Err(error));
        }
        self.renew_before_next = true;
    }

    /// Renews the identity and renumbers the waiting batches from sequence 0. On failure, the
    /// next round tries again.
    async fn renew(&mut self) {
        match self.session.renew(self.identity).await {
            Ok(identity) => {
                self.identity = identity;
                self.next_sequence = 0;
                for batch in &mut self.waiting {
                    batch.sequence = self.next_sequence;
                    restamp(&mut batch.request, identity, batch.sequence);
                    self.next_sequence = next_sequence(batch.sequence, batch.count);
                }
                self.renew_before_next = false;
            }
            Err(e) => self.set_trouble(Trouble::Renew, Cause::Session(e)),
        }
    }

    /// The leader's connection, looked up when there is none.
    async fn connection(&mut self) -> Option<Arc<Connection>> {
        if self.connection.is_none() {
            match self
                .session
                .client()
                .leader(&self.topic, self.partition, Purpose::Produce)
                .await
            {
                Ok(c) => self.connection = Some(c),
                Err(e) => self.set_trouble(Trouble::Refresh, Cause::Client(e)),
            }
        }
        self.connection.clone()
    }
}

/// Runs until the handle is dropped and everything queued is resolved.
pub(super) async fn run(mut p: Pipeline) {
    let mut closed = false;
    loop {
        if p.trouble.is_none() && !p.waiting.is_empty() && p.room() {
            if let Some(connection) = p.connection().await {
                while p.room() && !p.waiting.is_empty() {
                    p.send(&connection);
                }
            }
            continue;
        }
        if p.in_flight.is_empty() {
            if let Some(trouble) = p.trouble.take() {
                p.recover(trouble).await;
                continue;
            }
            if closed && p.waiting.is_empty() {
                return;
            }
            if p.renew_before_next && p.waiting.is_empty() {
                p.renew().await;
                continue;
            }
        }
        let accepting = !closed
            && p.trouble.is_none()
            && p.waiting.is_empty()
            && p.room()
            && !p.renew_before_next;
        tokio::select! {
            biased;
            Some(answered) = p.in_flight.next() => {
                p.answered(answered);
                if p.trouble.is_none() {
                    p.failed_rounds = 0;
                }
            }
            submission = p.queue.recv(), if accepting => match submission {
                Some(s) => p.accept(s),
                None => closed = true,
            },
            // Not reached: with nothing in flight the checks above send, recover, renew or
            // return. Stopping answers every batch still held with `Closed`.
            else => return,
        }
    }
}
