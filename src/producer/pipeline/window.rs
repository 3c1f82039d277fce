//! How many Produce requests a partition's pipeline may have in flight: one until the leader
//! holds state for the producer identity on the partition, then `max_in_flight`.
//!
//! Kafka 2.5 and later (KIP-360) take any first sequence from a producer id for which a
//! partition holds no state: right after InitProducerId, after every renewal (a producer without
//! a transactional id gets a new producer id), and after the partition's state for the id
//! expired (`producer.id.expiration.ms`, a day by default). Then the sequences guard nothing for
//! the first batch: if it were refused for a reason of its own (too large before a split,
//! damaged on the way, dropped unwritten at its deadline by the produce lane) while a batch
//! behind it was in flight, the broker would write that one first and take its sequence as
//! the start, and the first batch would land after it. So the pipeline sends one request at a
//! time until a batch of the identity is acknowledged on the partition, which proves the
//! broker holds its state, and again once the partition sent nothing for [`IDLE_BOUND`]. The
//! cost is one round trip for the second batch of an identity, or after an idle spell.
//!
//! Not covered: Kafka ages a producer's state by the timestamps of the batches it wrote, which
//! for the relay are the outbox rows' creation times. Rows published more than
//! `producer.id.expiration.ms` after they were written (a backlog after an outage that long)
//! can make the broker drop our state at its next expiry check while the window is open.
use std::time::Duration;

use tokio::time::Instant;

/// How long after the newest acknowledged request the broker is still taken to hold the
/// identity's state on the partition. Kafka drops a producer id's state once the partition has
/// had nothing from it for `producer.id.expiration.ms` (one day by default); ten minutes is
/// far below any value that setting sanely takes, so the window closes to one request well
/// before the broker may have forgotten us.
pub(super) const IDLE_BOUND: Duration = Duration::from_secs(10 * 60);

/// The in-flight window of one partition. See the module docs.
#[derive(Debug)]
pub(super) struct Window {
    /// Requests in flight at most once the broker holds our state: the transport's limit
    /// (1 to 5), 1 without a producer id.
    depth: usize,
    /// When the newest request acknowledged under the current identity was handed to the
    /// connection: the broker wrote it later, so its state for us is at least this recent (one
    /// answered DUPLICATE_SEQUENCE_NUMBER was written by an earlier send, within its delivery
    /// timeout, which the bound's margin below any expiration covers). `None`: nothing
    /// acknowledged under this identity yet.
    acknowledged: Option<Instant>,
}

impl Window {
    /// A window of at most `depth` requests, for an identity nothing was acknowledged under.
    pub(super) fn new(depth: usize) -> Self {
        Self {
            depth,
            acknowledged: None,
        }
    }

    /// Requests that may be in flight now: `depth` while the broker holds our state on the
    /// partition, else one.
    pub(super) fn size(&self) -> usize {
        let known = self
            .acknowledged
            .is_some_and(|sent| sent.elapsed() < IDLE_BOUND);
        if known { self.depth } else { 1 }
    }

    /// A request handed to the connection at `sent` was acknowledged (written now, or before:
    /// DUPLICATE_SEQUENCE_NUMBER).
    pub(super) fn acknowledged(&mut self, sent: Instant) {
        self.acknowledged = Some(self.acknowledged.map_or(sent, |at| at.max(sent)));
    }

    /// The identity was renewed: the partition holds no state for the new one.
    pub(super) fn renewed(&mut self) {
        self.acknowledged = None;
    }
}
