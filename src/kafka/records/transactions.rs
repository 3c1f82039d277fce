//! Which batches of a record set belong to aborted transactions, as a read_committed consumer
//! tells them: from the Fetch answer's list of the aborted transactions that overlap it (each a
//! producer and the first offset it wrote), up to each one's marker.
//!
//! A batch is left out when it is transactional and its producer has an aborted transaction
//! that began at or before the batch's last offset and whose marker has not come yet. Kafka's
//! Java consumer does the same (`CompletedFetch`, `abortedProducerIds`), except that it reads
//! the marker's type: a producer's transactions on a partition follow one another, so its
//! next marker after the first offset of an aborted transaction is that transaction's abort
//! marker, and any marker closes it here. A marker whose record does not read cannot then
//! leave the producer's later, committed transactions out.

use std::collections::HashSet;

/// An aborted transaction in a read_committed Fetch answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aborted {
    /// The producer whose transaction it was.
    pub producer_id: i64,
    /// The first offset the transaction wrote in the partition.
    pub first_offset: i64,
}

/// The aborted transactions of one record set as its batches are read in order.
#[derive(Debug)]
pub(super) struct AbortedSoFar {
    /// Those not begun yet, the latest first (taken from the end).
    ahead: Vec<Aborted>,
    /// The producers whose aborted transaction has begun and not yet met its marker (a set:
    /// the answer may list millions of aborted transactions).
    open: HashSet<i64>,
}

impl AbortedSoFar {
    pub(super) fn new(aborted: &[Aborted]) -> Self {
        let mut ahead = aborted.to_vec();
        ahead.sort_by_key(|a| std::cmp::Reverse(a.first_offset));
        Self {
            ahead,
            open: HashSet::new(),
        }
    }

    /// Opens the aborted transactions that begin at or before `last_offset`.
    fn reach(&mut self, last_offset: i64) {
        while let Some(next) = self.ahead.pop_if(|a| a.first_offset <= last_offset) {
            self.open.insert(next.producer_id);
        }
    }

    /// A control batch (a transaction marker) of `producer_id` ending at `last_offset`: it
    /// ends that producer's aborted transaction, if one has begun.
    pub(super) fn marker(&mut self, producer_id: i64, last_offset: i64) {
        self.reach(last_offset);
        self.open.remove(&producer_id);
    }

    /// Whether a data batch of `producer_id` ending at `last_offset` (`transactional` or not)
    /// belongs to an aborted transaction.
    pub(super) fn skips(
        &mut self,
        producer_id: i64,
        last_offset: i64,
        transactional: bool,
    ) -> bool {
        if !transactional {
            return false;
        }
        self.reach(last_offset);
        self.open.contains(&producer_id)
    }
}
