//! Logging in with a user name or e-mail address. An unknown user and a wrong password answer
//! the same after the same work (an argon2 check and a durable commit: on PostgreSQL a
//! transaction id's, [`crate::store::WriteTxn::commit_as_a_write`]), so neither the answer nor
//! its timing tells whether an account exists. Failures are throttled per account and
//! source (an IPv4 address, an IPv6 /64), per account (a higher ceiling, which a source the
//! account logged in from lately is not held to) and per source; a
//! throttled account, and a disabled or locked one, answer exactly like a wrong password, so
//! the answers confirm nothing (which names belong to one account, whether a password is
//! right).
use uuid::Uuid;

use super::{
    Result, User, UserError, auth, client_network_key,
    core::{RequestCtx, Users, now_ms, user_key},
    hashing_pool,
};
use crate::{
    event::{EventData, LoggedIn, UserStatus},
    store::{self, Table, WriteTxn},
};

/// The longest login, in bytes, that can name an account: the longest e-mail address
/// (`EMAIL_MAX_CHARS` characters) in UTF-8, at most 4 bytes a character. A byte bound, so it is
/// checked before the login is scanned.
const MAX_LOGIN: usize = 4 * super::validate::EMAIL_MAX_CHARS;

impl Users {
    /// The user a login names, by e-mail address if it has an `@`, else by user name.
    fn find_login(&self, login: &str) -> Result<Option<User>> {
        let index = if login.contains('@') {
            Table::Emails
        } else {
            Table::Usernames
        };
        let key = super::lookup_key(login);
        self.read(|txn| {
            let Some(id) = txn.get(index, key.as_bytes())? else {
                // The account's read all the same, so that an unknown name costs the reads
                // (on PostgreSQL, the round trips) a known one does.
                store::get::<User>(txn, Table::Users, &user_key(Uuid::nil()))?;
                return Ok(None);
            };
            let id = Uuid::from_slice(&id).map_err(|source| UserError::Corrupt {
                table: index.name(),
                source,
            })?;
            Ok(store::get::<User>(txn, Table::Users, &user_key(id))?)
        })
    }

    /// Logs in with a user name or e-mail address; the user, a new session token and its
    /// expiry. See the module docs.
    pub fn login(
        &self,
        login: &str,
        password: &str,
        ctx: &RequestCtx,
    ) -> Result<(User, String, i64)> {
        // An empty password is no account's: registrations and password changes refuse one.
        // An admin that an older version created with one (an empty
        // `USERCENTER_AUTH_ADMIN_PASSWORD`, logged at ERROR at every start) cannot log in
        // with it. Refused alike for every login, so the answer tells nothing about accounts.
        if password.is_empty() {
            return Err(UserError::Unauthorized);
        }
        // A place for the password check first: a full hashing pool refuses the login (503)
        // before any throttle counts it.
        let ticket = hashing_pool::client_ticket(ctx)?;
        // Per source network (an IPv4 address, an IPv6 /64): tells nothing about any
        // account, so it may say so (429).
        let network = client_network_key(&ctx.ip);
        if !self.ips.try_attempt(&network) {
            return Err(UserError::Throttled);
        }
        let (user, keys) = self.admit(login, &network)?;
        // A stored hash argon2 cannot check (copied from another service) costs the same check
        // against the dummy as an unknown user, and matches nothing: its answer comes no sooner.
        let checkable = (user.as_ref()).is_some_and(|u| auth::is_checkable(&u.password_hash));
        let hash = match &user {
            Some(u) if checkable => u.password_hash.as_str(),
            _ => self.dummy_hash.as_str(),
        };
        let matched = auth::verify_password(ticket, password, hash)? && checkable;
        let Some(user) = user else {
            // Unknown or throttled: the same answer after the same work as a wrong password
            // (an argon2 check and a durable commit), so neither tells anything.
            self.fail_as_a_wrong_password()?;
            return Err(UserError::Unauthorized);
        };
        if !matched {
            if !checkable {
                // Not the client's to know; the operator's: a row copied from another service.
                tracing::warn!(
                    user = %user.id,
                    "login: the account's stored password hash is no argon2 PHC string \
                     (copied from another service?): no password matches it; see \
                     docs/migration.md, Accounts"
                );
            }
            self.fail_a_wrong_password_of(user.id, ctx)?;
            return Err(UserError::Unauthorized);
        }
        if user.status != UserStatus::Active {
            // Not a confirmation of the password: answered, counted and recorded (its failed
            // `user.logged_in`, which the account's failure alerts and security log see) as a
            // wrong one, so neither the answer nor the events tell the two apart.
            self.fail_a_wrong_password_of(user.id, ctx)?;
            return Err(UserError::Unauthorized);
        }
        self.account_sources.clear(&keys.source);
        if keys.counted_account {
            self.accounts.succeeded(&keys.account);
        }
        // Known again for 30 days; a source new to the account counts against its site's
        // daily share (`KNOWN_SOURCES_PER_SITE`).
        if self.known_sources.seen(&keys.source)
            || self
                .sources_made_known
                .try_attempt(&super::client_site_key(&ctx.ip))
        {
            self.known_sources.clear(&keys.source);
            self.known_sources.try_attempt(&keys.source);
        }
        self.ips.succeeded(&network);
        self.start_session(&user, ctx)
    }

    /// The failed login of account `id` with a wrong password: its `user.logged_in` event,
    /// unless the account was deleted while the password was checked. Then no event comes
    /// after its `user.deleted` (whose handler would make the account's state again), and the
    /// write costs the same. The account's row is written back unchanged: on PostgreSQL a
    /// deletion committed after this read then fails this transaction, which runs again and
    /// finds the account gone, rather than its event being numbered after the deletion's (a
    /// transaction that only read the row would commit after it unhindered).
    pub(super) fn fail_a_wrong_password_of(&self, id: Uuid, ctx: &RequestCtx) -> Result<()> {
        self.write(|txn| match Self::get_user(txn, id) {
            Err(UserError::NotFound) => Self::as_a_wrong_password(txn),
            read => {
                Self::put_user(txn, &read?)?;
                self.emit(txn, id, logged_in(ctx, false), ctx)
            }
        })
    }

    /// The write of a wrong password's failed login without its event: an event sequence
    /// drawn and dropped (a gap, as an aborted write leaves), and a commit that waits for and
    /// pays what an outbox write's does ([`crate::store::WriteTxn::commit_as_a_write`]).
    fn fail_as_a_wrong_password(&self) -> Result<()> {
        self.write(|txn| {
            // The read of an account a wrong password's write makes (a round trip of its own
            // on PostgreSQL), of a row no account has.
            store::get::<User>(txn, Table::Users, &user_key(Uuid::nil()))?;
            Self::as_a_wrong_password(txn)
        })
    }

    /// In `txn`, what [`Self::fail_as_a_wrong_password`] writes.
    fn as_a_wrong_password(txn: &mut dyn WriteTxn) -> Result<()> {
        crate::outbox::next_event_sequence(txn)?;
        Ok(txn.commit_as_a_write()?)
    }

    /// The user `login` names, unless the account's throttles refuse this attempt (then
    /// `None`, as for an unknown user); and the throttle keys of the attempt.
    fn admit(&self, login: &str, network: &str) -> Result<(Option<User>, ThrottleKeys)> {
        // Longer than any user name or e-mail address, or holding a NUL (which neither may
        // hold, and PostgreSQL refuses in text): no account has it; it is neither looked up
        // nor kept (one shared throttle key).
        let nameable = login.len() <= MAX_LOGIN && !login.contains('\0');
        let user = if nameable {
            self.find_login(login)?
        } else {
            None
        };
        // Per account, however it is named (user name or e-mail address): per source, so one
        // source cannot lock the owner out, under a higher ceiling from everywhere.
        // An account's id and a login name are kept apart: a login that spells a user's id
        // names no account (user names are shorter), and must not count against that one.
        let account = match (&user, nameable) {
            (Some(u), _) => format!("id\0{}", u.id),
            (None, true) => format!("name\0{}", super::lookup_key(login)),
            (None, false) => "\0no account's name".to_owned(),
        };
        let source = format!("{account}\0{network}");
        // A source the account logged in from lately is not held to the ceiling from
        // everywhere: failures from elsewhere cannot lock the owner out there.
        let known = self.known_sources.seen(&source);
        let admitted = self.account_sources.try_attempt(&source)
            && (known || self.accounts.try_attempt(&account) || {
                self.account_sources.succeeded(&source);
                false
            });
        let user = user.filter(|_| admitted);
        let keys = ThrottleKeys {
            account,
            source,
            counted_account: admitted && !known,
        };
        Ok((user, keys))
    }

    /// The successful login of `verified` (the row whose password hash the password matched),
    /// if the account is still active under that password: its last login time, a new session
    /// and the event, in one transaction. A password changed since the check refuses it, as
    /// the change revoked every session: a login racing a change gets no session the change
    /// missed. An account deleted since is refused the same way, not reported missing.
    pub(super) fn start_session(
        &self,
        verified: &User,
        ctx: &RequestCtx,
    ) -> Result<(User, String, i64)> {
        self.write(|txn| {
            let mut fresh = match Self::get_user(txn, verified.id) {
                Err(UserError::NotFound) => return Err(UserError::Unauthorized),
                read => read?,
            };
            if fresh.status != UserStatus::Active || fresh.password_hash != verified.password_hash {
                return Err(UserError::Unauthorized);
            }
            fresh.last_login_ms = Some(now_ms());
            Self::put_user(txn, &fresh)?;
            let (token, expires) = self.new_session(txn, fresh.id)?;
            self.emit(txn, fresh.id, logged_in(ctx, true), ctx)?;
            Ok((fresh, token, expires))
        })
    }
}

/// The keys a login attempt counts under: the account's, and the account's from this
/// source IP.
struct ThrottleKeys {
    account: String,
    source: String,
    /// Whether the attempt was counted against the account's ceiling.
    counted_account: bool,
}

/// The `user.logged_in` event of an attempt from `ctx`.
fn logged_in(ctx: &RequestCtx, success: bool) -> EventData {
    EventData::LoggedIn(LoggedIn {
        ip: ctx.ip.clone(),
        user_agent: ctx.user_agent.clone(),
        success,
    })
}

#[cfg(test)]
mod tests;
