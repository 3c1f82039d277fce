//! The users' side of the consumer: each record decoded as one of the six user events
//! ([`EventRecordHandler`], the consumer's [`RecordHandler`]) and handed to the method of an
//! [`EventHandler`] for its type. `handlers` holds the reactions `serve` runs.
use crate::{
    consumer::{Effects, HandlerError, HandlerResult, NoopHandler, RecordError, RecordHandler},
    event::{
        DecodeError, Deleted, Envelope, EventData, EventType, HeaderLookup, LoggedIn,
        PasswordChanged, Registered, StatusChanged, Updated, header, is_binding_header,
    },
    kafka::records::FetchedRecord,
    store::{ReadTxn, Table},
};
use uuid::Uuid;

/// The service's reaction to each event type. Every method defaults to doing nothing.
#[allow(unused_variables)]
pub trait EventHandler: Send + Sync + 'static {
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
    /// The rows a reaction to the event `event_id` about `user`, of `event_type` when its
    /// `ce_type` names one, is likely to read, to be read ahead ([`RecordHandler::reads`]).
    /// None by default.
    fn reads(
        &self,
        event_id: Uuid,
        user: Uuid,
        event_type: Option<EventType>,
    ) -> Vec<(Table, Vec<u8>)> {
        Vec::new()
    }
}

/// Calls the method of `handler` for `event`'s type.
pub fn dispatch(handler: &dyn EventHandler, event: &Envelope, view: &dyn ReadTxn) -> HandlerResult {
    match &event.data {
        EventData::Registered(d) => handler.registered(event, d, view),
        EventData::LoggedIn(d) => handler.logged_in(event, d, view),
        EventData::PasswordChanged(d) => handler.password_changed(event, d, view),
        EventData::StatusChanged(d) => handler.status_changed(event, d, view),
        EventData::Deleted(d) => handler.deleted(event, d, view),
        EventData::Updated(d) => handler.updated(event, d, view),
    }
}

/// The most CloudEvents headers (`ce_*`, `content-type`) an event may carry: ours carry 11 at
/// most, and the binding's other attributes and its extensions a few more. A forged record with
/// millions of them is poison before the search for repeated names holds each in memory.
const MAX_BINDING_HEADERS: usize = 64;

/// Decodes each record as an event [`Envelope`] and dispatches it to an [`EventHandler`]; a
/// record that does not decode is poison.
#[derive(Debug, Clone)]
pub struct EventRecordHandler<H>(pub H);

impl<H: EventHandler> RecordHandler for EventRecordHandler<H> {
    fn handle(&self, record: &FetchedRecord, view: &dyn ReadTxn) -> Result<Effects, RecordError> {
        // Counted before the repeats are looked for, which keep each name they have seen.
        let binding = record
            .headers
            .iter()
            .filter(|(name, _)| is_binding_header(name))
            .count();
        if binding > MAX_BINDING_HEADERS {
            return Err(RecordError::Poison(format!(
                "{binding} CloudEvents headers (ce_*, content-type): an event has at most \
                 {MAX_BINDING_HEADERS}"
            )));
        }
        if let Some(name) = record.headers.repeated(is_binding_header) {
            return Err(RecordError::Poison(format!(
                "header {name} appears more than once (case ignored): readers that take the \
                 first and the last would read two events"
            )));
        }
        let event =
            Envelope::decode(&record.headers, record.value.as_deref()).map_err(|e| match e {
                // The next release's event, in a rolling upgrade: waited on, not lost.
                DecodeError::DataVersion { found, supported }
                    if supported.checked_add(1) == Some(found) =>
                {
                    RecordError::Failed(HandlerError::NewerRelease(e.to_string()))
                }
                e => RecordError::Poison(e.to_string()),
            })?;
        dispatch(&self.0, &event, view).map_err(RecordError::Failed)
    }

    /// From the event id, subject and type headers, without decoding the event: a record
    /// whose id and subject do not parse reads nothing (it is poison).
    fn reads(&self, record: &FetchedRecord) -> Vec<(Table, Vec<u8>)> {
        let text = |name| std::str::from_utf8(record.headers.header(name)?).ok();
        let uuid = |name| Uuid::try_parse(text(name)?).ok();
        match (uuid(header::ID), uuid(header::SUBJECT)) {
            (Some(id), Some(user)) => {
                let event_type = text(header::TYPE).and_then(EventType::parse);
                self.0.reads(id, user, event_type)
            }
            _ => Vec::new(),
        }
    }
}

/// The consumer's do-nothing handler ignores every event too (it still decodes them when
/// wrapped in an [`EventRecordHandler`], so poison records are dead-lettered).
impl EventHandler for NoopHandler {}
