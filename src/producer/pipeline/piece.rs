//! What the pipeline sends: a batch, or a piece of one, encoded once with its sequence; and what
//! a round that failed needs before the next.
use std::sync::Arc;

use tokio::time::Instant;

use crate::{
    kafka::protocol::{CallError, Produce},
    producer::transport::{PartitionAnswer, PartitionLeader},
};

/// A batch, or a piece of one after a split, encoded with its sequence: the request is built
/// once and resent unchanged (restamped only after a renewal or a record dropped before it).
pub(super) struct Piece {
    pub(super) request: Produce,
    /// Records in it.
    pub(super) count: usize,
    /// Its base sequence (the batch says −1 when the identity has no producer id).
    pub(super) sequence: i32,
    /// The delivery deadline of its batch.
    pub(super) deadline: Instant,
    /// The serial of the accumulator batch it is (a piece of) in [`Unsettled`].
    pub(super) serial: u64,
    /// The index of its first record in that batch.
    pub(super) first: usize,
    /// Times the broker found its request damaged (CORRUPT_MESSAGE).
    pub(super) damaged: u8,
    /// When its request was last handed to the connection.
    pub(super) sent: Instant,
    /// The leader its request last went to, whose way (not a newer one's) a lost answer loses.
    pub(super) via: Option<Arc<dyn PartitionLeader>>,
}

/// A piece with the answer to its request.
pub(super) type Answered = (Piece, Result<PartitionAnswer, CallError>);

/// What a round in which something was not delivered needs before the next, least first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Recovery {
    /// Pieces come back to be sent again, for no reason time would fix (a split, a record
    /// dropped, out of order behind one of those): at once.
    Resend,
    /// Send again after a backoff.
    Retry,
    /// Look the leader up again too.
    Refresh,
    /// Renew the producer identity and renumber.
    Renew,
}
