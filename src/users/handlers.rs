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
//! `.account_deleted`, `.email_changed`; `ce_subject` = user id; `ce_id` derived from the source event, so a
//! replay carries the same id), JSON value `{"type", "user_id", "event_id", "occurred_at",
//! "email"?, "details"}`.
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::{
    consumer::{HandlerError, HandlerResult, Write},
    event::{
        Deleted, Envelope, EventType, LoggedIn, PasswordChanged, Registered, StatusChanged, Updated,
    },
    store::{self, ReadTxn, Table},
};

use super::{EventHandler, User};
use reaction::Reaction;

mod reaction;

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

/// The key (`Meta` table) of the id of the event that registered `user`, kept when the user is
/// deleted: a `user.registered` of another id for that user sends no welcome.
fn registered_key(user: Uuid) -> Vec<u8> {
    [b"registered/".as_slice(), user.as_bytes()].concat()
}

fn load_state(view: &dyn ReadTxn, user: Uuid) -> Result<UserState, HandlerError> {
    Ok(store::get(view, Table::Meta, &state_key(user))?.unwrap_or_default())
}

fn email_of(view: &dyn ReadTxn, user: Uuid) -> Result<Option<String>, HandlerError> {
    Ok(store::get::<User>(view, Table::Users, user.as_bytes())?.map(|u| u.email))
}

impl EventHandler for UserEventHandler {
    /// Every reaction reads the event's log entry and the user's state; several read the
    /// user's row (its e-mail address); a registration reads the note of the user's.
    fn reads(
        &self,
        event_id: Uuid,
        user: Uuid,
        event_type: Option<EventType>,
    ) -> Vec<(Table, Vec<u8>)> {
        let mut rows = vec![
            (Table::EventLog, event_id.as_bytes().to_vec()),
            (Table::Meta, state_key(user)),
            (Table::Users, user.as_bytes().to_vec()),
        ];
        if event_type == Some(EventType::Registered) {
            rows.push((Table::Meta, registered_key(user)));
        }
        rows
    }

    /// Default settings, a welcome, an analytics record; the event's id noted as the one that
    /// registered the user. A `user.registered` under another id for a user already registered
    /// (another writer's, a forgery) sends nothing and leaves a line in the security log; the
    /// same event again (a replay with `--replay`) reacts as it did the first time. A user
    /// registered before the id was noted counts as registered when their settings exist (only
    /// registration writes them) and the event was never applied here. The welcome goes to the
    /// user's stored address, and names their stored username, when this store has the user
    /// (so an event can neither send it elsewhere nor put its own text in it), else the
    /// event's (the Go service's users, during a migration).
    fn registered(&self, e: &Envelope, d: &Registered, view: &dyn ReadTxn) -> HandlerResult {
        let mut reaction = Reaction::new(self, e, view)?;
        let mut state = load_state(view, e.user_id)?;
        let by: Option<Uuid> = store::get(view, Table::Meta, &registered_key(e.user_id))?;
        let by_another = match by {
            // The nil id is noted for a user registered before ids were: no event is the one.
            Some(id) => id.is_nil() || id != e.id,
            None => !state.settings.is_empty() && reaction.applied_before == 0,
        };
        if by_another {
            // A deleted user (no state left) gets none back.
            if !state.settings.is_empty() {
                state.security_log.push((
                    e.occurred_at.timestamp_millis(),
                    format!("registration event {} for a registered user ignored", e.id),
                ));
                reaction.put_state(&mut state)?;
            }
            // A user registered before ids were noted: the nil id, which stands for no
            // event (above), so that this event handed over again is ignored again.
            if by.is_none() {
                reaction.put_meta(registered_key(e.user_id), &Uuid::nil(), "a handler's note")?;
            }
            return reaction.done();
        }
        if by.is_none() {
            reaction.put_meta(registered_key(e.user_id), &e.id, "a handler's note")?;
        }
        if state.settings.is_empty() {
            state.settings = vec![
                ("language".into(), "en".into()),
                ("notifications.email".into(), "on".into()),
                ("notifications.security".into(), "on".into()),
            ];
        }
        reaction.put_state(&mut state)?;
        // The user as this store has them, when it does: the welcome names them as they
        // registered here, whatever the event says.
        let stored = store::get::<User>(view, Table::Users, e.user_id.as_bytes())?;
        let (email, username) = match &stored {
            Some(u) => (Some(u.email.as_str()), u.username.as_str()),
            None => (one_address(&d.email), d.username.as_str()),
        };
        reaction.notify("welcome", email, json!({ "username": username }));
        reaction.analytics(json!({ "username": username }));
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

    /// The user's state removed, the confirmation to the address the event names, an analytics
    /// record. A deletion of a user this store still has cannot be ours (a delete removes the
    /// user's row in the transaction that writes its event, and ids are never reused): another
    /// writer's, a forgery. It removes nothing and sends nothing, and leaves a line in the
    /// user's security log.
    fn deleted(&self, e: &Envelope, d: &Deleted, view: &dyn ReadTxn) -> HandlerResult {
        let mut reaction = Reaction::new(self, e, view)?;
        if email_of(view, e.user_id)?.is_some() {
            let mut state = load_state(view, e.user_id)?;
            state.security_log.push((
                e.occurred_at.timestamp_millis(),
                format!("deletion event {} for an existing user ignored", e.id),
            ));
            reaction.put_state(&mut state)?;
            return reaction.done();
        }
        reaction.effects.writes.push(Write::Delete {
            table: Table::Meta,
            key: state_key(e.user_id),
        });
        reaction.notify(
            "account_deleted",
            d.email.as_deref().and_then(one_address),
            json!({ "deleted_by": d.deleted_by }),
        );
        reaction.analytics(json!({}));
        reaction.done()
    }

    /// The analytics record of the fields that changed; when the address changed to another
    /// mailbox, a notice to the address it had, masked the new one: its owner, not only whoever
    /// changed it, hears of it (a stolen token is enough for a change).
    fn updated(&self, e: &Envelope, d: &Updated, view: &dyn ReadTxn) -> HandlerResult {
        let mut reaction = Reaction::new(self, e, view)?;
        if let (Some(new), Some(old)) = (&d.email, &d.previous_email)
            && super::lookup_key(new) != super::lookup_key(old)
        {
            let mut state = load_state(view, e.user_id)?;
            state.security_log.push((
                e.occurred_at.timestamp_millis(),
                format!("e-mail address changed to {}", masked(new)),
            ));
            reaction.put_state(&mut state)?;
            reaction.notify(
                "email_changed",
                one_address(old),
                json!({ "new_email": masked(new) }),
            );
        }
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

/// An address an event names (of a user this store does not have, or the one a user had), if
/// it is one address: one `@`, no whitespace or control characters, at most 254 characters.
/// Another writer's event must not hand the mailers a list of addresses or lines of mail
/// headers; anything else a mailer may take (`bob@localhost`) is passed on.
fn one_address(address: &str) -> Option<&str> {
    let one = address.chars().count() <= 254
        && address.matches('@').count() == 1
        && !address.chars().any(|c| c.is_whitespace() || c.is_control());
    one.then_some(address)
}

/// `address` as a notice to another address shows it: the first character of the local part,
/// then `***@` and the domain (`a***@example.com`).
fn masked(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// How many times the effects of `event_id` were applied (0 when never).
pub fn times_applied(view: &dyn ReadTxn, event_id: &Uuid) -> store::Result<u32> {
    Ok(store::get(view, Table::EventLog, event_id.as_bytes())?.unwrap_or(0))
}

#[cfg(test)]
mod tests;
