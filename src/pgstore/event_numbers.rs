//! Event sequences (`ce_sequence`) drawn from the database a block at a time and handed out
//! from memory, so that stamping an event or a consumer's output costs no round trip.
//!
//! An event sequence only has to be unique ([`super::sequences`]): `nextval` is not rolled
//! back with its transaction either, so a block drawn by one transaction and used by the next
//! ones is no weaker than a draw per event. Within a process numbers are handed out in the
//! order drawn, except when two transactions refill at once (their blocks then interleave);
//! nothing depends on that order. The instances sharing the database each draw their own
//! blocks, and a process that stops leaves the rest of its block unused (a gap, as an aborted
//! transaction leaves).
use parking_lot::Mutex;

/// Numbers drawn per block.
pub const BLOCK: i64 = 64;

/// Event sequences drawn and not handed out yet, shared by a store's transactions.
#[derive(Debug, Default)]
pub struct EventNumbers(Mutex<Vec<i64>>);

impl EventNumbers {
    /// The next number drawn, if any is left.
    pub fn take(&self) -> Option<i64> {
        self.0.lock().pop()
    }

    /// Keeps a freshly drawn block and hands out its smallest number (`None` when it is
    /// empty). Numbers still kept from before are handed out first.
    pub fn refill(&self, mut drawn: Vec<i64>) -> Option<i64> {
        // Popped from the end: largest first in the vector, smallest handed out first.
        drawn.sort_unstable_by(|a, b| b.cmp(a));
        let mut kept = self.0.lock();
        let first = match kept.pop() {
            Some(older) => Some(older),
            None => drawn.pop(),
        };
        // Numbers kept from before stay at the end, to be handed out first.
        drawn.append(&mut kept);
        *kept = drawn;
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_is_handed_out_smallest_first_then_runs_out() {
        let numbers = EventNumbers::default();
        assert_eq!(numbers.take(), None);
        assert_eq!(numbers.refill(vec![12, 10, 11]), Some(10));
        assert_eq!(numbers.take(), Some(11));
        assert_eq!(numbers.take(), Some(12));
        assert_eq!(numbers.take(), None);
    }

    #[test]
    fn numbers_kept_from_an_earlier_block_go_first() {
        let numbers = EventNumbers::default();
        assert_eq!(numbers.refill(vec![1, 2]), Some(1));
        // Another transaction drew a block while this one still held 2.
        assert_eq!(numbers.refill(vec![70, 71]), Some(2));
        assert_eq!(numbers.take(), Some(70));
        assert_eq!(numbers.take(), Some(71));
        assert_eq!(numbers.take(), None);
    }

    #[test]
    fn an_empty_draw_hands_out_nothing() {
        assert_eq!(EventNumbers::default().refill(Vec::new()), None);
    }
}
