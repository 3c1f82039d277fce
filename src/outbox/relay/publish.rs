//! One round of the relay: its rows handed to the producer ([`enqueue`]), then their delivery
//! reports awaited ([`Sent::settle`]). Between the two the relay hands the next round over, so
//! a round's batches follow the previous round's on the wire instead of waiting for its
//! acknowledgements.
use tokio::time::Instant;
use tracing::{debug, error, warn};

use super::{Blocked, Scanned};
use crate::producer::{DeliveryFuture, ProduceError, Producer, ProducerRecord};

/// Kafka's "no timestamp" (-1 on the wire): what a row the broker refused for its timestamp is
/// sent again with ([`Blocked::refused_timestamps`]).
const NO_TIMESTAMP: i64 = -1;

/// Why a round stopped before its last row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// The producer's buffer was full.
    BufferFull,
    /// The lease's `until` passed.
    LeaseEnded,
}

/// What a round did.
#[derive(Debug, Default)]
pub(super) struct RoundOutcome {
    /// Acknowledged rows.
    pub delivered: Vec<u64>,
    /// Rows the producer can never publish (too large, no identity).
    pub parked: Vec<u64>,
    /// The first row that failed for a reason that may pass (the broker is down, the buffer
    /// was full, the lease ran out).
    pub failed: Option<u64>,
    /// The round stopped at `failed` before handing it to the producer, or its failure was the
    /// lease's end (both mean: go on at once rather than pause).
    pub stopped: Option<Stop>,
    /// The first row passed over because an earlier row of its topic waits
    /// ([`super::blocked`]): the relay reads again from there.
    pub skipped_from: Option<u64>,
    /// Rows that failed for a reason of their own (not a lease's end), with their topics:
    /// those wait.
    pub blocked: Vec<(u64, String)>,
    /// Rows delivered or parked, with their topics: a topic that waited for one goes again.
    pub gone: Vec<(u64, String)>,
    /// Rows the broker refused for their timestamp (also in `blocked`): they go again without
    /// one ([`super::blocked::Blocked::refused_timestamps`]).
    pub untimed: Vec<u64>,
}

impl RoundOutcome {
    /// Adds what a later round did.
    pub fn absorb(&mut self, later: RoundOutcome) {
        self.delivered.extend(later.delivered);
        self.parked.extend(later.parked);
        self.blocked.extend(later.blocked);
        self.gone.extend(later.gone);
        self.untimed.extend(later.untimed);
        if let Some(seq) = later.skipped_from {
            self.skip(seq);
        }
        if let Some(seq) = later.failed {
            self.fail(seq, later.stopped);
        }
    }

    /// Where the relay reads again once this is settled: the first row that failed or was
    /// passed over, if any.
    pub fn read_again_from(&self) -> Option<u64> {
        self.failed.into_iter().chain(self.skipped_from).min()
    }

    /// Notes that row `seq` was passed over.
    fn skip(&mut self, seq: u64) {
        if self.skipped_from.is_none_or(|s| seq < s) {
            self.skipped_from = Some(seq);
        }
    }

    /// Notes that row `seq` failed; the earliest failure is the one the cursor goes back to.
    fn fail(&mut self, seq: u64, stopped: Option<Stop>) {
        if self.failed.is_none_or(|f| seq < f) {
            self.failed = Some(seq);
            self.stopped = stopped;
        }
    }
}

/// A round handed to the producer, its reports not awaited yet.
pub(super) struct Sent {
    /// Each row handed over, its topic and its delivery report.
    reports: Vec<(u64, String, DeliveryFuture)>,
    round: RoundOutcome,
    /// The row after the last one the read looked at.
    next: u64,
    /// The row the round stopped at before handing it over (the buffer full, the lease's
    /// end): nothing after it was handed over.
    stop: Option<u64>,
}

impl Sent {
    /// Where the next round reads from: after the rows this one's read looked at, or at the
    /// row where it stopped.
    pub fn next_from(&self) -> u64 {
        self.stop.unwrap_or(self.next)
    }

    /// Whether it stopped before its last row: nothing after it may be handed over.
    pub fn stopped_early(&self) -> bool {
        self.stop.is_some()
    }

    /// Whether every report of the round is in: [`Sent::settle`] would not wait.
    pub fn is_settled(&self) -> bool {
        self.reports.iter().all(|(_, _, report)| report.is_done())
    }

    /// Waits until every report of the round is in, leaving them to [`Sent::settle`]
    /// (cancel-safe).
    pub async fn settled(&self) {
        for (_, _, report) in &self.reports {
            report.done().await;
        }
    }

    /// Waits for every report of the round.
    pub async fn settle(self) -> RoundOutcome {
        let Sent {
            reports, mut round, ..
        } = self;
        for (seq, topic, report) in reports {
            match report.await {
                Ok(_) => {
                    round.delivered.push(seq);
                    round.gone.push((seq, topic));
                }
                Err(error) if permanent(&error) => {
                    error!(%error, seq, "outbox: row can never be published; parked");
                    round.parked.push(seq);
                    round.gone.push((seq, topic));
                }
                Err(ProduceError::LeaseEnded) => {
                    debug!(seq, "outbox: not sent, the relay lease may have ended");
                    round.fail(seq, Some(Stop::LeaseEnded));
                }
                Err(error) => {
                    debug!(%error, seq, "outbox: record not delivered, will retry");
                    if error.refused_timestamp() {
                        round.untimed.push(seq);
                    }
                    round.fail(seq, None);
                    round.blocked.push((seq, topic));
                }
            }
        }
        round
    }
}

/// Whether an error will never pass, however often the row is tried.
pub(super) fn permanent(error: &ProduceError) -> bool {
    matches!(
        error,
        ProduceError::RecordTooLarge { .. } | ProduceError::MissingIdentity { .. }
    )
}

/// Hands every row `read` found to the producer and returns without waiting for the reports.
/// A row whose topic waits behind an earlier row of it in `blocked` is passed over; a row the
/// producer does not accept (a topic it does not know) makes its topic wait, and the round
/// goes on with the other topics. A full buffer is handled as `producer.on_buffer_full` says: `wait`
/// waits for room inside `enqueue`; `error` ends the round at the row that did not fit
/// (counted in the producer's `buffer_full` errors), and the next round starts from it. No row
/// is handed over once `until` (the lease's) has passed: the round ends there.
pub(super) async fn enqueue(
    producer: &Producer,
    read: Scanned,
    until: Instant,
    blocked: &mut Blocked,
) -> Sent {
    let mut sent = Sent {
        reports: Vec::with_capacity(read.rows.len()),
        round: RoundOutcome::default(),
        next: read.next,
        stop: None,
    };
    if let Some(seq) = read.skipped_from {
        sent.round.skip(seq);
    }
    for (seq, row) in read.rows {
        if Instant::now() >= until {
            debug!(
                seq,
                "outbox: the relay lease may have ended; the round ends here"
            );
            sent.round.fail(seq, Some(Stop::LeaseEnded));
            sent.stop = Some(seq);
            break;
        }
        if blocked.holds(&row.topic, seq) {
            sent.round.skip(seq);
            continue;
        }
        let topic = row.topic.clone();
        // The row's fields move into the record: no copy of its bytes on the way.
        let record = ProducerRecord {
            topic: row.topic,
            key: row.key,
            value: row.value,
            headers: row.headers,
            timestamp: chrono::DateTime::from_timestamp_millis(if blocked.untimed(seq) {
                NO_TIMESTAMP
            } else {
                row.created_ms
            }),
        };
        match producer.enqueue(record).await {
            Ok(report) => sent.reports.push((seq, topic, report)),
            Err(ProduceError::BufferFull { capacity }) => {
                debug!(
                    seq,
                    capacity, "outbox: producer buffer full; the round ends here"
                );
                sent.round.fail(seq, Some(Stop::BufferFull));
                sent.stop = Some(seq);
                break;
            }
            Err(error) if permanent(&error) => {
                error!(%error, seq, "outbox: row can never be published; parked");
                sent.round.parked.push(seq);
                blocked.gone(&topic, seq);
            }
            Err(error) => {
                warn!(%error, seq, "outbox: record not accepted by the producer; its topic waits");
                sent.round.fail(seq, None);
                blocked.failed(&topic, seq);
            }
        }
    }
    // Nothing more joins this round's batches: send them now rather than after the linger.
    producer.send_buffered();
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed_at(seq: u64, stopped: Option<Stop>) -> RoundOutcome {
        let mut round = RoundOutcome::default();
        round.fail(seq, stopped);
        round
    }

    #[test]
    fn the_earliest_failure_is_kept_and_an_equal_one_changes_nothing() {
        let mut round = failed_at(7, None);
        round.fail(9, Some(Stop::BufferFull));
        assert_eq!((round.failed, round.stopped), (Some(7), None));
        round.fail(7, Some(Stop::LeaseEnded));
        assert_eq!((round.failed, round.stopped), (Some(7), None));
        round.fail(3, Some(Stop::LeaseEnded));
        assert_eq!(
            (round.failed, round.stopped),
            (Some(3), Some(Stop::LeaseEnded))
        );
    }

    #[test]
    fn a_later_round_adds_its_rows_and_its_failure_when_earlier() {
        let mut round = RoundOutcome {
            delivered: vec![1, 2],
            parked: vec![3],
            ..failed_at(10, None)
        };
        round.absorb(RoundOutcome {
            delivered: vec![4],
            parked: vec![5],
            ..failed_at(6, Some(Stop::BufferFull))
        });
        assert_eq!(round.delivered, [1, 2, 4]);
        assert_eq!(round.parked, [3, 5]);
        assert_eq!(
            (round.failed, round.stopped),
            (Some(6), Some(Stop::BufferFull))
        );
    }

    #[test]
    fn a_round_stops_early_only_at_a_full_buffer_or_the_lease_end() {
        let sent = |round, stop| Sent {
            reports: Vec::new(),
            round,
            next: 20,
            stop,
        };
        let clean = sent(RoundOutcome::default(), None);
        assert!(!clean.stopped_early());
        assert_eq!(clean.next_from(), 20);
        // A row the producer did not accept: its topic waits, the round went on.
        let failed = sent(failed_at(12, None), None);
        assert!(!failed.stopped_early());
        assert_eq!(failed.next_from(), 20);
        assert_eq!(failed.round.read_again_from(), Some(12));
        let stopped = sent(failed_at(12, Some(Stop::LeaseEnded)), Some(12));
        assert!(stopped.stopped_early());
        assert_eq!(stopped.next_from(), 12);
    }
}
