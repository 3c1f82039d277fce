//! The core of the user service: what every operation shares. Each mutation checks first,
//! then runs ONE store transaction with the user rows, the sessions, and the event in the
//! outbox; the operations themselves live in the sibling modules, grouped by concern.
use std::{sync::Arc, time::Duration};

use chrono::Utc;
use uuid::Uuid;

use super::{Result, Role, Throttle, User, UserError, auth};
use crate::{
    event::{ContentType, DATA_VERSION, Envelope, EventData},
    metrics::Counter,
    outbox::{self, OutboxRecord},
    store::{self, ReadTxn, Store, StoreExt, Table, WriteTxn},
};

/// Who asked, for logs and the event envelope.
#[derive(Debug, Clone, Default)]
pub struct RequestCtx {
    /// `X-Request-Id`.
    pub request_id: String,
    /// Client IP.
    pub ip: String,
    /// `User-Agent`.
    pub user_agent: String,
    /// Set when the request is gone (its client left): a password hash still queued for it
    /// is skipped.
    pub client_gone: super::ClientGone,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub user: User,
    /// The hash of the session token used.
    pub session: [u8; 32],
}

impl Caller {
    pub(super) fn may_act_on(&self, id: Uuid) -> bool {
        may_act_on(&self.user, id)
    }
}

/// Whether `user` may act on the account `id`: its own, or any as an admin.
pub(super) fn may_act_on(user: &User, id: Uuid) -> bool {
    user.id == id || user.role == Role::Admin
}

/// Login throttling and session bounds (`[auth]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthLimits {
    /// Failed logins per account from one source IP in `window`.
    pub per_source: usize,
    /// Failed logins per account from all sources in `window` (the global ceiling).
    pub per_account: usize,
    /// Failed logins per source IP in `window`, whatever the account.
    pub per_ip: usize,
    /// The throttling window.
    pub window: Duration,
    /// Keys each throttle tracks at most.
    pub max_keys: usize,
    /// Sessions per user; beyond, the oldest is revoked.
    pub max_sessions: usize,
    /// Sources one site may make known a day ([`KNOWN_SOURCES_PER_SITE`]).
    pub known_per_site: usize,
}

impl Default for AuthLimits {
    fn default() -> Self {
        Self {
            per_source: 5,
            per_account: 50,
            per_ip: 20,
            window: Duration::from_secs(600),
            max_keys: 100_000,
            max_sessions: 20,
            known_per_site: KNOWN_SOURCES_PER_SITE,
        }
    }
}

/// The user service.
#[derive(Debug)]
pub struct Users {
    store: Arc<dyn Store>,
    producer_id: u64,
    events_topic: String,
    content_type: ContentType,
    pub(super) session_ttl: Duration,
    /// Failed logins per account and source IP.
    pub(super) account_sources: Throttle,
    /// Failed logins per account, from anywhere (a higher ceiling).
    pub(super) accounts: Throttle,
    /// Sources (account and network) a login succeeded from within [`KNOWN_SOURCE_FOR`]:
    /// not held to [`Users::accounts`]' ceiling, so that failures from elsewhere cannot lock
    /// the owner out where they usually log in from.
    pub(super) known_sources: Throttle,
    /// Sources one site (an IPv4 address, an IPv6 /48) made known in the last day, at most
    /// [`KNOWN_SOURCES_PER_SITE`]:
    /// [`Users::known_sources`] keeps `auth.throttle_max_keys` of them, oldest out first, so
    /// one address that registers and logs in to many accounts could otherwise push every
    /// owner's known sources out.
    pub(super) sources_made_known: Throttle,
    pub(super) ips: Throttle,
    pub(super) max_sessions: usize,
    /// Expired sessions removed by [`Users::prune_sessions`].
    pub(super) sessions_pruned: Counter,
    /// Old-password checks of password changes: per user and session for one's own (a stolen
    /// token must not allow unlimited guessing, nor lock out the owner's other sessions), per
    /// user for an admin's on another account (a new session brings no new guesses); kept
    /// apart from logins so failed logins do not block a change.
    pub(super) password_checks: Throttle,
    /// Address changes per account a day, at most [`ADDRESS_CHANGES_PER_DAY`]: each tells the
    /// address it had, so without a bound one account could mail any two addresses back and
    /// forth at the rate the store commits, without a password hash.
    pub(super) address_changes: Throttle,
    /// Verified against when the user does not exist, so both cases take as long.
    pub(super) dummy_hash: String,
    /// Woken after a commit, so the outbox relay publishes at once.
    wake: Arc<tokio::sync::Notify>,
}

/// How long a source a login succeeded from stays known ([`Users::known_sources`]).
pub(super) const KNOWN_SOURCE_FOR: Duration = Duration::from_secs(30 * 86_400);

/// How many sources one site (an IPv4 address, an IPv6 /48: a /64 each would cost an attacker
/// with a /48 nothing) may make known a day ([`Users::sources_made_known`];
/// [`AuthLimits::known_per_site`]). Past it, its logins succeed as before, but their sources
/// are not remembered: an office behind one address whose hundred-and-first user logs in
/// today keeps that user held to the account's ceiling. Pushing out 100,000 known sources
/// from one address or one /48 then takes 1,000 days.
pub(super) const KNOWN_SOURCES_PER_SITE: usize = 100;

/// How many times a day one account's e-mail address may change ([`Users::address_changes`]),
/// counted per instance; a change in case only is no change.
pub(super) const ADDRESS_CHANGES_PER_DAY: usize = 5;

/// A day.
const DAY: Duration = Duration::from_secs(86_400);

pub(super) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub(super) fn user_key(id: Uuid) -> [u8; 16] {
    *id.as_bytes()
}

impl Users {
    /// The service over `store`, writing events to `events_topic` as `producer_id`.
    pub fn new(
        store: Arc<dyn Store>,
        producer_id: u64,
        events_topic: &str,
        session_ttl: Duration,
    ) -> Result<Self> {
        Ok(Self {
            store,
            producer_id,
            events_topic: events_topic.to_owned(),
            content_type: ContentType::Postcard,
            session_ttl,
            account_sources: Throttle::new(0, Duration::ZERO, 1),
            accounts: Throttle::new(0, Duration::ZERO, 1),
            known_sources: Throttle::new(0, Duration::ZERO, 1),
            sources_made_known: Throttle::new(0, Duration::ZERO, 1),
            ips: Throttle::new(0, Duration::ZERO, 1),
            password_checks: Throttle::new(0, Duration::ZERO, 1),
            address_changes: Throttle::new(0, Duration::ZERO, 1),
            max_sessions: 1,
            sessions_pruned: Counter::default(),
            dummy_hash: auth::unmatchable_hash()?,
            wake: Arc::new(tokio::sync::Notify::new()),
        }
        .with_limits(&AuthLimits::default()))
    }

    /// The same service with other throttling and session bounds.
    pub fn with_limits(mut self, l: &AuthLimits) -> Self {
        let throttle = |limit| Throttle::new(limit, l.window, l.max_keys);
        self.account_sources = throttle(l.per_source);
        self.accounts = throttle(l.per_account);
        self.known_sources = Throttle::new(1, KNOWN_SOURCE_FOR, l.max_keys);
        self.sources_made_known = Throttle::new(l.known_per_site, DAY, l.max_keys);
        self.ips = throttle(l.per_ip);
        self.password_checks = throttle(l.per_source);
        self.address_changes = Throttle::new(ADDRESS_CHANGES_PER_DAY, DAY, l.max_keys);
        self.max_sessions = l.max_sessions.max(1);
        self
    }

    /// Writes event values in `encoding` (`[events] encoding`) instead of postcard.
    pub fn with_encoding(mut self, encoding: ContentType) -> Self {
        self.content_type = encoding;
        self
    }

    /// Wakes `wake` after every committed change (the outbox relay's wake-up).
    pub fn with_wake(mut self, wake: Arc<tokio::sync::Notify>) -> Self {
        self.wake = wake;
        self
    }

    /// Runs `f` in a write transaction; wakes the outbox relay once it committed.
    pub(super) fn write<T>(&self, f: impl FnMut(&mut dyn WriteTxn) -> Result<T>) -> Result<T> {
        let value = self.store.write_with(f)?;
        self.wake.notify_one();
        Ok(value)
    }

    /// Runs `f` in a read transaction (a consistent snapshot).
    pub(super) fn read<T>(&self, f: impl FnMut(&dyn ReadTxn) -> Result<T>) -> Result<T> {
        self.store.read_with(f)
    }

    /// Writes the event of a change into the outbox, in the change's transaction.
    pub(super) fn emit(
        &self,
        txn: &mut dyn WriteTxn,
        user_id: Uuid,
        data: EventData,
        ctx: &RequestCtx,
    ) -> Result<()> {
        let sequence = outbox::next_event_sequence(txn)?;
        let event = Envelope {
            version: DATA_VERSION,
            id: Uuid::now_v7(),
            user_id,
            occurred_at: Envelope::truncate_time(Utc::now()),
            request_id: ctx.request_id.clone(),
            producer_id: self.producer_id,
            sequence,
            data,
        };
        let rec = event.encode(self.content_type)?;
        outbox::append(
            txn,
            &OutboxRecord {
                topic: self.events_topic.clone(),
                key: Some(rec.key),
                value: rec.value,
                headers: rec.headers,
                created_ms: now_ms(),
            },
        )?;
        Ok(())
    }

    /// The user `id`, or [`UserError::NotFound`].
    pub(super) fn get_user(txn: &dyn ReadTxn, id: Uuid) -> Result<User> {
        store::get(txn, Table::Users, &user_key(id))?.ok_or(UserError::NotFound)
    }

    pub(super) fn put_user(txn: &mut dyn WriteTxn, user: &User) -> Result<()> {
        Ok(store::put(txn, Table::Users, &user_key(user.id), user)?)
    }
}
