//! Fetching: each partition asks for its records with
//! [`PartitionFetcher::fetch`](super::PartitionFetcher::fetch); the partitions
//! led by one broker share that broker's fetch lane, a task that gathers whatever they asked
//! for into one Fetch request on the broker's fetch connection and hands each its part.
//!
//! ```text
//!  PartitionFetcher (p0) ─┐ want(offset)           one Fetch {p0, p3, p5}, long-polling
//!  PartitionFetcher (p3) ─┼──────────────► lane ──────────────────────────────► leader
//!  PartitionFetcher (p5) ─┘ ◄── its part ──       ◄──────────── answer ─────────┘
//! ```
//!
//! This is how every Kafka client fetches, and the reason is the broker: it answers the
//! requests of one connection in order, so one long-polling request per partition on a shared
//! connection would make each partition wait behind the others' polls. A partition asked for
//! twice (its read-ahead) is fetched once per request; the second want goes in the next one.
//!
//! **Appends we hear of.** The producer and the consumer share the client, so the client knows
//! when a partition that a lane is waiting on got records from this process
//! ([`Client::appended`]), and other instances sharing our store tell us of theirs
//! ([`Client::appended_elsewhere`]). Kafka answers a waiting Fetch as soon as records arrive;
//! Nisshi looks at its log again only after sleeping half the wait left, so a record waited
//! about a sixth of the fetch wait there. When the lane's Fetch has not answered by the time the
//! lane hears of such an append (and has let the runtime run once), the lane asks again with
//! a short wait ([`PROMPT_WAIT_MS`], on the connection for short requests) and answers the
//! round from that; the first Fetch's answer is discarded when it comes. A broker that answers
//! on arrival has usually answered by then; when not, the cost is one small Fetch per
//! acknowledged produce request that found the lane waiting. Until the first Fetch is
//! answered, the next one on the fetch connection waits behind it (at most one fetch wait),
//! which holds back only records from processes that do not tell us of their appends: the
//! others prompt another Fetch on the admin connection.
//!
//! A partition that asks while a round waits goes in the next round, after this one's wait.
//! The partitions of an answered round ask again one by one, so the round after it often lacks
//! some of them. When an append to such a partition is heard, before or after it asks, its want
//! is fetched at once on the admin connection (the same short wait), beside the round; appends
//! to partitions the lane was never asked for are not kept.
use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Weak,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::FutureExt;
use kafka_protocol::messages::FetchResponse;
use tokio::sync::{
    broadcast::{self, error::RecvError, error::TryRecvError},
    mpsc, oneshot,
};

use super::{Client, ClientError, Purpose, appends::Appended};
use crate::kafka::protocol::{
    Fetch, FetchError, FetchPart, PartitionData, fetch_error, split_answer,
};

/// Wants queued for one lane before its senders wait.
const LANE_QUEUE: usize = 256;
/// How long past twice its `max_wait_ms` a Fetch may go unanswered before its connection is
/// taken for lost (the broker went silent): a few round trips of a slow link, far below the client's
/// request timeout, which must cover a JoinGroup's rebalance.
const FETCH_MARGIN: Duration = Duration::from_secs(5);

/// The wait of the Fetch asked again: records are there, so a broker answers at once. 10 ms:
/// Nisshi 0.8.1 stops listing a partition's batches when the wait is over, and at 1 ms it missed
/// the newest batch on a loaded machine (18 and 51 times in e2e bench runs, redb and PostgreSQL).
const PROMPT_WAIT_MS: i32 = 10;
/// One partition's wish for records.
pub(super) struct Want {
    pub(super) part: FetchPart,
    pub(super) max_wait_ms: i32,
    pub(super) reply: oneshot::Sender<Result<PartitionData, FetchError>>,
}

/// The lanes of a client, by broker address.
pub(super) type Lanes = HashMap<String, mpsc::Sender<Want>>;

impl Client {
    /// The fetch lane of the broker at `addr`, started on first use. A lane ends when the
    /// client is dropped.
    pub(super) fn lane(self: &Arc<Self>, addr: &str) -> mpsc::Sender<Want> {
        let mut lanes = self.lanes.lock();
        if let Some(tx) = lanes.get(addr)
            && !tx.is_closed()
        {
            return tx.clone();
        }
        let (tx, rx) = mpsc::channel(LANE_QUEUE);
        let appends = self.appends.lanes.subscribe();
        tokio::spawn(run(Arc::downgrade(self), addr.to_owned(), rx, appends));
        lanes.insert(addr.to_owned(), tx.clone());
        tx
    }
}

/// Serves one broker's wants until the client is gone.
async fn run(
    client: Weak<Client>,
    addr: String,
    rx: mpsc::Receiver<Want>,
    appends: broadcast::Receiver<Appended>,
) {
    let mut lane = FetchLane {
        client,
        addr,
        rx,
        next: Vec::new(),
        appends,
        heard: HashSet::new(),
        asked: HashMap::new(),
    };
    while let Some(round) = lane.next_round().await {
        let Some(client) = lane.client.upgrade() else {
            return;
        };
        let answer = lane.answer(&client, &round).await;
        drop(client);
        answer_round(round, answer);
    }
}

/// One broker's fetch lane: the wants it has not sent yet.
struct FetchLane {
    /// The client; the lane ends when it is gone.
    client: Weak<Client>,
    /// The broker's address.
    addr: String,
    /// Where partitions send their wants.
    rx: mpsc::Receiver<Want>,
    /// Wants for the next requests: a partition asked for twice waits for the one after.
    next: Vec<Want>,
    /// Partitions appended to (by us, or as others told us).
    appends: broadcast::Receiver<Appended>,
    /// Partitions appended to since the last Fetch that asked for them was sent: a want for
    /// one of them has records waiting and is not held back until the round ends. Only
    /// partitions in `asked`, so it holds at most one entry per partition this lane fetches.
    heard: HashSet<Appended>,
    /// The partitions this lane was ever asked for, by topic: appends to others (the topics
    /// this process only produces to, partitions of other lanes) are not kept.
    asked: HashMap<Arc<str>, HashSet<i32>>,
}

impl FetchLane {
    /// The wants of the next request, at most one per partition, once there are any; `None`
    /// when every sender is gone.
    async fn next_round(&mut self) -> Option<Vec<Want>> {
        loop {
            if self.next.is_empty() {
                let w = self.rx.recv().await?;
                self.want(w);
            }
            while let Ok(w) = self.rx.try_recv() {
                self.want(w);
            }
            // Wants whose partition task stopped waiting are dropped; a partition asked for
            // twice waits for the next request.
            self.next.retain(|w| !w.reply.is_closed());
            let mut round: Vec<Want> = Vec::new();
            let mut later = Vec::new();
            for w in self.next.drain(..) {
                let twice = round
                    .iter()
                    .any(|r| r.part.partition == w.part.partition && r.part.topic == w.part.topic);
                if twice { later.push(w) } else { round.push(w) }
            }
            self.next = later;
            if !round.is_empty() {
                return Some(round);
            }
        }
    }

    /// The answer to `round`: one Fetch, waiting on the fetch connection; or, when an append
    /// to one of its partitions is heard meanwhile and it has not answered by then, the same
    /// Fetch with [`PROMPT_WAIT_MS`] on the admin connection. Wants that come meanwhile wait for
    /// the next round, unless their partition was appended to ([`FetchLane::prompt_heard`]).
    async fn answer(
        &mut self,
        client: &Arc<Client>,
        round: &[Want],
    ) -> Result<FetchResponse, ClientError> {
        let max_wait_ms = round.iter().map(|w| w.max_wait_ms).min().unwrap_or(0);
        // What was appended before this Fetch is sent is in the log when the broker reads it;
        // appends to partitions it does not ask for are kept for their wants.
        loop {
            match self.appends.try_recv() {
                Ok(appended) => self.hear(appended),
                Err(TryRecvError::Lagged(_)) => {}
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        self.heard.retain(|(topic, p)| !asks_for(round, topic, *p));
        let addr = self.addr.clone(); // the lane's state changes while the Fetch waits
        let written = Arc::new(AtomicBool::new(false));
        let noted = Some(Arc::clone(&written));
        let waiting = fetch(client, &addr, round, max_wait_ms, Purpose::Fetch, noted);
        let mut waiting = Box::pin(waiting);
        let heard = loop {
            tokio::select! {
                answer = &mut waiting => return answer,
                Some(want) = self.rx.recv() => {
                    self.want(want);
                    self.prompt_heard(client).await;
                }
                appended = self.appends.recv() => match appended {
                    Ok(appended) if !asks_for(round, &appended.0, appended.1) => {
                        self.hear(appended);
                        self.prompt_heard(client).await;
                    }
                    Err(RecvError::Closed) => return waiting.await,
                    // One of its partitions, or more appends than were kept.
                    Ok(appended) => break Some(appended),
                    Err(RecvError::Lagged(_)) => break None,
                },
            }
        };
        // A broker that answers on arrival sent its answer with the produce acknowledgement:
        // it is taken if the connection has it by the time the runtime comes back to us.
        tokio::task::yield_now().await;
        if let Some(answer) = (&mut waiting).now_or_never() {
            // It may have been read before the append: the partition's next want is fetched
            // at once even when it misses the next round.
            self.heard.extend(heard);
            return answer;
        }
        // A round's Fetch already written is still answered on the fetch connection: awaited
        // on a task of its own, so that a throttle its answer carries (the broker mutes the
        // connection for it) is noted when it comes rather than dropped unread. One not
        // written yet (waiting out a throttle, or for its connection) is dropped unwritten.
        if written.load(Ordering::Acquire) {
            tokio::spawn(waiting);
        }
        fetch(client, &addr, round, PROMPT_WAIT_MS, Purpose::Admin, None).await
    }
}

impl FetchLane {
    /// Takes `w` for a coming request and notes its partition as one this lane fetches.
    fn want(&mut self, w: Want) {
        let part = &w.part;
        match self.asked.get_mut(part.topic.as_str()) {
            Some(partitions) => {
                partitions.insert(part.partition);
            }
            None => {
                let topic: Arc<str> = Arc::from(part.topic.as_str());
                self.asked.insert(topic, HashSet::from([part.partition]));
            }
        }
        self.next.push(w);
    }

    /// Keeps an append for the wants of its partition, if this lane fetches it.
    fn hear(&mut self, appended: Appended) {
        let (topic, partition) = &appended;
        if self
            .asked
            .get(&**topic)
            .is_some_and(|p| p.contains(partition))
        {
            self.heard.insert(appended);
        }
    }

    /// Fetches the waiting wants whose partitions were appended to, at once on the admin
    /// connection, and hands them their answers; the round's Fetch goes on waiting meanwhile.
    async fn prompt_heard(&mut self, client: &Arc<Client>) {
        if self.heard.is_empty() {
            return;
        }
        let mut prompt: Vec<Want> = Vec::new();
        let mut rest = Vec::new();
        for w in self.next.drain(..) {
            let heard = self
                .heard
                .iter()
                .find(|(topic, p)| *p == w.part.partition && **topic == *w.part.topic)
                .cloned();
            // One want per partition: the heard append is taken, a second want waits for the
            // round after.
            match heard {
                Some(key) if !w.reply.is_closed() => {
                    self.heard.remove(&key);
                    prompt.push(w);
                }
                _ => rest.push(w),
            }
        }
        self.next = rest;
        if prompt.is_empty() {
            return;
        }
        let answer = fetch(
            client,
            &self.addr,
            &prompt,
            PROMPT_WAIT_MS,
            Purpose::Admin,
            None,
        );
        let answer = answer.await;
        answer_round(prompt, answer);
    }
}

/// Whether `round` asks for `topic`/`partition`.
fn asks_for(round: &[Want], topic: &str, partition: i32) -> bool {
    round
        .iter()
        .any(|w| w.part.partition == partition && w.part.topic == topic)
}

/// One Fetch of `round` from the broker at `addr`, waiting up to `max_wait_ms`, on its
/// `purpose` connection; the future owns what it needs, so it can be left to a task. It sets
/// `written`, if given, once its connection is open and no throttle holds the request back.
fn fetch(
    client: &Arc<Client>,
    addr: &str,
    round: &[Want],
    max_wait_ms: i32,
    purpose: Purpose,
    written: Option<Arc<AtomicBool>>,
) -> impl Future<Output = Result<FetchResponse, ClientError>> + Send + 'static {
    let call = Fetch {
        parts: round.iter().map(|w| w.part.clone()).collect(),
        max_wait_ms,
    };
    let (client, addr) = (Arc::clone(client), addr.to_owned());
    // A broker answers a Fetch within its wait, after the one ahead of it on the connection (a
    // Fetch the lane stopped waiting for, up to a wait too): one that has not answered well
    // after that is gone silent, and the connection is replaced rather than awaited.
    let within = Duration::from_millis(u64::try_from(max_wait_ms).unwrap_or(0)) * 2 + FETCH_MARGIN;
    async move {
        let c = client.connection(&addr, purpose).await?;
        if let Some(until) = c.throttled_until() {
            tokio::time::sleep_until(until).await;
        }
        if let Some(written) = written {
            written.store(true, Ordering::Release);
        }
        c.call_within(&call, within)
            .await
            .map(|a| a.body)
            .map_err(|e| client.failed(&c, e))
    }
}

/// Hands each want of `round` its part of `answer`, or the error.
fn answer_round(round: Vec<Want>, answer: Result<FetchResponse, ClientError>) {
    // A throttled answer names no partitions (Kafka's answer over a quota): not a damaged one.
    let throttled = answer.as_ref().is_ok_and(|a| a.throttle_time_ms > 0);
    let mut parts = match answer.map(split_answer) {
        Ok(Ok(parts)) => parts,
        Ok(Err(code)) => {
            for w in round {
                let _ = w.reply.send(Err(fetch_error(code)));
            }
            return;
        }
        Err(e) => {
            let lost = e.is_connection_lost();
            let e = Arc::new(e);
            for w in round {
                let error = if lost {
                    FetchError::LeaderChanged { code: None }
                } else {
                    FetchError::Client(Arc::clone(&e))
                };
                let _ = w.reply.send(Err(error));
            }
            return;
        }
    };
    for w in round {
        let part = parts
            .remove(&(w.part.topic.clone(), w.part.partition))
            .ok_or(if throttled {
                FetchError::Throttled
            } else {
                FetchError::Missing
            });
        let _ = w.reply.send(part);
    }
}

#[cfg(test)]
mod tests;
