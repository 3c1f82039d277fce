//! What a user (or an admin on their behalf) reads and changes of an account: the profile
//! fields and the password. Only changed fields go into the event; an account changes its own
//! address at most [`super::core::ADDRESS_CHANGES_PER_DAY`] times a day
//! ([`super::address_changes`]); a password change ends
//! every other session of the user. Who the caller is and the old password are checked again
//! inside the write ([`Users::recheck`], the hash unchanged), so of concurrent changes with one
//! old password exactly one succeeds.
use uuid::Uuid;

use super::{
    Result, User, UserError,
    address_changes::AddressChange,
    auth,
    core::{Caller, RequestCtx, Users, may_act_on, now_ms},
    hashing_pool, validate,
};
use crate::{
    event::{EventData, PasswordChanged, Updated},
    store::{Table, WriteTxn},
};

/// An update that changes nothing.
const UNCHANGED: Updated = Updated {
    nickname: None,
    email: None,
    avatar_url: None,
    previous_email: None,
};

impl Users {
    /// A user, as the caller may see it (self or admin).
    pub fn get(&self, caller: &Caller, id: Uuid) -> Result<User> {
        if !caller.may_act_on(id) {
            return Err(UserError::Forbidden);
        }
        self.read(|txn| Self::get_user(txn, id))
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
        let address = AddressChange::new(&self.address_changes, caller, id);
        if let Some(e) = email {
            // Counted before the write, so that concurrent changes cannot all pass, and inside
            // it when the address it reads is another (changed meanwhile).
            let current = self.read(|txn| Self::get_user(txn, id))?;
            if AddressChange::differs(&current.email, e) {
                address.count()?;
            }
        }
        let written = self.write(|txn| {
            address.made(false);
            if !may_act_on(&Self::recheck(txn, caller)?, id) {
                return Err(UserError::Forbidden);
            }
            let mut user = Self::get_user(txn, id)?;
            let mut changed = UNCHANGED;
            if let Some(n) = nickname.filter(|n| user.nickname.as_deref() != Some(*n)) {
                user.nickname = Some(n.to_owned());
                changed.nickname = Some(n.to_owned());
            }
            if let Some(a) = avatar_url.filter(|a| user.avatar_url.as_deref() != Some(*a)) {
                user.avatar_url = Some(a.to_owned());
                changed.avatar_url = Some(a.to_owned());
            }
            // Addresses are told apart by their lower-case key (full Unicode, as the index
            // stores them): a change in case only keeps the key, so it is no conflict with
            // oneself and moves no index entry, but the new spelling is stored.
            let old_key = super::lookup_key(&user.email);
            if let Some(e) = email.filter(|e| *e != user.email) {
                let key = super::lookup_key(e);
                if key != old_key {
                    address.count()?;
                    if txn.get(Table::Emails, key.as_bytes())?.is_some() {
                        return Err(UserError::Conflict { field: "email" });
                    }
                    txn.delete(Table::Emails, old_key.as_bytes())?;
                    txn.put(Table::Emails, key.as_bytes(), user.id.as_bytes())?;
                    address.made(true);
                }
                // Where the notice of the change goes: a token thief who moves the account to
                // an address of theirs is seen by the owner.
                changed.previous_email = Some(std::mem::replace(&mut user.email, e.to_owned()));
                changed.email = Some(e.to_owned());
            }
            if changed != UNCHANGED {
                user.updated_ms = now_ms();
                Self::put_user(txn, &user)?;
                self.emit(txn, id, EventData::Updated(changed), ctx)?;
            }
            Ok(user)
        });
        address.settle(written.is_ok());
        written
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
        // A place for the old password's check before the throttle counts it (503 when the
        // hashing pool is full).
        let ticket = hashing_pool::client_ticket(ctx)?;
        let user = self.get(caller, id)?;
        // Guessing the old password with a stolen token is throttled like logins, per account
        // and session: a thief's guesses lock out the stolen session, not the owner's change
        // from another one. An admin's guesses at another account's password count per
        // account whatever the session: a new session (a login with the admin's password)
        // brings no new guesses.
        let account = if caller.user.id == id {
            format!("{id}\0{}", auth::hex(&caller.session))
        } else {
            format!("{id}\0others")
        };
        if !self.password_checks.try_attempt(&account) {
            return Err(UserError::Throttled);
        }
        if !auth::verify_password(ticket, old, &user.password_hash)? {
            return Err(UserError::Invalid {
                field: "old_password",
                message: "does not match".into(),
            });
        }
        self.password_checks.clear(&account);
        let new_hash = auth::hash_with(hashing_pool::client_ticket(ctx)?, new)?;
        let keep = (caller.user.id == id).then_some(caller.session);
        self.write(|txn| {
            if !may_act_on(&Self::recheck(txn, caller)?, id) {
                return Err(UserError::Forbidden);
            }
            let fresh = Self::get_user(txn, id)?;
            // Changed since the old one was verified (a concurrent change): it no longer holds.
            if fresh.password_hash != user.password_hash {
                return Err(UserError::Invalid {
                    field: "old_password",
                    message: "does not match".into(),
                });
            }
            let change = PasswordChange {
                hash: &new_hash,
                keep: keep.as_ref(),
                changed_by: caller.user.id,
            };
            self.replace_password(txn, fresh, &change, ctx)
        })
    }

    /// Writes `change` to `user` (as just read in `txn`): the new hash, its other sessions
    /// ended, and the `user.password_changed` event.
    pub(super) fn replace_password(
        &self,
        txn: &mut dyn WriteTxn,
        mut user: User,
        change: &PasswordChange<'_>,
        ctx: &RequestCtx,
    ) -> Result<()> {
        user.password_hash = change.hash.to_owned();
        user.updated_ms = now_ms();
        Self::put_user(txn, &user)?;
        self.revoke_sessions(txn, user.id, change.keep)?;
        let data = EventData::PasswordChanged(PasswordChanged {
            changed_by: change.changed_by,
            ip: ctx.ip.clone(),
        });
        self.emit(txn, user.id, data, ctx)
    }
}

/// A password replaced ([`Users::replace_password`]).
pub(super) struct PasswordChange<'a> {
    /// The new password's hash.
    pub hash: &'a str,
    /// The session that stays, if any (the caller's own, changing its own password).
    pub keep: Option<&'a [u8; 32]>,
    /// Who changed it.
    pub changed_by: Uuid,
}

#[cfg(test)]
mod tests;
