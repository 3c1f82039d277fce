//! What the consumer asks of whoever handles its records: a [`RecordHandler`] turns a fetched
//! record into [`Effects`], or says why it cannot ([`RecordError`]). Handlers do not write:
//! the consumer applies their effects in the same store transaction as the offset and the
//! dedupe mark, so a failed handler leaves nothing half-done and can simply be tried again.
//!
//! The consumer knows records, offsets, dedupe and dead letters, not what records mean: the
//! user events and the reactions to them live with the users (`users::EventRecordHandler`
//! decodes each record as an event and hands it to an `EventHandler`).
use std::time::Duration;

use crate::{
    kafka::records::FetchedRecord,
    outbox::OutboxRecord,
    store::{ReadTxn, StoreError, Table},
};

/// One store write of a handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Set `key` in `table` to `value`.
    Put {
        /// Table.
        table: Table,
        /// Key.
        key: Vec<u8>,
        /// Value.
        value: Vec<u8>,
    },
    /// Remove `key` from `table`.
    Delete {
        /// Table.
        table: Table,
        /// Key.
        key: Vec<u8>,
    },
}

/// What handling one event changes: store writes and records to publish (notifications,
/// analytics), all committed with the consumer's offset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// Store writes.
    pub writes: Vec<Write>,
    /// Records for the outbox.
    pub outputs: Vec<OutboxRecord>,
}

/// Any error, as the cause of a [`HandlerError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a handler could not handle an event. The consumer tries it again with backoff and
/// dead-letters the event after `handler_attempts`, with this error's text in `dlq_error`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandlerError {
    /// Reading what the handler needs from the store failed.
    #[error("handler could not read the store: {0}")]
    Store(#[from] StoreError),
    /// A state row or an output could not be encoded.
    #[error("handler could not encode {what}: {source}")]
    Encode {
        /// What it was encoding.
        what: &'static str,
        /// The encoder's error.
        #[source]
        source: BoxError,
    },
    /// The handler refused the event by a rule of its own.
    #[error("handler refused the event: {0}")]
    Refused(#[source] BoxError),
    /// The event was written by the next release (its data version is one above this
    /// build's), as in a rolling upgrade: the partition waits for an upgraded instance to take
    /// it, for up to [`NEWER_RELEASE_PATIENCE`], then dead-letters it, and for an hour after
    /// that dead-letters such events at once.
    #[error("written by a newer release: {0}")]
    NewerRelease(String),
    /// The handler panicked on the event (a defect of ours, which a forged record may find):
    /// tried again and dead-lettered as any failure, with the panic's message.
    #[error("handler panicked: {0}")]
    Panicked(String),
}

/// How long a partition waits behind an event of the next release
/// ([`HandlerError::NewerRelease`]) before it is dead-lettered: a rolling upgrade moves the
/// partition to an upgraded instance well within it; a record forged with the next version
/// holds its partition this long.
pub const NEWER_RELEASE_PATIENCE: Duration = Duration::from_secs(900);

/// The pause between two tries of an event of the next release.
pub const NEWER_RELEASE_PAUSE: Duration = Duration::from_secs(10);

impl HandlerError {
    /// [`HandlerError::Encode`] of `what`.
    pub fn encode(what: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Encode {
            what,
            source: source.into(),
        }
    }

    /// [`HandlerError::Refused`] because of `why`.
    pub fn refused(why: impl Into<BoxError>) -> Self {
        Self::Refused(why.into())
    }
}

/// The result of a handler.
pub type HandlerResult = Result<Effects, HandlerError>;

/// What a record handler can say.
#[derive(Debug)]
pub enum RecordError {
    /// The record can never be handled (it does not decode): dead-letter it at once.
    Poison(String),
    /// Handling failed; try again later, dead-letter after the configured attempts.
    Failed(HandlerError),
}

/// Turns a raw record into effects.
pub trait RecordHandler: Send + Sync + 'static {
    /// Handles one record.
    fn handle(&self, record: &FetchedRecord, view: &dyn ReadTxn) -> Result<Effects, RecordError>;

    /// The rows (table and key) [`RecordHandler::handle`] is likely to read for `record`: the
    /// consumer reads them ahead for a run of records, in one round trip where the store has
    /// round trips ([`ReadTxn::read_ahead`]). A row missed here is still read when asked for;
    /// the default names none.
    fn reads(&self, record: &FetchedRecord) -> Vec<(Table, Vec<u8>)> {
        let _ = record;
        Vec::new()
    }
}

/// A handler that does nothing (benchmarks, `perf consume`).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopHandler;

impl RecordHandler for NoopHandler {
    fn handle(&self, _: &FetchedRecord, _: &dyn ReadTxn) -> Result<Effects, RecordError> {
        Ok(Effects::default())
    }
}
