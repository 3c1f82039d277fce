//! What only an administrator does: the first admin account (from configuration, at start)
//! and account statuses; disabling or locking an account ends all its sessions at once.
use uuid::Uuid;

use super::{
    Result, Role, User, UserError, auth,
    client_gone::ClientGone,
    core::{Caller, RequestCtx, Users, now_ms},
    hashing_pool,
    profile::PasswordChange,
    validate,
};
use crate::{
    event::{EventData, StatusChanged, UserStatus},
    store::Table,
};

/// What became of the first admin account the configuration names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstAdmin {
    /// It was created now.
    Created,
    /// An admin of that user name exists (created at an earlier start, or by another instance
    /// starting at the same time).
    Present,
    /// The user name belongs to an account that is not an admin: none was created.
    NameTaken,
    /// The e-mail address belongs to another account: none was created.
    EmailTaken,
    /// An admin of that user name exists, and its password is empty (an earlier version
    /// created it from an empty variable), as is the configured one: it cannot log in (an
    /// empty password never does) until `auth.admin_password` is set.
    EmptyPassword,
    /// An admin of that user name existed with an empty password: it was set to the
    /// configured one now, and its sessions ended.
    PasswordSet,
}

impl Users {
    /// Creates the first admin account (from config) unless its user name exists. An account
    /// of that name or e-mail address that someone else holds is said, not an error: the
    /// service starts either way (it would otherwise fail at every start, and any user who
    /// registered the address first could keep it from starting). Fields that a registration
    /// would refuse (an empty password from `USERCENTER_AUTH_ADMIN_PASSWORD` set to nothing, a
    /// name no login finds) are an error naming the setting when the account is to be created;
    /// an admin that exists with an empty password (an earlier version created it from an empty
    /// variable) gets the configured password when there is one, else is said.
    pub fn ensure_admin(&self, username: &str, email: &str, password: &str) -> Result<FirstAdmin> {
        if let Some(existing) = self.by_username(username)? {
            if existing.role == Role::Admin {
                let ticket = hashing_pool::ticket(&ClientGone::default())?;
                if auth::verify_password(ticket, "", &existing.password_hash)? {
                    if password.is_empty() {
                        return Ok(FirstAdmin::EmptyPassword);
                    }
                    validate::password("auth.admin_password", password)?;
                    return self.set_empty_admin_password(&existing, password);
                }
            }
            return Ok(Self::admin_or_not(&existing));
        }
        let setting = |field: &'static str| {
            move |e: UserError| match e {
                UserError::Invalid { message, .. } => UserError::Invalid { field, message },
                other => other,
            }
        };
        validate::username(username).map_err(setting("auth.admin_username"))?;
        validate::email(email).map_err(setting("auth.admin_email"))?;
        validate::password("auth.admin_password", password)?;
        let ctx = RequestCtx {
            request_id: "bootstrap-admin".into(),
            ..Default::default()
        };
        match self.create(username, email, password, Role::Admin, &ctx) {
            Ok(_) => Ok(FirstAdmin::Created),
            // Another instance created an account of that name since the read.
            Err(UserError::Conflict { field: "username" }) => self
                .by_username(username)?
                .map(|u| Self::admin_or_not(&u))
                .ok_or(UserError::Conflict { field: "username" }),
            Err(UserError::Conflict { field: "email" }) => Ok(FirstAdmin::EmailTaken),
            Err(e) => Err(e),
        }
    }

    /// Sets the password of `admin`, found with an empty one, to `password` and ends its
    /// sessions, unless its password changed since it was read.
    fn set_empty_admin_password(&self, admin: &User, password: &str) -> Result<FirstAdmin> {
        let hash = auth::hash_with(hashing_pool::ticket(&ClientGone::default())?, password)?;
        let ctx = RequestCtx {
            request_id: "bootstrap-admin".into(),
            ..Default::default()
        };
        self.write(|txn| {
            let fresh = Self::get_user(txn, admin.id)?;
            if fresh.password_hash != admin.password_hash {
                // Changed meanwhile (by the admin, or another instance starting).
                return Ok(FirstAdmin::Present);
            }
            let change = PasswordChange {
                hash: &hash,
                keep: None,
                changed_by: admin.id,
            };
            self.replace_password(txn, fresh, &change, &ctx)?;
            Ok(FirstAdmin::PasswordSet)
        })
    }

    /// The account whose user name is `username` (in any case).
    fn by_username(&self, username: &str) -> Result<Option<User>> {
        let key = super::lookup_key(username);
        self.read(|txn| {
            let Some(id) = txn.get(Table::Usernames, key.as_bytes())? else {
                return Ok(None);
            };
            let id = Uuid::from_slice(&id).map_err(|source| UserError::Corrupt {
                table: Table::Usernames.name(),
                source,
            })?;
            Ok(Some(Self::get_user(txn, id)?))
        })
    }

    fn admin_or_not(user: &User) -> FirstAdmin {
        if user.role == Role::Admin {
            FirstAdmin::Present
        } else {
            FirstAdmin::NameTaken
        }
    }

    /// Sets the status (admins only); disabling or locking revokes every session. An admin
    /// cannot disable or lock their own account: the last admin would leave nobody who could
    /// set it active again (422).
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
        self.write(|txn| {
            let me = Self::recheck(txn, caller)?;
            if me.role != Role::Admin {
                return Err(UserError::Forbidden);
            }
            if id == me.id && status != UserStatus::Active {
                return Err(UserError::Invalid {
                    field: "status",
                    message: "an admin cannot disable or lock their own account".to_owned(),
                });
            }
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
                    changed_by: me.id,
                });
                self.emit(txn, id, data, ctx)?;
            }
            Ok(user)
        })
    }
}

#[cfg(test)]
mod tests;
