//! Sessions: issued at registration and login, stored under the SHA-256 of their token with an
//! index per user (so a password change or a lock can revoke them), checked on every request.
use uuid::Uuid;

use super::{
    Result, Session, User, UserError, auth,
    service::{Caller, Users, now_ms, user_key},
};
use crate::{
    event::UserStatus,
    store::{self, Table, WriteTxn},
};

fn session_index_key(user: Uuid, hash: &[u8; 32]) -> Vec<u8> {
    [user.as_bytes().as_slice(), hash.as_slice()].concat()
}

impl Users {
    /// Stores a new session of `user`; its token and expiry.
    pub(super) fn new_session(&self, txn: &mut dyn WriteTxn, user: Uuid) -> Result<(String, i64)> {
        let token = auth::new_token()?;
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
    pub(super) fn revoke_sessions(
        &self,
        txn: &mut dyn WriteTxn,
        user: Uuid,
        keep: Option<&[u8; 32]>,
    ) -> Result<()> {
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
            Ok(store::get::<User>(
                txn,
                Table::Users,
                &user_key(session.user_id),
            )?)
        })?;
        match found {
            Some(user) if user.status == UserStatus::Active => Ok(Caller {
                user,
                session: hash,
            }),
            _ => Err(UserError::Unauthorized),
        }
    }
}

#[cfg(test)]
mod tests;
