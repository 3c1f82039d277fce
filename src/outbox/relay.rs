//! Publishes outbox rows through the producer and deletes them once acknowledged.
//!
//! Rounds are pipelined: the next round is read and handed to the producer while the previous
//! one waits for its acknowledgements (at most [`DEPTH`] rounds), so the broker's round trip is
//! not paid once per round. A round of fewer than [`ROUND`] rows, and fewer than
//! [`ROUND_BYTES`], read every row committed so far: the relay reads again when it is woken
//! for rows committed since, and meanwhile settles what it handed over, instead of reading
//! rows that are not there.
//!
//! Per-key order holds as in one round: a failed row holds its partition in the producer, so
//! the rows behind it (in its round or the next) fail unsent, and once every round handed over
//! has settled the relay starts again from the failed row. A holder reads its next round while
//! it renews the lease, and keeps the rows only if the lease was held without a break.
//!
//! Only the holder of the relay lease publishes ([`Store::relay_lease`]). Nothing is published
//! past the lease's `until` (by this process's clock): a round hands no row to the producer
//! after it, and the producer writes no request after it ([`Producer::send_until`]), so a
//! holder that was frozen (SIGSTOP, a container paused by its cgroup freezer) and wakes after
//! another instance took the lease over stops instead of publishing beside it. The clock is
//! the monotonic one, which does not count time a suspended machine slept: a holder whose
//! whole machine was suspended past the lease's term is not stopped by it (the copies it
//! writes are dropped by the consumers' dedupe). A new epoch restarts the relay from the
//! oldest row.
use std::{sync::Arc, time::Duration};

use std::collections::VecDeque;

use tokio::{sync::Notify, time::Instant};
use tokio_util::sync::CancellationToken;
use tracing::warn;

mod blocked;
mod lease_watch;
mod publish;
mod store_io;

use crate::{
    logging::FailureStreak,
    producer::Producer,
    store::{RelayLease, Store},
};
use blocked::{Blocked, Scanned, read_unblocked};
use publish::{RoundOutcome, Sent, Stop, enqueue};
use store_io::{
    Deleting, ReadHealth, Reading, STEP_ASIDE_FOR, finish, lease, park_undecodable, release,
};

/// Rows read and published per round.
const ROUND: usize = 1_000;
/// Bytes of rows read per round, about: a round ends with the row that reaches it. A thousand
/// events take about 300 KiB; dead letters of up to 512 KiB each are read 16 at a time, and
/// the rounds in flight and read ahead hold a few times this.
const ROUND_BYTES: usize = 8 << 20;
/// How long an idle relay sleeps when nobody wakes it.
const IDLE: Duration = Duration::from_millis(500);
/// Pause after a round in which a record failed.
const FAILED_PAUSE: Duration = Duration::from_secs(1);
/// Rounds handed to the producer and not settled at most: the next round is read and handed
/// over while the one before waits for its acknowledgements.
const DEPTH: usize = 2;
/// How often the lease is renewed while the relay waits for acknowledgements: well within a
/// shared lease's term (10 s on PostgreSQL), so that a broker slow or unreachable for longer
/// does not let the lease lapse under a live holder (another instance would take it and
/// publish every row again from the oldest), and the producer's retries may go on writing.
const RENEW_WHILE_WAITING: Duration = Duration::from_secs(2);
/// How long the rounds after a stop may go on reading what was committed until then: half
/// the service's 10 s stop step for the relay, the rest left for the last acknowledgements
/// and deletes. What is left waits in the outbox for the next start.
const LAST_ROUNDS_WITHIN: Duration = Duration::from_secs(5);

/// Runs until `cancel` fires; a round in progress is finished first, and more read what was
/// committed until then, for at most [`LAST_ROUNDS_WITHIN`]. Wake it through `wake` after
/// committing outbox rows, so they go out without waiting for the idle timer.
pub async fn run(
    store: Arc<dyn Store>,
    producer: Producer,
    wake: Arc<Notify>,
    cancel: CancellationToken,
) {
    // A row that failed is retried from the next round on, in order: until then nothing
    // behind it on its partition may be sent (per-key order, invariant 5).
    producer.hold_after_failures();
    let mut relay = Relay {
        store,
        producer,
        from: 0,
        epoch: None,
        in_flight: VecDeque::new(),
        deleting: None,
        caught_up: false,
        reads: ReadHealth::default(),
        lease_checks: Default::default(),
        blocked: Blocked::default(),
    };
    while !cancel.is_cancelled() {
        // Only where another process can take the lease: a sole relay (redb) that stepped
        // aside would only add an outage.
        if relay.epoch.is_some() && relay.store.relay_lease_shared() && relay.reads.step_aside() {
            warn!(
                ?STEP_ASIDE_FOR,
                "outbox: the outbox cannot be read; leaving the relay lease unrenewed so that another instance relays"
            );
            relay.producer.send_until(Some(Instant::now()));
            tokio::select! {
                () = tokio::time::sleep(STEP_ASIDE_FOR) => {}
                () = cancel.cancelled() => {}
            }
            continue;
        }
        let (lease, read) = relay.lease_and_read().await;
        let pause = match lease {
            Some(lease) => relay.round(lease, read).await,
            None => Pause::NotHolder,
        };
        let wait = match pause {
            Pause::None => continue,
            Pause::CaughtUp => {
                let woken = tokio::select! {
                    () = wake.notified() => true,
                    () = relay.oldest_settled() => false,
                    // Back to the top of the loop, which renews the lease.
                    () = tokio::time::sleep(RENEW_WHILE_WAITING) => false,
                    () = cancel.cancelled() => false,
                };
                // Rows were committed since the last read: read them.
                relay.caught_up &= !woken;
                continue;
            }
            Pause::Idle | Pause::NotHolder => tokio::time::sleep(IDLE),
            Pause::Failed => tokio::time::sleep(FAILED_PAUSE),
        };
        tokio::select! {
            () = wait => {}
            () = wake.notified(), if pause == Pause::Idle => {}
            () = cancel.cancelled() => {}
        }
        // Woken, or the pause is over: look for rows again.
        relay.caught_up = false;
    }
    relay.last_round().await;
    // The rounds handed over are delivered (or fail) and their rows deleted before it stops.
    let round = relay.drain(RoundOutcome::default()).await;
    finish(relay.deleting.take()).await;
    relay.delete(&round);
    finish(relay.deleting.take()).await;
    if relay.epoch.is_some() {
        // Everything handed over is settled: the next holder need not wait out our term.
        relay.producer.send_until(Some(Instant::now()));
        release(&relay.store).await;
    }
}

/// The relay's state between rounds.
struct Relay {
    store: Arc<dyn Store>,
    producer: Producer,
    /// The outbox sequence the next round reads from. Rows below it were handed to the
    /// producer (in a round of `in_flight`), or delivered (or parked) and are being deleted, or
    /// are deleted.
    from: u64,
    /// The epoch of the lease as last held; `None` while not held.
    epoch: Option<u64>,
    /// Rounds handed to the producer whose reports are not awaited yet, oldest first (at most
    /// [`DEPTH`]).
    in_flight: VecDeque<Sent>,
    /// The delete (a durable store commit) of the last round's acknowledged rows, running
    /// while the next round reads and publishes: the rows after it do not wait for that
    /// fsync. `from` is already past them, so they are not read again meanwhile; a delete
    /// that fails leaves them to be published again once `from` restarts from 0 (at least
    /// once, as after a crash between the ack and the delete).
    deleting: Option<Deleting>,
    /// The last read stopped short of its bounds ([`ROUND`], [`ROUND_BYTES`]): it read every
    /// row committed before it, so the next read waits until the relay is woken for rows
    /// committed since (or its pause ends). Cleared whenever the cursor moves back.
    caught_up: bool,
    /// Whether the outbox could be read lately (a holder that cannot steps aside).
    reads: ReadHealth,
    /// Lease checks failed in a row, said rate-limited.
    lease_checks: parking_lot::Mutex<FailureStreak>,
    /// Topics whose rows wait behind a row that failed ([`blocked`]).
    blocked: Blocked,
}

/// What the loop waits for after a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pause {
    /// Nothing: go on with the next round.
    None,
    /// Every committed row was read and handed over: until woken for more, or until the
    /// oldest round handed over is settled.
    CaughtUp,
    /// No rows: until woken or [`IDLE`].
    Idle,
    /// Another instance holds the lease: [`IDLE`], then ask again.
    NotHolder,
    /// A record failed: [`FAILED_PAUSE`].
    Failed,
}

impl Relay {
    /// Rows committed until the stop (the requests the HTTP front drained, the consumer's
    /// last batches, a backlog) go out in more rounds, until one read every row committed
    /// before it or [`LAST_ROUNDS_WITHIN`] passed, where this relay holds the lease (a sole
    /// relay always does; one that never held a shared lease does not take it now).
    async fn last_round(&mut self) {
        if self.epoch.is_none() && self.store.relay_lease_shared() {
            return;
        }
        // Caught up as of the last read, which may be older than the last commits (a wake
        // that came with the stop was not taken).
        self.caught_up = false;
        let deadline = Instant::now() + LAST_ROUNDS_WITHIN;
        // With no room for another round (every round in flight, or the newest stopped early)
        // a round settles the oldest instead of reading: only a round that had room read. A
        // round in which a record failed ends them: its topic's rows wait for the next start
        // (the main loop would pause before reading again, and read them again from the start).
        while Instant::now() < deadline {
            let had_room = self.has_room();
            let (lease, read) = self.lease_and_read().await;
            let Some(lease) = lease else {
                return;
            };
            let pause = self.round(lease, read).await;
            if pause == Pause::Failed || (had_room && self.caught_up) {
                return;
            }
        }
    }
}

impl Relay {
    /// Whether the next round may be handed over: fewer than [`DEPTH`] in flight, and the
    /// last one did not stop early (its failed row must settle first).
    fn has_room(&self) -> bool {
        self.in_flight.len() < DEPTH && !self.in_flight.back().is_some_and(Sent::stopped_early)
    }

    /// Hands the next round over while there is room and rows may be pending (its rows
    /// `read` already, when given), else settles the oldest round handed over and starts
    /// deleting what it delivered.
    async fn round(&mut self, lease: RelayLease, read: Option<Scanned>) -> Pause {
        if self.has_room() && !self.caught_up {
            let read = self.next_rows(read).await;
            self.caught_up = !read.more;
            if !read.rows.is_empty() || read.skipped_from.is_some() {
                if self.in_flight.is_empty() {
                    // Nothing in flight, so every failure is dealt with: partitions held after
                    // one may send again, from its row on.
                    self.producer.release_holds();
                }
                let sent = enqueue(&self.producer, read, lease.until, &mut self.blocked).await;
                self.from = sent.next_from();
                self.caught_up &= !sent.stopped_early();
                self.in_flight.push_back(sent);
                if self.in_flight.len() < DEPTH && !self.caught_up {
                    return Pause::None;
                }
            }
        }
        if self.caught_up
            && self
                .in_flight
                .front()
                .is_some_and(|sent| !sent.is_settled())
        {
            return Pause::CaughtUp;
        }
        let Some(oldest) = self.in_flight.pop_front() else {
            // Nothing to overlap it with: finish the delete before the cursor restarts.
            finish(self.deleting.take()).await;
            self.from = 0; // rows left behind by a failed round are found again from the start
            self.blocked.free_passed_over();
            return Pause::Idle;
        };
        let mut round = self.settle_renewing(oldest).await;
        if round.read_again_from().is_some() {
            // The rounds behind it settle too before the cursor moves back: their rows on the
            // failed row's partition failed with it (held), others may have been delivered.
            while let Some(later) = self.in_flight.pop_front() {
                round.absorb(self.settle_renewing(later).await);
            }
        }
        // The delete of the previous round has had this round to commit; wait for it before
        // starting this one's, so at most one is in flight.
        finish(self.deleting.take()).await;
        self.delete(&round);
        // Topics with a row that failed wait for it; those whose first waiting row went out
        // go again once the cursor is back at the rows passed over.
        for (seq, topic) in &round.gone {
            self.blocked.gone(topic, *seq);
        }
        for (seq, topic) in &round.blocked {
            self.blocked.failed(topic, *seq);
        }
        self.blocked.refused_timestamps(&round.untimed);
        let Some(seq) = round.read_again_from() else {
            return Pause::None;
        };
        // The cursor moves back to the first row that failed or was passed over: rows after
        // it that were delivered must be gone before it reads them again.
        finish(self.deleting.take()).await;
        self.from = seq;
        self.caught_up = false;
        let freed = self.blocked.free_passed_over();
        match (round.failed, round.stopped) {
            // Only rows passed over, whose topics go now: read them at once.
            (None, _) if freed => Pause::None,
            // Rows passed over, their topics still waiting (not reached: a topic's first
            // waiting row is in the next read, handed over again): the same read would follow.
            (None, _) => Pause::Failed,
            // The buffer was full (`on_buffer_full = "error"`): the round waited for what it
            // had buffered, so there is room again; go on from the row that did not fit. Or
            // the lease ran out: check it again at once.
            (Some(_), Some(Stop::BufferFull | Stop::LeaseEnded)) => Pause::None,
            (Some(_), None) => Pause::Failed,
        }
    }

    /// The rows of the next round: `read` when given, else read now. Rows that do not decode
    /// are parked, and first waiting rows the read found gone are noted.
    async fn next_rows(&mut self, read: Option<Scanned>) -> Scanned {
        let mut read = match read {
            Some(read) => read,
            None => {
                let reading = self.start_read();
                self.reads.rows(reading, self.from).await
            }
        };
        park_undecodable(&self.store, std::mem::take(&mut read.undecodable)).await;
        self.blocked
            .gone_elsewhere(std::mem::take(&mut read.vanished));
        read
    }

    /// Waits until the oldest round handed over has every report in (for ever when none is in
    /// flight); cancel-safe.
    async fn oldest_settled(&self) {
        match self.in_flight.front() {
            Some(sent) => sent.settled().await,
            None => std::future::pending().await,
        }
    }

    /// Waits for the reports of `sent`, renewing the lease every [`RENEW_WHILE_WAITING`]
    /// meanwhile. A lease lost or taken over meanwhile lets the producer write nothing more;
    /// the loop learns of it once the round has settled.
    async fn settle_renewing(&self, sent: Sent) -> RoundOutcome {
        let settling = sent.settle();
        tokio::pin!(settling);
        loop {
            tokio::select! {
                round = &mut settling => return round,
                () = tokio::time::sleep(RENEW_WHILE_WAITING) => {
                    let held = lease(&self.store, &self.lease_checks).await.filter(|l| Some(l.epoch) == self.epoch);
                    let until = held.map_or_else(Instant::now, |l| l.until);
                    self.producer.send_until(Some(until));
                }
            }
        }
    }

    /// Settles every round still in flight into `round`, without renewing the lease (a new
    /// epoch, a stop).
    async fn drain(&mut self, mut round: RoundOutcome) -> RoundOutcome {
        while let Some(later) = self.in_flight.pop_front() {
            round.absorb(later.settle().await);
        }
        round
    }

    /// Starts reading the next round from `from` ([`store_io::start_read`]), passing over the
    /// rows that wait.
    fn start_read(&self) -> Reading {
        store_io::start_read(&self.store, self.from, self.blocked.clone())
    }

    /// Starts deleting the rows `round` delivered and moving those it parked.
    fn delete(&mut self, round: &RoundOutcome) {
        if !round.delivered.is_empty() || !round.parked.is_empty() {
            self.deleting = Some(store_io::start_delete(&self.store, round));
        }
    }
}

#[cfg(test)]
mod tests;
