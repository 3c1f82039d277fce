//! One round of the relay: its rows handed to the producer ([`enqueue`]), then their delivery
//! reports awaited ([`Sent::settle`]). Between the two the relay hands the next round over, so
//! a round's batches follow the previous round's on the wire instead of waiting for its
//! acknowledgements.
use tokio::time::Instant;
use tracing::{debug, error, warn};

use super::super::OutboxRecord;
use crate::producer::{DeliveryFuture, ProduceError, Producer, ProducerRecord};

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
}

impl RoundOutcome {
    /// Adds what a later round did.
    pub fn absorb(&mut self, later: RoundOutcome) {
        self.delivered.extend(later.delivered);
        self.parked.extend(later.parked);
        if let Some(seq) = later.failed {
            self.fail(seq, later.stopped);
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
    reports: Vec<(u64, DeliveryFuture)>,
    round: RoundOutcome,
    /// The row after the last one handed over (or parked).
    next: u64,
}

impl Sent {
    /// Where the next round reads from: after this one, or at the row where it stopped.
    pub fn next_from(&self) -> u64 {
        self.round.failed.unwrap_or(self.next)
    }

    /// Whether it stopped before its last row: nothing after it may be handed over.
    pub fn stopped_early(&self) -> bool {
        self.round.failed.is_some()
    }

    /// Waits for every report of the round.
    pub async fn settle(self) -> RoundOutcome {
        let Sent {
            reports, mut round, ..
        } = self;
        for (seq, report) in reports {
            match report.await {
                Ok(_) => round.delivered.push(seq),
                Err(error) if permanent(&error) => {
                    error!(%error, seq, "outbox: row can never be published; parked");
                    round.parked.push(seq);
                }
                Err(ProduceError::LeaseEnded) => {
                    debug!(seq, "outbox: not sent, the relay lease may have ended");
                    round.fail(seq, Some(Stop::LeaseEnded));
                }
                Err(error) => {
                    debug!(%error, seq, "outbox: record not delivered, will retry");
                    round.fail(seq, None);
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

/// Hands every row to the producer and returns without waiting for the reports. A full buffer
/// is handled as `producer.on_buffer_full` says: `wait` waits for room inside `enqueue`;
/// `error` ends the round at the row that did not fit (counted in the producer's `buffer_full`
/// errors), and the next round starts from it. No row is handed over once `until` (the
/// lease's) has passed: the round ends there.
pub(super) async fn enqueue(
    producer: &Producer,
    rows: Vec<(u64, OutboxRecord)>,
    until: Instant,
) -> Sent {
    let mut sent = Sent {
        reports: Vec::with_capacity(rows.len()),
        round: RoundOutcome::default(),
        next: 0,
    };
    for (seq, row) in rows {
        if Instant::now() >= until {
            debug!(
                seq,
                "outbox: the relay lease may have ended; the round ends here"
            );
            sent.round.fail(seq, Some(Stop::LeaseEnded));
            break;
        }
        // The row's fields move into the record: no copy of its bytes on the way.
        let record = ProducerRecord {
            topic: row.topic,
            key: row.key,
            value: row.value,
            headers: row.headers,
            timestamp: chrono::DateTime::from_timestamp_millis(row.created_ms),
        };
        match producer.enqueue(record).await {
            Ok(report) => sent.reports.push((seq, report)),
            Err(ProduceError::BufferFull { capacity }) => {
                debug!(
                    seq,
                    capacity, "outbox: producer buffer full; the round ends here"
                );
                sent.round.fail(seq, Some(Stop::BufferFull));
                break;
            }
            Err(error) if permanent(&error) => {
                error!(%error, seq, "outbox: row can never be published; parked");
                sent.round.parked.push(seq);
            }
            Err(error) => {
                warn!(%error, seq, "outbox: record not accepted by the producer");
                sent.round.fail(seq, None);
                break;
            }
        }
        sent.next = seq + 1;
    }
    // Nothing more joins this round's batches: send them now rather than after the linger.
    producer.send_buffered();
    sent
}
