//! Accounts coming and going: registering (which also opens the first session) and deleting,
//! each with its unique-name indexes kept in step in the same transaction.
use uuid::Uuid;

use super::{
    Result, Role, User, UserError, auth,
    core::{Caller, RequestCtx, Users, may_act_on, now_ms, user_key},
    hashing_pool, validate,
};
use crate::{
    event::{Deleted, EventData, Registered, UserStatus},
    store::{ReadTxn, Table},
};

impl Users {
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

    /// Creates an account with `role` (inputs already validated) and its first session.
    pub(super) fn create(
        &self,
        username: &str,
        email: &str,
        password: &str,
        role: Role,
        ctx: &RequestCtx,
    ) -> Result<(User, String, i64)> {
        let (name_key, email_key) = (super::lookup_key(username), super::lookup_key(email));
        // A name or address already taken is refused before the hash: a registration sure to
        // be refused costs no argon2, so it cannot keep the hashing pool busy for nothing. The
        // write below asks again, for one taken meanwhile.
        self.read(|txn| Self::names_free(txn, &name_key, &email_key))?;
        let password_hash = auth::hash_with(hashing_pool::client_ticket(ctx)?, password)?;
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
        let (token, expires) = self.write(|txn| {
            if !txn.is_free(Table::Usernames, name_key.as_bytes())? {
                return Err(UserError::Conflict { field: "username" });
            }
            if !txn.is_free(Table::Emails, email_key.as_bytes())? {
                return Err(UserError::Conflict { field: "email" });
            }
            Self::put_user(txn, &user)?;
            txn.put(Table::Usernames, name_key.as_bytes(), user.id.as_bytes())?;
            txn.put(Table::Emails, email_key.as_bytes(), user.id.as_bytes())?;
            let session = self.new_session(txn, user.id)?;
            let data = EventData::Registered(Registered {
                username: user.username.clone(),
                email: user.email.clone(),
            });
            self.emit(txn, user.id, data, ctx)?;
            Ok(session)
        })?;
        Ok((user, token, expires))
    }

    /// Refuses with [`UserError::Conflict`] a name or address (by their lookup keys) that
    /// `txn` finds taken; the name is reported when both are.
    fn names_free(txn: &dyn ReadTxn, name_key: &str, email_key: &str) -> Result<()> {
        let keys = [
            (Table::Usernames, name_key.as_bytes()),
            (Table::Emails, email_key.as_bytes()),
        ];
        txn.read_ahead(&keys)?;
        for ((table, key), field) in keys.into_iter().zip(["username", "email"]) {
            if txn.get(table, key)?.is_some() {
                return Err(UserError::Conflict { field });
            }
        }
        Ok(())
    }

    /// Deletes the user, its indexes and sessions (the user itself or an admin).
    pub fn delete(&self, caller: &Caller, id: Uuid, ctx: &RequestCtx) -> Result<()> {
        if !caller.may_act_on(id) {
            return Err(UserError::Forbidden);
        }
        self.write(|txn| {
            let me = Self::recheck(txn, caller)?;
            if !may_act_on(&me, id) {
                return Err(UserError::Forbidden);
            }
            // As for disabling: nobody might be left to administer, and the start would not
            // make the configured admin again once another account took its freed name.
            if id == me.id && me.role == Role::Admin {
                return Err(UserError::Invalid {
                    field: "id",
                    message: "an admin cannot delete their own account".to_owned(),
                });
            }
            let user = Self::get_user(txn, id)?;
            txn.delete(Table::Users, &user_key(id))?;
            txn.delete(
                Table::Usernames,
                super::lookup_key(&user.username).as_bytes(),
            )?;
            txn.delete(Table::Emails, super::lookup_key(&user.email).as_bytes())?;
            self.revoke_sessions(txn, id, None)?;
            // The row is gone when the notification is written: the event carries the address.
            let data = EventData::Deleted(Deleted {
                deleted_by: me.id,
                email: Some(user.email.clone()),
            });
            self.emit(txn, id, data, ctx)
        })
    }
}

#[cfg(test)]
mod tests;
