//! Which batches of a record set belong to aborted transactions, as a read_committed consumer
//! tells them: from the Fetch answer's list of the aborted transactions that overlap it (each a
//! producer and the first offset it wrote), up to each one's abort marker.
//!
//! A batch is left out when it is transactional and its producer has an aborted transaction
//! that began at or before the batch's last offset and whose abort marker has not come yet.
//! Kafka's Java consumer does the same (`CompletedFetch`, `abortedProducerIds`).

/// An aborted transaction in a read_committed Fetch answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aborted {
    /// The producer whose transaction it was.
    pub producer_id: i64,
    /// The first offset the transaction wrote in the partition.
    pub first_offset: i64,
}

/// The control record key's type of an abort marker (a commit is 1).
const ABORT: i16 = 0;

/// The aborted transactions of one record set as its batches are read in order.
#[derive(Debug)]
pub(super) struct AbortedSoFar {
    /// Those not begun yet, the latest first (taken from the end).
    ahead: Vec<Aborted>,
    /// The producers whose aborted transaction has begun and not yet met its marker.
    open: Vec<i64>,
}

impl AbortedSoFar {
    pub(super) fn new(aborted: &[Aborted]) -> Self {
        let mut ahead = aborted.to_vec();
        ahead.sort_by_key(|a| std::cmp::Reverse(a.first_offset));
        Self {
            ahead,
            open: Vec::new(),
        }
    }

    /// Opens the aborted transactions that begin at or before `last_offset`.
    fn reach(&mut self, last_offset: i64) {
        while let Some(next) = self.ahead.pop_if(|a| a.first_offset <= last_offset) {
            if !self.open.contains(&next.producer_id) {
                self.open.push(next.producer_id);
            }
        }
    }

    /// A control batch of `producer_id` ending at `last_offset`, with `key` its record's key
    /// (`None`: none could be read): an abort marker closes that producer's aborted
    /// transaction.
    pub(super) fn marker(&mut self, producer_id: i64, last_offset: i64, key: Option<&[u8]>) {
        self.reach(last_offset);
        let kind = key
            .and_then(|k| k.get(2..4))
            .map(|t| i16::from_be_bytes([t[0], t[1]]));
        if kind == Some(ABORT) {
            self.open.retain(|&p| p != producer_id);
        }
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
