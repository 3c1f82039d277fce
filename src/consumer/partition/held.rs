//! What a partition's failing record has cost so far, kept across the partition's loops: a
//! rebalance ends every loop (an eager one revokes every partition) and the next assignment
//! starts a new one. Counted per loop, the attempts of a record that keeps failing and the
//! patience of an event of the next release would start again with each loop, so rebalances
//! that come often enough (a crash-looping instance, a member of another client joining and
//! leaving) would hold the partition behind that record for good.
use std::collections::HashMap;

use parking_lot::Mutex;
use tokio::time::Instant;

/// Per partition of this consumer: the record failing now, and when an event of the next
/// release last waited out its patience.
#[derive(Debug, Default)]
pub(crate) struct HeldRecords {
    by_partition: Mutex<HashMap<i32, Held>>,
}

#[derive(Debug, Default)]
struct Held {
    /// The record failing now: its offset, its failures in a row, since when, and its last
    /// failure.
    failing: Option<Failing>,
    /// When an event of the next release last waited out its patience here.
    newer_waited_out: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Failing {
    offset: i64,
    attempts: u32,
    since: Instant,
    last: Instant,
}

/// How long after its last failure a record's count is forgotten: far longer than a pause
/// between two tries ([`super::batch`]'s longest is a minute) and a rebalance; a record at the
/// same offset failing after that is taken as another (the topic made again, an operator's
/// reset of the offsets).
const FORGOTTEN_AFTER: std::time::Duration = std::time::Duration::from_secs(300);

impl HeldRecords {
    /// One more failure of the record at `offset` of `partition`: its failures in a row, and
    /// since when it fails (the first failure's time; a record failing for the first time
    /// starts a new count).
    pub(crate) fn failed(&self, partition: i32, offset: i64) -> (u32, Instant) {
        let mut held = self.by_partition.lock();
        let held = held.entry(partition).or_default();
        let now = Instant::now();
        let failing = match held.failing {
            Some(f) if f.offset == offset && now - f.last < FORGOTTEN_AFTER => Failing {
                attempts: f.attempts.saturating_add(1),
                last: now,
                ..f
            },
            _ => Failing {
                offset,
                attempts: 1,
                since: now,
                last: now,
            },
        };
        held.failing = Some(failing);
        (failing.attempts, failing.since)
    }

    /// `partition` committed up to `next_offset`: a failing record before it is settled
    /// (handled or dead-lettered), and its count forgotten.
    pub(crate) fn committed(&self, partition: i32, next_offset: i64) {
        let mut held = self.by_partition.lock();
        if let Some(held) = held.get_mut(&partition)
            && held.failing.is_some_and(|f| f.offset < next_offset)
        {
            held.failing = None;
        }
    }

    /// When an event of the next release last waited out its patience on `partition`.
    pub(crate) fn newer_waited_out(&self, partition: i32) -> Option<Instant> {
        let held = self.by_partition.lock();
        held.get(&partition).and_then(|h| h.newer_waited_out)
    }

    /// An event of the next release waited out its patience on `partition` now.
    pub(crate) fn note_newer_waited_out(&self, partition: i32) {
        let mut held = self.by_partition.lock();
        held.entry(partition).or_default().newer_waited_out = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_of_one_record_count_until_it_is_committed_past() {
        let held = HeldRecords::default();
        let (n, first) = held.failed(0, 7);
        assert_eq!(n, 1);
        assert_eq!(held.failed(0, 7), (2, first));
        assert_eq!(held.failed(1, 7).0, 1, "per partition");
        held.committed(0, 7);
        assert_eq!(held.failed(0, 7), (3, first), "not yet past it");
        held.committed(0, 8);
        assert_eq!(held.failed(0, 7).0, 1, "forgotten once committed past");
        assert_eq!(held.failed(0, 9).0, 1, "another record starts again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_count_is_forgotten_when_its_record_stopped_failing_for_a_while() {
        let held = HeldRecords::default();
        held.failed(0, 7);
        tokio::time::advance(FORGOTTEN_AFTER / 2).await;
        assert_eq!(held.failed(0, 7).0, 2);
        tokio::time::advance(FORGOTTEN_AFTER).await;
        assert_eq!(
            held.failed(0, 7).0,
            1,
            "the offset read again, another record"
        );
    }
}
