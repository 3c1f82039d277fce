//! How users react to their own events: default settings on registration, login anomalies,
//! security log, notifications and analytics records. Domain code, run by the consumer: each
//! handler returns its effects and the consumer commits them with its offset, so each applies
//! exactly once.
//!
//! Every applied event is also counted in the event log (event id → times applied): an audit
//! of the consumer and the proof, in the tests, that effects apply once.
//!
//! Notifications are a contract for the delivery services (e-mail, SMS): records on the
//! notifications topic, key = user id, CloudEvents headers (`ce_type` one of
//! `user.notification.welcome`, `.security_alert`, `.password_changed`, `.status_changed`,
//! `.account_deleted`; `ce_subject` = user id; `ce_id` derived from the source event, so a
//! replay carries the same id), JSON value `{"type", "user_id", "event_id", "occurred_at",
//! "email"?, "details"}`.
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    consumer::{Effects, HandlerError, HandlerResult, Write},
    event::{
        ContentType, Deleted, Envelope, LoggedIn, PasswordChanged, Registered, StatusChanged,
        Updated, header,
    },
    outbox::OutboxRecord,
    store::{self, ReadTxn, Table},
};

use super::{EventHandler, User};

/// Failed logins within this window that make an anomaly.
const FAILURE_BURST: usize = 5;
/// The window, in milliseconds.
const FAILURE_WINDOW_MS: i64 = 10 * 60 * 1000;
/// Known IPs kept per user.
const KNOWN_IPS: usize = 32;
/// Security log entries kept per user.
const SECURITY_LOG: usize = 64;
/// Failed logins kept per user: more than a burst, so that one burst alerts once.
const FAILURES_KEPT: usize = 4 * FAILURE_BURST;
/// The most of an event's IP a user's state keeps, in bytes (an IPv6 address with a zone
/// fits): the events of other writers are not checked, and one event with a megabyte "IP"
/// would otherwise be kept 96 times and rewritten with every later event of its user.
const MAX_IP: usize = 64;

/// `ip` cut to [`MAX_IP`] bytes (on a character boundary).
fn kept_ip(ip: &str) -> String {
    let cut = (0..=MAX_IP.min(ip.len()))
        .rev()
        .find(|&i| ip.is_char_boundary(i))
        .unwrap_or(0);
    ip[..cut].to_owned()
}

/// Per-user state the handlers keep in the store (`Meta` table, key `state/<user id>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserState {
    /// Default settings, written at registration.
    pub settings: Vec<(String, String)>,
    /// IPs of successful logins, most recent last.
    pub known_ips: Vec<String>,
    /// Times of recent failed logins (ms).
    pub failures: Vec<i64>,
    /// Last successful login (ms) and IP.
    pub last_login: Option<(i64, String)>,
    /// Security log: (time ms, what).
    pub security_log: Vec<(i64, String)>,
}

/// The users' handlers of their own events, as `serve` runs them.
#[derive(Debug, Clone)]
pub struct UserEventHandler {
    /// Topic of notifications.
    pub notifications: String,
    /// Topic of analytics records.
    pub analytics: String,
}

fn state_key(user: Uuid) -> Vec<u8> {
    [b"state/".as_slice(), user.as_bytes()].concat()
}

/// A stable id for the `kind` output of `event`.
fn derived_id(event: &Envelope, kind: &str) -> Uuid {
    let digest = Sha256::digest([event.id.as_bytes().as_slice(), kind.as_bytes()].concat());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// One event's reaction as a handler builds it up: the records it publishes and the state it
/// writes, beginning with the event's count in the event log.
struct Reaction<'a> {
    /// The handler, for its topics.
    handler: &'a UserEventHandler,
    /// The event reacted to.
    event: &'a Envelope,
    /// How many times the event was applied before (its event log count).
    applied_before: u32,
    /// What the reaction does so far.
    effects: Effects,
}

impl<'a> Reaction<'a> {
    fn new(
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

    fn record(&mut self, topic: &str, ce_type: &str, value: serde_json::Value) {
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

    fn notify(&mut self, kind: &str, email: Option<&str>, details: serde_json::Value) {
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

    fn analytics(&mut self, details: serde_json::Value) {
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

    fn put_state(&mut self, state: &mut UserState) -> Result<(), HandlerError> {
        let excess = state.security_log.len().saturating_sub(SECURITY_LOG);
        state.security_log.drain(..excess);
        self.effects.writes.push(Write::Put {
            table: Table::Meta,
            key: state_key(self.event.user_id),
            value: postcard::to_allocvec(state)
                .map_err(|e| HandlerError::encode("the user state", e))?,
        });
        Ok(())
    }

    fn done(self) -> HandlerResult {
        Ok(self.effects)
    }
}

fn load_state(view: &dyn ReadTxn, user: Uuid) -> Result<UserState, HandlerError> {
    Ok(store::get(view, Table::Meta, &state_key(user))?.unwrap_or_default())
}

fn email_of(view: &dyn ReadTxn, user: Uuid) -> Result<Option<String>, HandlerError> {
    Ok(store::get::<User>(view, Table::Users, user.as_bytes())?.map(|u| u.email))
}

impl EventHandler for UserEventHandler {
    /// Every reaction reads the event's log entry and the user's state; several read the
    /// user's row (its e-mail address).
    fn reads(&self, event_id: Uuid, user: Uuid) -> Vec<(Table, Vec<u8>)> {
        vec![
            (Table::EventLog, event_id.as_bytes().to_vec()),
            (Table::Meta, state_key(user)),
            (Table::Users, user.as_bytes().to_vec()),
        ]
    }

    /// Default settings, a welcome to the address the event names, an analytics record. A
    /// user's settings are written only here, so a user who has them was registered by another
    /// event: a `user.registered` under a new id for that user (another writer's, a forgery)
    /// sends no second welcome, and the security log says so. The same event again (a replay
    /// with `--replay`, its event log count above 0) reacts as it did the first time.
    fn registered(&self, e: &Envelope, d: &Registered, view: &dyn ReadTxn) -> HandlerResult {
        let mut reaction = Reaction::new(self, e, view)?;
        let mut state = load_state(view, e.user_id)?;
        if !state.settings.is_empty() && reaction.applied_before == 0 {
            state.security_log.push((
                e.occurred_at.timestamp_millis(),
                format!("registration event {} for a registered user ignored", e.id),
            ));
            reaction.put_state(&mut state)?;
            return reaction.done();
        }
        if state.settings.is_empty() {
            state.settings = vec![
                ("language".into(), "en".into()),
                ("notifications.email".into(), "on".into()),
                ("notifications.security".into(), "on".into()),
            ];
        }
        reaction.put_state(&mut state)?;
        reaction.notify("welcome", Some(&d.email), json!({ "username": d.username }));
        reaction.analytics(json!({ "username": d.username }));
        reaction.done()
    }

    fn logged_in(&self, e: &Envelope, d: &LoggedIn, view: &dyn ReadTxn) -> HandlerResult {
        let mut reaction = Reaction::new(self, e, view)?;
        let mut state = load_state(view, e.user_id)?;
        let now = e.occurred_at.timestamp_millis();
        let email = email_of(view, e.user_id)?;
        let ip = kept_ip(&d.ip);
        if d.success {
            let new_ip = !state.known_ips.is_empty() && !state.known_ips.contains(&ip);
            if new_ip {
                reaction.notify(
                    "security_alert",
                    email.as_deref(),
                    json!({ "reason": "login from a new IP", "ip": ip }),
                );
                state
                    .security_log
                    .push((now, format!("login from new IP {ip}")));
            }
            state.known_ips.retain(|known| known != &ip);
            state.known_ips.push(ip.clone());
            if state.known_ips.len() > KNOWN_IPS {
                state.known_ips.remove(0);
            }
            state.last_login = Some((now, ip));
            state.failures.clear();
        } else {
            // Within the window either side of this event: a failure stamped in the future
            // (another writer's clock, or a forged time) ages out like any other.
            state
                .failures
                .retain(|t| now.abs_diff(*t) <= FAILURE_WINDOW_MS as u64);
            state.failures.push(now);
            let excess = state.failures.len().saturating_sub(FAILURES_KEPT);
            state.failures.drain(..excess);
            if state.failures.len() == FAILURE_BURST {
                reaction.notify(
                    "security_alert",
                    email.as_deref(),
                    json!({ "reason": "repeated failed logins", "failures": FAILURE_BURST, "ip": ip }),
                );
                state
                    .security_log
                    .push((now, format!("{FAILURE_BURST} failed logins")));
            }
        }
        reaction.put_state(&mut state)?;
        reaction.done()
    }

    fn password_changed(
        &self,
        e: &Envelope,
        d: &PasswordChanged,
        view: &dyn ReadTxn,
    ) -> HandlerResult {
        let mut reaction = Reaction::new(self, e, view)?;
        let mut state = load_state(view, e.user_id)?;
        state.security_log.push((
            e.occurred_at.timestamp_millis(),
            format!("password changed from {}", kept_ip(&d.ip)),
        ));
        reaction.put_state(&mut state)?;
        let email = email_of(view, e.user_id)?;
        reaction.notify(
            "password_changed",
            email.as_deref(),
            json!({ "ip": kept_ip(&d.ip), "changed_by": d.changed_by }),
        );
        reaction.done()
    }

    fn status_changed(&self, e: &Envelope, d: &StatusChanged, view: &dyn ReadTxn) -> HandlerResult {
        let mut reaction = Reaction::new(self, e, view)?;
        let email = email_of(view, e.user_id)?;
        reaction.notify(
            "status_changed",
            email.as_deref(),
            json!({ "from": d.from, "to": d.to }),
        );
        reaction.analytics(json!({ "from": d.from, "to": d.to }));
        reaction.done()
    }

    fn deleted(&self, e: &Envelope, d: &Deleted, view: &dyn ReadTxn) -> HandlerResult {
        let mut reaction = Reaction::new(self, e, view)?;
        reaction.effects.writes.push(Write::Delete {
            table: Table::Meta,
            key: state_key(e.user_id),
        });
        reaction.notify(
            "account_deleted",
            d.email.as_deref(),
            json!({ "deleted_by": d.deleted_by }),
        );
        reaction.analytics(json!({}));
        reaction.done()
    }

    fn updated(&self, e: &Envelope, d: &Updated, view: &dyn ReadTxn) -> HandlerResult {
        let mut reaction = Reaction::new(self, e, view)?;
        let fields: Vec<&str> = [
            d.nickname.as_ref().map(|_| "nickname"),
            d.email.as_ref().map(|_| "email"),
            d.avatar_url.as_ref().map(|_| "avatar_url"),
        ]
        .into_iter()
        .flatten()
        .collect();
        reaction.analytics(json!({ "fields": fields }));
        reaction.done()
    }
}

/// How many times the effects of `event_id` were applied (0 when never).
pub fn times_applied(view: &dyn ReadTxn, event_id: &Uuid) -> store::Result<u32> {
    Ok(store::get(view, Table::EventLog, event_id.as_bytes())?.unwrap_or(0))
}

#[cfg(test)]
mod tests;
