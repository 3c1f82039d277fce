//! The user operations. Each mutation: checks, then ONE store transaction with the user rows,
//! the sessions, and the event in the outbox.
use std::{sync::Arc, time::Duration};

use chrono::Utc;
use uuid::Uuid;

use super::{Result, Role, Session, Throttle, User, UserError, auth, validate};
use crate::{
    event::{
        ContentType, DATA_VERSION, Deleted, Envelope, EventData, LoggedIn, PasswordChanged,
        Registered, StatusChanged, Updated, UserStatus,
    },
    outbox::{self, OutboxRecord},
    store::{self, ReadTxn, Store, StoreError, Table, WriteTxn},
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
    fn may_act_on(&self, id: Uuid) -> bool {
        self.user.id == id || self.user.role == Role::Admin
    }
}

/// The user service.
#[derive(Debug)]
pub struct Users {
    store: Arc<dyn Store>,
    producer_id: u64,
    events_topic: String,
    content_type: ContentType,
    session_ttl: Duration,
    accounts: Throttle,
    ips: Throttle,
    /// Old-password checks of password changes, per user (a stolen token must not allow
    /// unlimited guessing; kept apart from logins so failed logins do not block a change).
    password_checks: Throttle,
    /// Verified against when the user does not exist, so both cases take as long.
    dummy_hash: String,
    /// Woken after a commit, so the outbox relay publishes at once.
    wake: Arc<tokio::sync::Notify>,
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn user_key(id: Uuid) -> [u8; 16] {
    *id.as_bytes()
}

fn session_index_key(user: Uuid, hash: &[u8; 32]) -> Vec<u8> {
    [user.as_bytes().as_slice(), hash.as_slice()].concat()
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
            accounts: Throttle::new(5, Duration::from_secs(600), 100_000),
            ips: Throttle::new(20, Duration::from_secs(600), 100_000),
            password_checks: Throttle::new(5, Duration::from_secs(600), 100_000),
            dummy_hash: auth::hash_password("not a real password, only for timing")?,
            wake: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Wakes `wake` after every committed change (the outbox relay's wake-up).
    pub fn with_wake(mut self, wake: Arc<tokio::sync::Notify>) -> Self {
        self.wake = wake;
        self
    }

    fn write(&self, f: &mut dyn FnMut(&mut dyn WriteTxn) -> store::Result<()>) -> Result<()> {
        let result = self.store.write(f);
        if result.is_ok() {
            self.wake.notify_one();
        }
        result.map_err(|e| match e {
            StoreError::Conflict { field } => UserError::Conflict { field },
            StoreError::NotFound(_) => UserError::NotFound,
            e => UserError::Store(e),
        })
    }

    fn read<T>(&self, f: impl Fn(&dyn ReadTxn) -> store::Result<T>) -> Result<T> {
        let mut out = None;
        self.store.read(&mut |txn| {
            out = Some(f(txn)?);
            Ok(())
        })?;
        out.ok_or(UserError::NotFound)
    }

    /// Writes the event of a change into the outbox, in the change's transaction.
    fn emit(
        &self,
        txn: &mut dyn WriteTxn,
        user_id: Uuid,
        data: EventData,
        ctx: &RequestCtx,
    ) -> store::Result<()> {
        let sequence = outbox::next_event_sequence(txn)?;
        let event = Envelope {
            version: DATA_VERSION,
            id: Uuid::new_v4(),
            user_id,
            occurred_at: Envelope::truncate_time(Utc::now()),
            request_id: ctx.request_id.clone(),
            producer_id: self.producer_id,
            sequence,
            data,
        };
        let rec = event
            .encode(self.content_type)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
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

    fn new_session(&self, txn: &mut dyn WriteTxn, user: Uuid) -> store::Result<(String, i64)> {
        let token = auth::new_token().map_err(|e| StoreError::Backend(e.to_string()))?;
        let hash = auth::token_hash(&token);
        let now = now_ms();
        let expires_ms = now + self.session_ttl.as_millis() as i64;
        store::put(
            txn,
            Table::Sessions,
            &hash,
            &Session {
                user_id: user,
                created_ms: now,
                expires_ms,
            },
        )?;
        txn.put(Table::UserSessions, &session_index_key(user, &hash), &[])?;
        Ok((token, expires_ms))
    }

    /// Removes every session of `user` except `keep`.
    fn revoke_sessions(
        &self,
        txn: &mut dyn WriteTxn,
        user: Uuid,
        keep: Option<&[u8; 32]>,
    ) -> store::Result<()> {
        let prefix = user.as_bytes().to_vec();
        loop {
            let rows = txn.range_from(Table::UserSessions, &prefix, 256)?;
            let mine: Vec<Vec<u8>> = rows
                .into_iter()
                .map(|(k, _)| k)
                .filter(|k| k.starts_with(&prefix))
                .filter(|k| keep.is_none_or(|h| &k[16..] != h.as_slice()))
                .collect();
            if mine.is_empty() {
                return Ok(());
            }
            for k in mine {
                txn.delete(Table::Sessions, &k[16..])?;
                txn.delete(Table::UserSessions, &k)?;
            }
            if keep.is_some() {
                // The kept session sorts among the others; one more pass finds none to remove.
                let left = txn.range_from(Table::UserSessions, &prefix, 2)?;
                if left.iter().filter(|(k, _)| k.starts_with(&prefix)).count() <= 1 {
                    return Ok(());
                }
            }
        }
    }

    fn get_user(txn: &dyn ReadTxn, id: Uuid) -> store::Result<User> {
        store::get(txn, Table::Users, &user_key(id))?.ok_or(StoreError::NotFound("user"))
    }

    fn put_user(txn: &mut dyn WriteTxn, user: &User) -> store::Result<()> {
        store::put(txn, Table::Users, &user_key(user.id), user)
    }

    /// Registers a user; returns it with a first session token and its expiry.
    pub fn register(
        &self,
        username: &str,
        email: &str,
        password: &str,
        ctx: &RequestCtx,
    ) -> Result<(User, String, i64)> {
        validate::username(username)?;
        validate::email(email)?;
        validate::password("password", password)?;
        self.create(username, email, password, Role::User, ctx)
    }

    fn create(
        &self,
        username: &str,
        email: &str,
        password: &str,
        role: Role,
        ctx: &RequestCtx,
    ) -> Result<(User, String, i64)> {
        let password_hash = auth::hash_password(password)?;
        let now = now_ms();
        let user = User {
            id: Uuid::new_v4(),
            username: username.to_owned(),
            email: email.to_owned(),
            nickname: None,
            avatar_url: None,
            status: UserStatus::Active,
            role,
            password_hash,
            created_ms: now,
            updated_ms: now,
            last_login_ms: None,
        };
        let (name_key, email_key) = (username.to_lowercase(), email.to_lowercase());
        let mut session = None;
        self.write(&mut |txn| {
            if txn.get(Table::Usernames, name_key.as_bytes())?.is_some() {
                return Err(StoreError::Conflict { field: "username" });
            }
            if txn.get(Table::Emails, email_key.as_bytes())?.is_some() {
                return Err(StoreError::Conflict { field: "email" });
            }
            Self::put_user(txn, &user)?;
            txn.put(Table::Usernames, name_key.as_bytes(), user.id.as_bytes())?;
            txn.put(Table::Emails, email_key.as_bytes(), user.id.as_bytes())?;
            session = Some(self.new_session(txn, user.id)?);
            let data = EventData::Registered(Registered {
                username: user.username.clone(),
                email: user.email.clone(),
            });
            self.emit(txn, user.id, data, ctx)
        })?;
        let (token, expires) = session.ok_or(UserError::NotFound)?;
        Ok((user, token, expires))
    }

    /// Creates an admin account unless the user name exists (the first admin, from config).
    pub fn ensure_admin(&self, username: &str, email: &str, password: &str) -> Result<bool> {
        let exists = self.read(|txn| {
            Ok(txn
                .get(Table::Usernames, username.to_lowercase().as_bytes())?
                .is_some())
        })?;
        if exists {
            return Ok(false);
        }
        let ctx = RequestCtx {
            request_id: "bootstrap-admin".into(),
            ..Default::default()
        };
        self.create(username, email, password, Role::Admin, &ctx)
            .map(|_| true)
    }

    fn find_login(&self, login: &str) -> Result<Option<User>> {
        let index = if login.contains('@') {
            Table::Emails
        } else {
            Table::Usernames
        };
        let key = login.to_lowercase();
        self.read(|txn| {
            let Some(id) = txn.get(index, key.as_bytes())? else {
                return Ok(None);
            };
            let id = Uuid::from_slice(&id).map_err(|e| StoreError::Backend(e.to_string()))?;
            store::get::<User>(txn, Table::Users, &user_key(id))
        })
    }

    /// Logs in with a user name or e-mail address. Unknown user and wrong password answer the
    /// same, after the same work; failures are throttled per account and per IP.
    pub fn login(
        &self,
        login: &str,
        password: &str,
        ctx: &RequestCtx,
    ) -> Result<(User, String, i64)> {
        if !self.ips.try_attempt(&ctx.ip) {
            return Err(UserError::Throttled);
        }
        let user = self.find_login(login)?;
        // Per account: the user, however it is named (user name or e-mail address).
        let account = user
            .as_ref()
            .map_or_else(|| login.to_lowercase(), |u| u.id.to_string());
        if !self.accounts.try_attempt(&account) {
            return Err(UserError::Throttled);
        }
        let hash = user
            .as_ref()
            .map_or(self.dummy_hash.as_str(), |u| u.password_hash.as_str());
        let ok = auth::verify_password(password, hash) && user.is_some();
        let Some(user) = user else {
            // The same work as a wrong password for a real user (a durable write), so timing
            // does not tell whether the user exists.
            self.write(&mut |_| Ok(()))?;
            return Err(UserError::Unauthorized);
        };
        let attempt = |success| {
            EventData::LoggedIn(LoggedIn {
                ip: ctx.ip.clone(),
                user_agent: ctx.user_agent.clone(),
                success,
            })
        };
        if !ok {
            self.write(&mut |txn| self.emit(txn, user.id, attempt(false), ctx))?;
            return Err(UserError::Unauthorized);
        }
        self.accounts.clear(&account);
        self.ips.succeeded(&ctx.ip);
        if user.status != UserStatus::Active {
            return Err(UserError::Forbidden);
        }
        let mut out = None;
        self.write(&mut |txn| {
            let mut fresh = Self::get_user(txn, user.id)?;
            fresh.last_login_ms = Some(now_ms());
            Self::put_user(txn, &fresh)?;
            let (token, expires) = self.new_session(txn, fresh.id)?;
            self.emit(txn, fresh.id, attempt(true), ctx)?;
            out = Some((fresh, token, expires));
            Ok(())
        })?;
        out.ok_or(UserError::NotFound)
    }

    /// The caller behind a bearer token: a live session of an active user.
    pub fn authenticate(&self, token: &str) -> Result<Caller> {
        let hash = auth::token_hash(token);
        let found = self.read(|txn| {
            let Some(session) = store::get::<Session>(txn, Table::Sessions, &hash)? else {
                return Ok(None);
            };
            if session.expires_ms <= now_ms() {
                return Ok(None);
            }
            store::get::<User>(txn, Table::Users, &user_key(session.user_id))
        })?;
        match found {
            Some(user) if user.status == UserStatus::Active => Ok(Caller {
                user,
                session: hash,
            }),
            _ => Err(UserError::Unauthorized),
        }
    }

    /// A user, as the caller may see it (self or admin).
    pub fn get(&self, caller: &Caller, id: Uuid) -> Result<User> {
        if !caller.may_act_on(id) {
            return Err(UserError::Forbidden);
        }
        self.read(|txn| Self::get_user(txn, id))
            .map_err(|e| match e {
                UserError::Store(StoreError::NotFound(_)) => UserError::NotFound,
                e => e,
            })
    }

    /// Changes profile fields; only changed fields go into the event.
    pub fn update(
        &self,
        caller: &Caller,
        id: Uuid,
        nickname: Option<&str>,
        email: Option<&str>,
        avatar_url: Option<&str>,
        ctx: &RequestCtx,
    ) -> Result<User> {
        if !caller.may_act_on(id) {
            return Err(UserError::Forbidden);
        }
        nickname.map(validate::nickname).transpose()?;
        email.map(validate::email).transpose()?;
        avatar_url.map(validate::avatar_url).transpose()?;
        let mut out = None;
        self.write(&mut |txn| {
            let mut user = Self::get_user(txn, id)?;
            let mut changed = Updated {
                nickname: None,
                email: None,
                avatar_url: None,
            };
            if let Some(n) = nickname.filter(|n| user.nickname.as_deref() != Some(*n)) {
                user.nickname = Some(n.to_owned());
                changed.nickname = Some(n.to_owned());
            }
            if let Some(a) = avatar_url.filter(|a| user.avatar_url.as_deref() != Some(*a)) {
                user.avatar_url = Some(a.to_owned());
                changed.avatar_url = Some(a.to_owned());
            }
            if let Some(e) = email.filter(|e| !e.eq_ignore_ascii_case(&user.email)) {
                let key = e.to_lowercase();
                if txn.get(Table::Emails, key.as_bytes())?.is_some() {
                    return Err(StoreError::Conflict { field: "email" });
                }
                txn.delete(Table::Emails, user.email.to_lowercase().as_bytes())?;
                txn.put(Table::Emails, key.as_bytes(), user.id.as_bytes())?;
                user.email = e.to_owned();
                changed.email = Some(e.to_owned());
            }
            if changed
                != (Updated {
                    nickname: None,
                    email: None,
                    avatar_url: None,
                })
            {
                user.updated_ms = now_ms();
                Self::put_user(txn, &user)?;
                self.emit(txn, id, EventData::Updated(changed.clone()), ctx)?;
            }
            out = Some(user);
            Ok(())
        })?;
        out.ok_or(UserError::NotFound)
    }

    /// Changes the password (the old one must match, also for admins acting on themselves);
    /// every other session of the user is revoked, the caller's stays.
    pub fn change_password(
        &self,
        caller: &Caller,
        id: Uuid,
        old: &str,
        new: &str,
        ctx: &RequestCtx,
    ) -> Result<()> {
        if !caller.may_act_on(id) {
            return Err(UserError::Forbidden);
        }
        validate::password("new_password", new)?;
        let user = self.get(caller, id)?;
        // Guessing the old password with a stolen token is throttled like logins.
        let account = id.to_string();
        if !self.password_checks.try_attempt(&account) {
            return Err(UserError::Throttled);
        }
        if !auth::verify_password(old, &user.password_hash) {
            return Err(UserError::Invalid {
                field: "old_password",
                message: "does not match".into(),
            });
        }
        self.password_checks.clear(&account);
        let new_hash = auth::hash_password(new)?;
        let keep = (caller.user.id == id).then_some(caller.session);
        self.write(&mut |txn| {
            let mut fresh = Self::get_user(txn, id)?;
            fresh.password_hash = new_hash.clone();
            fresh.updated_ms = now_ms();
            Self::put_user(txn, &fresh)?;
            self.revoke_sessions(txn, id, keep.as_ref())?;
            let data = EventData::PasswordChanged(PasswordChanged {
                changed_by: caller.user.id,
                ip: ctx.ip.clone(),
            });
            self.emit(txn, id, data, ctx)
        })
    }

    /// Sets the status (admins only); disabling or locking revokes every session.
    pub fn change_status(
        &self,
        caller: &Caller,
        id: Uuid,
        status: UserStatus,
        ctx: &RequestCtx,
    ) -> Result<User> {
        if caller.user.role != Role::Admin {
            return Err(UserError::Forbidden);
        }
        let mut out = None;
        self.write(&mut |txn| {
            let mut user = Self::get_user(txn, id)?;
            let from = user.status;
            if from != status {
                user.status = status;
                user.updated_ms = now_ms();
                Self::put_user(txn, &user)?;
                if status != UserStatus::Active {
                    self.revoke_sessions(txn, id, None)?;
                }
                let data = EventData::StatusChanged(StatusChanged {
                    from,
                    to: status,
                    changed_by: caller.user.id,
                });
                self.emit(txn, id, data, ctx)?;
            }
            out = Some(user);
            Ok(())
        })?;
        out.ok_or(UserError::NotFound)
    }

    /// Deletes the user, its indexes and sessions.
    pub fn delete(&self, caller: &Caller, id: Uuid, ctx: &RequestCtx) -> Result<()> {
        if !caller.may_act_on(id) {
            return Err(UserError::Forbidden);
        }
        self.write(&mut |txn| {
            let user = Self::get_user(txn, id)?;
            txn.delete(Table::Users, &user_key(id))?;
            txn.delete(Table::Usernames, user.username.to_lowercase().as_bytes())?;
            txn.delete(Table::Emails, user.email.to_lowercase().as_bytes())?;
            self.revoke_sessions(txn, id, None)?;
            let data = EventData::Deleted(Deleted {
                deleted_by: caller.user.id,
            });
            self.emit(txn, id, data, ctx)
        })
    }
}

#[cfg(test)]
#[path = "ops_tests.rs"]
mod tests;
