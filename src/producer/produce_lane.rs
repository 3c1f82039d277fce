//! One broker's Produce requests, gathered: every partition task hands its request to the lane
//! of its leader's Produce connection, and the lane sends what the partitions handed it at
//! about the same time as one Produce request, at most one batch per partition, and hands each
//! partition its part of the answer.
//!
//! ```text
//!  partition task (events/0)  ─┐ produce(batch)                 one Produce {events/0, notes/2}
//!  partition task (notes/2)   ─┼───────────────► lane ───────────────────────────────► leader
//!  partition task (analytics/1)┘ ◄─ its part ──      ◄──────────── answer ────────────┘
//! ```
//!
//! librdkafka, the Java client and franz-go send one Produce per broker with every partition
//! that has a batch ready; one request per partition costs the broker (and us) a request's
//! work per batch. Here a registration writes three records to three topics, the second and
//! third in one relay round, so their two batches become one request.
//!
//! The lane adds no wait: it sends as soon as it runs, with whatever was handed to it by then
//! (after letting the runtime run the other ready tasks once). A partition's second batch
//! waits for the next request, and the lane writes its requests in the order it formed them,
//! so each partition's batches reach the connection in the order the partition handed them
//! over, which the pipeline's sequences rely on. A partition uses one lane at a time: it
//! looks its leader up again only once nothing of it is in flight. A part whose caller gave up
//! (its request timeout passed) before the lane formed its request is not sent, and a request
//! times out at the earliest of its parts' deadlines, so nothing of a partition is written
//! after the partition gave it up and resent it, on this connection or a new one. A failed
//! request fails every part with the same error; the partitions resend in their recovery.
use std::{
    collections::{HashSet, VecDeque},
    sync::Arc,
    time::Duration,
};

use futures::{FutureExt, StreamExt, future::BoxFuture, stream::FuturesUnordered};
use rskafka::{messenger::RequestError, protocol::api_key::ApiKey};
use tokio::{
    sync::{mpsc, oneshot},
    time::Instant,
};

use super::transport::PartitionAnswer;
use crate::kafka::protocol::{CallError, Connection, Produce, ProduceBatches};

/// The most batch bytes one gathered request carries, the Java client's `max.request.size`
/// default; a larger batch goes in a request of its own.
const MAX_REQUEST_BYTES: usize = 1 << 20;

/// One partition's answer, or why its request failed.
type Reply = Result<PartitionAnswer, CallError>;

/// A partition's request waiting in the lane.
struct Handed {
    request: Produce,
    reply: oneshot::Sender<Reply>,
    /// When its caller gives up: the request that carries it is dropped then if unwritten.
    deadline: Instant,
    /// When its caller may no longer have it written (its sender's `send_until`): it is
    /// dropped unwritten if it still waits for the connection then.
    write_by: Option<Instant>,
}

/// The lane of one Produce connection. Dropping the last handle ends its task once the requests
/// in flight are answered or timed out.
pub(super) struct ProduceLane {
    connection: Arc<Connection>,
    handed: mpsc::UnboundedSender<Handed>,
}

impl std::fmt::Debug for ProduceLane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProduceLane")
            .field("broker", &self.connection.addr())
            .finish_non_exhaustive()
    }
}

impl ProduceLane {
    /// A lane sending on `connection`; its task runs on the current runtime.
    pub fn start(connection: Arc<Connection>) -> Self {
        let (handed, queue) = mpsc::unbounded_channel();
        tokio::spawn(run(Arc::clone(&connection), queue));
        Self { connection, handed }
    }

    /// The connection the lane sends on.
    pub fn connection(&self) -> &Arc<Connection> {
        &self.connection
    }

    /// Hands `request` to the lane, which places it behind every request handed over before;
    /// resolves with the answer for its partition. The caller gives up after `timeout`; it is
    /// not written after `write_by` (the answer may come later).
    pub fn produce(
        &self,
        request: &Produce,
        timeout: Duration,
        write_by: Option<Instant>,
    ) -> BoxFuture<'static, Reply> {
        let (reply, answer) = oneshot::channel();
        let handed = Handed {
            request: request.clone(),
            reply,
            deadline: Instant::now() + timeout,
            write_by,
        };
        // Refused, the part is dropped with its reply sender, and the answer below says so.
        let _ = self.handed.send(handed);
        Box::pin(async move {
            // No answer: the lane's task is gone (its runtime shut down), as with a lost
            // connection.
            answer.await.unwrap_or_else(|_| Err(lane_gone()))
        })
    }
}

/// The error of a request whose lane ended before it answered.
fn lane_gone() -> CallError {
    let gone = std::io::Error::new(
        std::io::ErrorKind::BrokenPipe,
        "the connection's produce lane ended",
    );
    CallError::Request {
        api: ApiKey::Produce,
        source: RequestError::IO(gone),
    }
}

/// The lane's task: takes what was handed over, sends it in as few requests as one batch per
/// partition allows, and answers each part, until every handle is dropped.
async fn run(connection: Arc<Connection>, mut queue: mpsc::UnboundedReceiver<Handed>) {
    let mut waiting: VecDeque<Handed> = VecDeque::new();
    let mut in_flight: FuturesUnordered<BoxFuture<'static, ()>> = FuturesUnordered::new();
    let mut open = true;
    while open || !in_flight.is_empty() {
        tokio::select! {
            handed = queue.recv(), if open => {
                let Some(first) = handed else {
                    open = false;
                    continue;
                };
                waiting.push_back(first);
                // Whatever the other ready tasks hand over now goes in the same request.
                tokio::task::yield_now().await;
                while let Ok(more) = queue.try_recv() {
                    waiting.push_back(more);
                }
                while let Some(parts) = next_request(&mut waiting) {
                    let mut request = send(Arc::clone(&connection), parts);
                    // One poll now: the request takes its place on the connection before the
                    // next one is formed.
                    if (&mut request).now_or_never().is_none() {
                        in_flight.push(request);
                    }
                }
            }
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
        }
    }
}

/// The next request's parts from `waiting`, in order: at most one per partition and about
/// [`MAX_REQUEST_BYTES`]; the rest stay, in order. `None` when nothing is left to send. Parts
/// whose caller stopped waiting are dropped.
fn next_request(waiting: &mut VecDeque<Handed>) -> Option<Vec<Handed>> {
    let mut parts = Vec::new();
    let mut partitions = HashSet::new();
    let mut bytes = 0;
    let mut rest = VecDeque::new();
    let now = Instant::now();
    for handed in waiting.drain(..) {
        if handed.reply.is_closed() {
            continue;
        }
        if handed.deadline <= now || handed.write_by.is_some_and(|w| w <= now) {
            // Its caller gives up now, or may no longer have it written: never written, and
            // it says so.
            let _ = handed.reply.send(Err(CallError::NotWritten {
                api: ApiKey::Produce,
            }));
            continue;
        }
        let request = &handed.request;
        let full = !parts.is_empty() && bytes + request.batch.len() > MAX_REQUEST_BYTES;
        // The partition's first batch here goes in this request unless the request is full;
        // any later one (or every one, once its first stayed behind) waits for the next.
        let first = partitions.insert((request.topic.clone(), request.partition));
        if full || !first {
            rest.push_back(handed);
            continue;
        }
        bytes += request.batch.len();
        parts.push(handed);
    }
    *waiting = rest;
    (!parts.is_empty()).then_some(parts)
}

/// Sends `parts` as one request on `connection` and answers each. The request times out at the
/// earliest deadline of its parts, so it is dropped (unwritten if it still waits for the
/// connection, written whole if its write began) no later than any of its callers gives up:
/// as a caller's own timeout left a request of its own before the lane, so no batch is written
/// after its partition resent it elsewhere. It is dropped as well once every caller stopped
/// waiting.
fn send(connection: Arc<Connection>, parts: Vec<Handed>) -> BoxFuture<'static, ()> {
    let deadline = parts.iter().map(|h| h.deadline).min();
    // The earliest time by which a part must be written: a connection the broker throttles
    // past it writes nothing ([`Connection::call_written_by`]).
    let write_by = parts.iter().filter_map(|h| h.write_by).min();
    let (requests, mut replies): (Vec<Produce>, Vec<_>) =
        parts.into_iter().map(|h| (h.request, h.reply)).unzip();
    Box::pin(async move {
        let call = ProduceBatches { parts: requests };
        let limit = deadline.map_or(Duration::ZERO, |d| {
            d.saturating_duration_since(Instant::now())
        });
        let answer = tokio::select! {
            // The call first: its first poll is what places the request on the connection.
            biased;
            answer = connection.call_written_by(&call, limit, write_by) => answer,
            () = all_closed(&mut replies) => return,
        };
        match answer {
            Ok(answer) => {
                for (request, reply) in call.parts.iter().zip(replies) {
                    let _ = reply.send(Ok(request.answer(&answer.body)));
                }
            }
            Err(error) => {
                for (error, reply) in error.share(replies.len()).into_iter().zip(replies) {
                    let _ = reply.send(Err(error));
                }
            }
        }
    })
}

/// Resolves once no caller of `replies` waits any longer.
async fn all_closed(replies: &mut [oneshot::Sender<Reply>]) {
    for reply in replies {
        reply.closed().await;
    }
}

#[cfg(test)]
mod tests;
