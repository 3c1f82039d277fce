//! The round after one in which something was not delivered (nothing is in flight by then):
//! fail what is behind a failure, put the rest back in order, back off, expire what is past its
//! deadline, look the leader up again, renew the identity.
use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, warn};

use super::{PartitionTask, Piece, Recovery};
use crate::producer::{
    ProduceError,
    delivery::Outcome,
    request::{next_sequence, restamp},
};

/// 50%–100% of `d`, so that many partitions retrying at once spread out.
pub(super) fn jitter(d: Duration) -> Duration {
    let r = uuid::Uuid::new_v4().as_u128() as u64 % 1000;
    d / 2 + d * (r as u32) / 2000
}

impl PartitionTask {
    /// Gets ready to send again after a round that needs `recovery`.
    pub(super) async fn recover(&mut self, recovery: Recovery) {
        self.requeue();
        if recovery > Recovery::Resend {
            self.failed_rounds += 1;
            self.back_off().await;
        }
        self.expire();
        if recovery >= Recovery::Refresh {
            self.leader = None;
            self.shared.transport.invalidate(&self.topic);
        }
        let renew_now = std::mem::take(&mut self.renew_now);
        if (recovery == Recovery::Renew || renew_now) && !self.waiting.is_empty() {
            self.renew().await;
        }
    }

    /// Everything returned in this round, then what never left `waiting`; when a piece failed
    /// for good, what never left `waiting` is behind it and fails too.
    fn requeue(&mut self) {
        let mut resend: std::collections::VecDeque<Piece> = self.returned.drain(..).collect();
        if let Some(error) = self.aborting.take() {
            self.fail_waiting(&error);
            self.renew_before_next = true;
        }
        resend.append(&mut self.waiting);
        self.waiting = resend;
    }

    /// Sleeps the backoff of this many failed rounds (with jitter), but not past the first
    /// waiting piece's deadline.
    async fn back_off(&mut self) {
        let config = &self.shared.config;
        let first = Duration::from_millis(config.retry_backoff_ms);
        let backoff = first
            .saturating_mul(1 << self.failed_rounds.min(16).saturating_sub(1))
            .min(Duration::from_millis(config.retry_backoff_max_ms));
        let mut until = Instant::now() + jitter(backoff);
        if let Some(first) = self.waiting.front() {
            until = until.min(first.deadline);
        }
        let (topic, partition, batches) = (&self.topic, self.queue.partition, self.waiting.len());
        debug!(%topic, partition, batches, ?backoff, "resending");
        tokio::time::sleep_until(until).await;
    }

    /// Fails the first waiting piece, and everything behind it, when its deadline has passed;
    /// with nothing waiting while the identity is to be renewed (no new batch is taken until
    /// it is), the oldest batch of the queue, so that a renewal that keeps failing (the
    /// brokers are down, InitProducerId is refused) holds no caller past its deadline.
    fn expire(&mut self) {
        let first = match self.waiting.front() {
            Some(first) => Some(first.deadline),
            None if self.renew_before_next => self.queue.oldest_deadline(),
            None => None,
        };
        if first.is_none_or(|deadline| Instant::now() < deadline) {
            return;
        }
        let error = ProduceError::Timeout {
            deadline: Duration::from_millis(self.shared.config.delivery_timeout_ms),
            last_error: self.last.clone().unwrap_or_else(|| "none".to_owned()),
        };
        let (topic, partition) = (&self.topic, self.queue.partition);
        warn!(%topic, partition, %error, "batch failed");
        // The queue first, as with a refused batch.
        self.fail_behind(&error);
        self.fail_waiting(&error);
        // Its sequence may or may not have been written.
        self.renew_before_next = true;
    }

    /// Settles every waiting piece with `error`.
    pub(super) fn fail_waiting(&mut self, error: &ProduceError) {
        for piece in std::mem::take(&mut self.waiting) {
            self.settle_piece(&piece, Outcome::Failed(error.clone()));
        }
    }

    /// Renumbers the waiting pieces from `sequence` on.
    fn renumber(&mut self, mut sequence: i32) {
        for piece in &mut self.waiting {
            if !self.identity.is_none() {
                restamp(&mut piece.request, self.identity, sequence);
            }
            piece.sequence = sequence;
            sequence = next_sequence(sequence, piece.count);
        }
        self.next_sequence = sequence;
    }

    /// Renews the identity and renumbers the waiting pieces from sequence 0. On failure, the
    /// next round tries again.
    pub(super) async fn renew(&mut self) {
        match self.shared.transport.renew(self.identity).await {
            Ok(identity) => {
                self.identity = identity;
                self.window.renewed();
                self.renumber(0);
                self.renew_before_next = false;
            }
            Err(e) => self.need_recovery(Recovery::Renew, e.to_string()),
        }
    }
}
