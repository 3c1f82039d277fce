//! One event's reaction as the users' handlers build it up: the records it publishes
//! (notifications and analytics records, each with an id derived from the event's), the state
//! it writes, and the event's count in the event log.
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{SECURITY_LOG, UserEventHandler, UserState, state_key};
use crate::{
    consumer::{Effects, HandlerError, HandlerResult, Write},
    event::{ContentType, Envelope, header},
    outbox::OutboxRecord,
    store::{self, ReadTxn, Table},
};

/// A stable id for the `kind` output of `event`.
fn derived_id(event: &Envelope, kind: &str) -> Uuid {
    let digest = Sha256::digest([event.id.as_bytes().as_slice(), kind.as_bytes()].concat());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// One event's reaction as a handler builds it up: the records it publishes and the state it
/// writes, beginning with the event's count in the event log.
pub(super) struct Reaction<'a> {
    /// The handler, for its topics.
    handler: &'a UserEventHandler,
    /// The event reacted to.
    event: &'a Envelope,
    /// How many times the event was applied before (its event log count).
    pub(super) applied_before: u32,
    /// What the reaction does so far.
    pub(super) effects: Effects,
}

impl<'a> Reaction<'a> {
    pub(super) fn new(
        handler: &'a UserEventHandler,
        event: &'a Envelope,
        view: &dyn ReadTxn,
    ) -> Result<Self, HandlerError> {
        let key = event.id.as_bytes().to_vec();
        let applied: u32 = store::get(view, Table::EventLog, &key)?.unwrap_or(0);
        let value = postcard::to_allocvec(&(applied + 1))
            .map_err(|e| HandlerError::encode("the event log count", e))?;
        Ok(Self {
            handler,
            event,
            applied_before: applied,
            effects: Effects {
                writes: vec![Write::Put {
                    table: Table::EventLog,
                    key,
                    value,
                }],
                outputs: Vec::new(),
            },
        })
    }

    pub(super) fn record(&mut self, topic: &str, ce_type: &str, value: serde_json::Value) {
        let e = self.event;
        let id = derived_id(e, ce_type);
        let text = |s: &str| s.as_bytes().to_vec();
        let headers = [
            (header::SPECVERSION, text("1.0")),
            (header::ID, text(&id.to_string())),
            (header::SOURCE, text(&Envelope::source_of(e.producer_id))),
            (header::TYPE, text(ce_type)),
            (
                header::TIME,
                text(
                    &e.occurred_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                ),
            ),
            (header::SUBJECT, text(&e.user_id.to_string())),
            (header::REQUEST_ID, text(&e.request_id)),
            (header::CONTENT_TYPE, text(ContentType::Json.mime())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        self.effects.outputs.push(OutboxRecord {
            topic: topic.to_owned(),
            key: Some(e.user_id.to_string().into_bytes()),
            value: value.to_string().into_bytes(),
            headers,
            created_ms: 0,
        });
    }

    /// A notification of `kind` to `email` (an address an event names goes through
    /// [`super::one_address`] first).
    pub(super) fn notify(&mut self, kind: &str, email: Option<&str>, details: serde_json::Value) {
        let ce_type = format!("user.notification.{kind}");
        let e = self.event;
        let value = json!({
            "type": ce_type,
            "user_id": e.user_id,
            "event_id": e.id,
            "occurred_at": e.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "email": email,
            "details": details,
        });
        let topic = self.handler.notifications.clone();
        self.record(&topic, &ce_type, value);
    }

    pub(super) fn analytics(&mut self, details: serde_json::Value) {
        let e = self.event;
        let ce_type = format!(
            "user.analytics.{}",
            e.event_type().as_str().trim_start_matches("user.")
        );
        let value = json!({
            "type": e.event_type().as_str(),
            "user_id": e.user_id,
            "event_id": e.id,
            "occurred_at": e.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "details": details,
        });
        let topic = self.handler.analytics.clone();
        self.record(&topic, &ce_type, value);
    }

    pub(super) fn put_state(&mut self, state: &mut UserState) -> Result<(), HandlerError> {
        let excess = state.security_log.len().saturating_sub(SECURITY_LOG);
        state.security_log.drain(..excess);
        let key = state_key(self.event.user_id);
        self.put_meta(key, &*state, "the user state")
    }

    /// Writes `value` (`what`, for the error) under `key` in the `Meta` table.
    pub(super) fn put_meta(
        &mut self,
        key: Vec<u8>,
        value: &impl Serialize,
        what: &'static str,
    ) -> Result<(), HandlerError> {
        self.effects.writes.push(Write::Put {
            table: Table::Meta,
            key,
            value: postcard::to_allocvec(value).map_err(|e| HandlerError::encode(what, e))?,
        });
        Ok(())
    }

    pub(super) fn done(self) -> HandlerResult {
        Ok(self.effects)
    }
}
