//! The service's event handlers. Each applied event is counted in the event log, keyed by event
//! id: an audit of what the consumer did, and the proof (count = 1) that effects apply exactly
//! once. The per-event effects of DESIGN.md (notifications, settings, analytics) build on this.
use crate::{
    consumer::{Effects, Handler, HandlerError, HandlerResult, Write},
    event::{Deleted, Envelope, LoggedIn, PasswordChanged, Registered, StatusChanged, Updated},
    store::{self, ReadTxn, Table},
};

/// The handlers `serve` runs.
#[derive(Debug, Default, Clone)]
pub struct ServiceHandler;

impl ServiceHandler {
    fn log(&self, event: &Envelope, view: &dyn ReadTxn) -> HandlerResult {
        let key = event.id.as_bytes().to_vec();
        let applied: u32 = store::get(view, Table::EventLog, &key)
            .map_err(|e| HandlerError(e.to_string()))?
            .unwrap_or(0);
        let value =
            postcard::to_allocvec(&(applied + 1)).map_err(|e| HandlerError(e.to_string()))?;
        Ok(Effects {
            writes: vec![Write::Put {
                table: Table::EventLog,
                key,
                value,
            }],
            outputs: Vec::new(),
        })
    }
}

impl Handler for ServiceHandler {
    fn registered(&self, e: &Envelope, _: &Registered, view: &dyn ReadTxn) -> HandlerResult {
        self.log(e, view)
    }
    fn logged_in(&self, e: &Envelope, _: &LoggedIn, view: &dyn ReadTxn) -> HandlerResult {
        self.log(e, view)
    }
    fn password_changed(
        &self,
        e: &Envelope,
        _: &PasswordChanged,
        view: &dyn ReadTxn,
    ) -> HandlerResult {
        self.log(e, view)
    }
    fn status_changed(&self, e: &Envelope, _: &StatusChanged, view: &dyn ReadTxn) -> HandlerResult {
        self.log(e, view)
    }
    fn deleted(&self, e: &Envelope, _: &Deleted, view: &dyn ReadTxn) -> HandlerResult {
        self.log(e, view)
    }
    fn updated(&self, e: &Envelope, _: &Updated, view: &dyn ReadTxn) -> HandlerResult {
        self.log(e, view)
    }
}

/// How many times the effects of `event_id` were applied (0 when never).
pub fn times_applied(view: &dyn ReadTxn, event_id: &uuid::Uuid) -> store::Result<u32> {
    Ok(store::get(view, Table::EventLog, event_id.as_bytes())?.unwrap_or(0))
}
