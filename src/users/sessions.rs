//! Sessions: issued at registration and login, stored under the SHA-256 of their token with an
//! index per user (so a password change or a lock can revoke them), checked on every request
//! and again inside every write a caller makes ([`Users::recheck`]). A user holds at most
//! `max_sessions` (the oldest go); a logout ends its own ([`Users::end_session`]); expired ones
//! are removed on a schedule ([`Users::prune_sessions_every`]), counted in
//! `usercenter_sessions_pruned_total`.
use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{
    Result, Session, User, UserError, auth,
    core::{Caller, Users, now_ms, user_key},
};
use crate::{
    event::UserStatus,
    store::{self, ReadTxn, Table, WriteTxn},
};

/// Sessions looked at per pruning transaction.
const PRUNE_BATCH: usize = 512;

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
        self.make_room(txn, user)?;
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

    /// Revokes the oldest sessions of `user` so one more fits under `max_sessions`.
    fn make_room(&self, txn: &mut dyn WriteTxn, user: Uuid) -> Result<()> {
        let prefix = user.as_bytes();
        let rows = txn.range_prefix(Table::UserSessions, prefix, self.max_sessions + 64)?;
        let mut mine = Vec::new();
        for (k, _) in rows {
            let created = store::get::<Session>(txn, Table::Sessions, &k[16..])?
                .map_or(i64::MIN, |s| s.created_ms);
            mine.push((created, k));
        }
        if mine.len() < self.max_sessions {
            return Ok(());
        }
        mine.sort();
        for (_, k) in mine.drain(..=mine.len() - self.max_sessions) {
            txn.delete(Table::Sessions, &k[16..])?;
            txn.delete(Table::UserSessions, &k)?;
        }
        Ok(())
    }

    /// The caller's account as this transaction sees it: the session still there, unexpired
    /// and the caller's, the user still active ([`UserError::Unauthorized`] otherwise). Every
    /// write a caller makes checks it inside its transaction, so a session revoked or an
    /// account disabled while the request ran cannot still act.
    pub(super) fn recheck(txn: &dyn ReadTxn, caller: &Caller) -> Result<User> {
        let session = store::get::<Session>(txn, Table::Sessions, &caller.session)?;
        if !session.is_some_and(|s| s.user_id == caller.user.id && s.expires_ms > now_ms()) {
            return Err(UserError::Unauthorized);
        }
        store::get::<User>(txn, Table::Users, &user_key(caller.user.id))?
            .filter(|u| u.status == UserStatus::Active)
            .ok_or(UserError::Unauthorized)
    }

    /// Ends the caller's session (a logout): its token no longer authenticates, on any
    /// instance sharing the store. The user's other sessions stay.
    pub fn end_session(&self, caller: &Caller) -> Result<()> {
        self.write(|txn| {
            Self::recheck(txn, caller)?;
            txn.delete(Table::Sessions, &caller.session)?;
            txn.delete(
                Table::UserSessions,
                &session_index_key(caller.user.id, &caller.session),
            )?;
            Ok(())
        })
    }

    /// Removes every expired session, a batch per transaction; how many. Ends after the batch
    /// in hand once `cancel` fires: a large sessions table must not hold up a stop.
    pub fn prune_sessions(&self, cancel: &CancellationToken) -> Result<u64> {
        let now = now_ms();
        let mut start = Vec::new();
        let mut pruned = 0;
        loop {
            if cancel.is_cancelled() {
                return Ok(pruned);
            }
            let (n, next) = self.write(|txn| {
                let rows = txn.range_from(Table::Sessions, &start, PRUNE_BATCH)?;
                let next = (rows.len() == PRUNE_BATCH)
                    .then(|| rows.last().map(|(k, _)| [k.as_slice(), &[0]].concat()))
                    .flatten();
                let mut n = 0;
                for (k, v) in &rows {
                    // The value the range read: on PostgreSQL another read per row would be a
                    // round trip each.
                    let s = store::decode::<Session>(Table::Sessions, v)?;
                    if s.expires_ms <= now {
                        txn.delete(Table::Sessions, k)?;
                        let index = [s.user_id.as_bytes().as_slice(), k].concat();
                        txn.delete(Table::UserSessions, &index)?;
                        n += 1;
                    }
                }
                Ok((n, next))
            })?;
            pruned += n;
            self.sessions_pruned.add(n);
            match next {
                Some(next) => start = next,
                None => return Ok(pruned),
            }
        }
    }

    /// Expired sessions removed so far.
    pub fn sessions_pruned(&self) -> u64 {
        self.sessions_pruned.get()
    }

    /// Runs [`Users::prune_sessions`] every `every` until `cancel`.
    pub async fn prune_sessions_every(self: Arc<Self>, every: Duration, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let users = Arc::clone(&self);
            let stop = cancel.clone();
            match tokio::task::spawn_blocking(move || users.prune_sessions(&stop)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(pruned = n, "removed expired sessions"),
                Ok(Err(error)) => tracing::warn!(%error, "pruning sessions failed"),
                Err(error) => tracing::warn!(%error, "pruning sessions: task failed"),
            }
            // The next pass `every` after this one ended: a pass longer than the period (a
            // very large sessions table) is not followed at once by the next.
            tick.reset();
        }
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
            let rows = txn.range_prefix(Table::UserSessions, &prefix, 256)?;
            let mine: Vec<Vec<u8>> = rows
                .into_iter()
                .map(|(k, _)| k)
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
                if txn.range_prefix(Table::UserSessions, &prefix, 2)?.len() <= 1 {
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
