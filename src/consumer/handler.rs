//! What the service does with each event. Handlers do not write: they return [`Effects`],
//! which the consumer applies in the same store transaction as the offset and the dedupe mark,
//! so a failed handler leaves nothing half-done and can simply be tried again.
use crate::{
    event::{
        Deleted, Envelope, EventData, LoggedIn, PasswordChanged, Registered, StatusChanged, Updated,
    },
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
}

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

/// The service's reaction to each event type. Every method defaults to doing nothing.
#[allow(unused_variables)]
pub trait Handler: Send + Sync + 'static {
    /// `user.registered`
    fn registered(&self, event: &Envelope, data: &Registered, view: &dyn ReadTxn) -> HandlerResult {
        Ok(Effects::default())
    }
    /// `user.logged_in`
    fn logged_in(&self, event: &Envelope, data: &LoggedIn, view: &dyn ReadTxn) -> HandlerResult {
        Ok(Effects::default())
    }
    /// `user.password_changed`
    fn password_changed(
        &self,
        event: &Envelope,
        data: &PasswordChanged,
        view: &dyn ReadTxn,
    ) -> HandlerResult {
        Ok(Effects::default())
    }
    /// `user.status_changed`
    fn status_changed(
        &self,
        event: &Envelope,
        data: &StatusChanged,
        view: &dyn ReadTxn,
    ) -> HandlerResult {
        Ok(Effects::default())
    }
    /// `user.deleted`
    fn deleted(&self, event: &Envelope, data: &Deleted, view: &dyn ReadTxn) -> HandlerResult {
        Ok(Effects::default())
    }
    /// `user.updated`
    fn updated(&self, event: &Envelope, data: &Updated, view: &dyn ReadTxn) -> HandlerResult {
        Ok(Effects::default())
    }
}

/// Calls the method of `handler` for `event`'s type.
pub fn dispatch(handler: &dyn Handler, event: &Envelope, view: &dyn ReadTxn) -> HandlerResult {
    match &event.data {
        EventData::Registered(d) => handler.registered(event, d, view),
        EventData::LoggedIn(d) => handler.logged_in(event, d, view),
        EventData::PasswordChanged(d) => handler.password_changed(event, d, view),
        EventData::StatusChanged(d) => handler.status_changed(event, d, view),
        EventData::Deleted(d) => handler.deleted(event, d, view),
        EventData::Updated(d) => handler.updated(event, d, view),
    }
}

/// A handler that does nothing (benchmarks, `perf consume`).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopHandler;

impl Handler for NoopHandler {}
