//! Logging in with a user name or e-mail address. An unknown user and a wrong password answer
//! the same after the same work (an argon2 check and a durable write), so neither the answer
//! nor its timing tells whether an account exists; failures are throttled per account and IP.
use uuid::Uuid;

use super::{
    Result, User, UserError, auth,
    service::{RequestCtx, Users, now_ms, user_key},
};
use crate::{
    event::{EventData, LoggedIn, UserStatus},
    store::{self, Table},
};

impl Users {
    /// The user a login names, by e-mail address if it has an `@`, else by user name.
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
            self.write(|_| Ok(()))?;
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
            self.write(|txn| self.emit(txn, user.id, attempt(false), ctx))?;
            return Err(UserError::Unauthorized);
        }
        self.accounts.clear(&account);
        self.ips.succeeded(&ctx.ip);
        if user.status != UserStatus::Active {
            return Err(UserError::Forbidden);
        }
        self.write(|txn| {
            let mut fresh = Self::get_user(txn, user.id)?;
            fresh.last_login_ms = Some(now_ms());
            Self::put_user(txn, &fresh)?;
            let (token, expires) = self.new_session(txn, fresh.id)?;
            self.emit(txn, fresh.id, attempt(true), ctx)?;
            Ok((fresh, token, expires))
        })
    }
}

#[cfg(test)]
mod tests;
