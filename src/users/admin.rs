//! What only an administrator does: the first admin account (from configuration, at start)
//! and account statuses; disabling or locking an account ends all its sessions at once.
use uuid::Uuid;

use super::{
    Result, Role, User, UserError,
    core::{Caller, RequestCtx, Users, now_ms},
};
use crate::{
    event::{EventData, StatusChanged, UserStatus},
    store::Table,
};

impl Users {
    /// Creates an admin account unless the user name exists (the first admin, from config).
    pub fn ensure_admin(&self, username: &str, email: &str, password: &str) -> Result<bool> {
        let key = super::lookup_key(username);
        let exists = self.read(|txn| Ok(txn.get(Table::Usernames, key.as_bytes())?.is_some()))?;
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
        self.write(|txn| {
            let me = Self::recheck(txn, caller)?;
            if me.role != Role::Admin {
                return Err(UserError::Forbidden);
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
