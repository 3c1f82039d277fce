//! What the pipeline does with each answer, in the order the requests were written: settle a
//! delivered piece, put a piece back to be resent, split a piece too large for the broker, or
//! fail a piece and everything behind it.
use std::sync::Arc;

use tracing::{debug, warn};

use super::{Answered, PartitionTask, Piece, Recovery};
use crate::{
    kafka::{
        error_code::{ErrorCode, ResponseError},
        protocol::CallError,
        records::size::batch_len,
    },
    producer::{
        ProduceError, TransportError,
        delivery::Outcome,
        request::{Verdict, classify, take_records},
        transport::PartitionAnswer,
    },
};

/// How many times a piece the broker found damaged (CORRUPT_MESSAGE) is sent again before it
/// fails: a request damaged on the way arrives intact the next time (the Java client retries
/// it), while one that arrives damaged three times running was most likely encoded wrong, and
/// would be refused until its deadline.
pub(super) const DAMAGED_RESENDS: u8 = 2;

/// What `answer` means for its piece; `behind_failure`: an earlier piece of the round was not
/// delivered.
pub(super) fn verdict(
    answer: &Result<PartitionAnswer, CallError>,
    behind_failure: bool,
) -> Verdict {
    match answer {
        Ok(Some((code, offset))) => classify(*code, *offset, behind_failure),
        // An answer that does not mention our partition: ask the leader again.
        Ok(None) => Verdict::Retry { refresh: true },
        // The broker has none of Produce v3 to v8.
        Err(CallError::Unsupported { .. }) => {
            Verdict::Fail(ErrorCode::of(ResponseError::UnsupportedVersion))
        }
        Err(_) => Verdict::Retry { refresh: true },
    }
}

/// The offsets of a delivered piece of `n` records; −1 each when the broker answered
/// DUPLICATE_SEQUENCE_NUMBER (written before, its offset not reported).
pub(super) fn offsets(base: Option<i64>, n: usize) -> Vec<i64> {
    match base {
        Some(base) => (0..n as i64).map(|i| base.saturating_add(i)).collect(),
        None => vec![-1; n],
    }
}

/// What went wrong with `answer`, for logs and the timeout error.
fn cause(answer: &Result<PartitionAnswer, CallError>) -> String {
    match answer {
        Ok(Some((code, _))) => code.to_string(),
        Ok(None) => "the answer did not mention the partition".to_owned(),
        Err(e) => e.to_string(),
    }
}

impl PartitionTask {
    /// Handles the answer to the oldest request in flight.
    pub(super) fn answered(&mut self, (mut piece, answer): Answered) {
        let verdict = verdict(&answer, self.recovery.is_some());
        // A piece ahead was not delivered and may have been written (a retriable error, its
        // answer lost): not one only split, dropped or out of order behind those.
        let behind_unsure = self.recovery > Some(Recovery::Resend);
        if let Verdict::Delivered(base) = verdict {
            self.window.acknowledged(piece.sent);
            let outcome = Outcome::Delivered(offsets(base, piece.count));
            return self.settle_piece(&piece, outcome);
        }
        let cause = cause(&answer);
        let (topic, partition, sequence) = (&self.topic, self.queue.partition, piece.sequence);
        debug!(%topic, partition, sequence, %cause, "produce failed");
        // The way the request took is lost; the leader in use goes with it only if it is that
        // one: the task may have looked up a new one since (the broker hung up the old
        // connection), which the other partitions share and which works.
        if let Err(e) = &answer
            && e.is_connection_lost()
            && let Some(via) = piece.via.take()
        {
            via.lost();
            if self.leader.as_ref().is_some_and(|l| Arc::ptr_eq(l, &via)) {
                self.leader = None;
            }
        }
        if let Some(error) = self.aborting.clone() {
            return self.settle_piece(&piece, Outcome::Failed(error));
        }
        match verdict {
            Verdict::TooLarge(code) => self.too_large(piece, code, behind_unsure),
            Verdict::Corrupt(_) if piece.damaged < DAMAGED_RESENDS => {
                piece.damaged += 1;
                self.resend(piece, Recovery::Retry, cause);
            }
            Verdict::Corrupt(code) | Verdict::Fail(code) => {
                let error = ProduceError::Fatal(Arc::new(TransportError::Refused(code)));
                self.fail_for_good(piece, error);
            }
            Verdict::Renew => self.resend(piece, Recovery::Renew, cause),
            Verdict::Retry { refresh: true } => self.resend(piece, Recovery::Refresh, cause),
            // Out of order behind an earlier piece that went back: that piece's gap.
            Verdict::Retry { refresh: false } => self.resend(piece, Recovery::Resend, cause),
            Verdict::Delivered(_) => {}
        }
    }

    /// Puts `piece` back to be sent again after the round.
    fn resend(&mut self, piece: Piece, recovery: Recovery, cause: String) {
        self.shared.metrics.retries.add(1);
        self.need_recovery(recovery, cause);
        self.returned.push(piece);
    }

    /// Fails `piece` with `error`, and everything behind it: what is in the queue now, what is
    /// in flight as it is answered, what is waiting once the round ends.
    fn fail_for_good(&mut self, piece: Piece, error: ProduceError) {
        let (topic, partition) = (&self.topic, self.queue.partition);
        warn!(%topic, partition, %error, "batch failed");
        // The queue first: once the batch is settled its caller may retry it, and what it
        // enqueues then is not behind the failure.
        self.fail_behind(&error);
        self.aborting = Some(error.clone());
        self.need_recovery(Recovery::Retry, error.to_string());
        self.settle_piece(&piece, Outcome::Failed(error));
    }

    /// A piece the broker refused as too large (not written): split in place, or, one record
    /// alone, failed without blocking what is behind it; `behind_unsure`: an earlier piece of
    /// the round was not delivered and may have been written.
    fn too_large(&mut self, piece: Piece, code: ErrorCode, behind_unsure: bool) {
        // What is in flight behind it comes back out of order, to be sent again after it.
        self.need_recovery(Recovery::Resend, code.to_string());
        if piece.count < 2 && behind_unsure {
            // Its record is dropped once nothing ahead of it may be written and unacknowledged:
            // the pieces ahead go again first, on their own sequences, and the renewal that
            // follows the drop renumbers only the pieces behind it. (While they keep failing,
            // it goes with them each round, and fails as they do: at the deadline, or with
            // their error.)
            return self.resend(piece, Recovery::Resend, code.to_string());
        }
        let Some(records) = take_records(&piece.request) else {
            let error = ProduceError::Fatal(Arc::new(TransportError::Refused(code)));
            return self.fail_for_good(piece, error);
        };
        if records.len() < 2 {
            let error = ProduceError::RecordTooLarge {
                size: batch_len(&records),
                limit: self.shared.config.max_message_bytes,
            };
            // Its sequence is a gap: what is behind it goes out under a renewed identity
            // (the module docs say why not renumbered over it), at once (`Resend`, set above).
            if !self.identity.is_none() {
                self.renew_now = true;
                self.renew_before_next = true;
            }
            return self.settle_piece(&piece, Outcome::Failed(error));
        }
        self.shared.metrics.splits.add(1);
        let half = records.len() / 2;
        let (topic, partition) = (&self.topic, self.queue.partition);
        debug!(%topic, partition, left = half, right = records.len() - half, "batch too large: split");
        // Left before right, on the piece's own sequences: order is kept, and nothing behind
        // it is renumbered.
        let origin = |first: usize| (piece.serial, piece.first + first);
        let right_sequence = crate::producer::request::next_sequence(piece.sequence, half);
        let left = self.encode(&records[..half], piece.sequence, piece.deadline, origin(0));
        let right = self.encode(
            &records[half..],
            right_sequence,
            piece.deadline,
            origin(half),
        );
        match (left, right) {
            (Ok(left), Ok(right)) => {
                self.returned.push(left);
                self.returned.push(right);
            }
            (Err(e), _) | (_, Err(e)) => {
                let error = ProduceError::Fatal(Arc::new(TransportError::Encode(e)));
                self.fail_for_good(piece, error);
            }
        }
    }
}
