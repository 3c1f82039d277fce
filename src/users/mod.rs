//! Users, sessions and the operations on them. Every change to an account is one store
//! transaction that writes the user's rows and the event describing the change into the
//! outbox, so a 2xx means the event is durable (DESIGN invariant 1); a logout, which ends a
//! session and changes no account, writes no event.
//!
//! [`Users`] (in `core`) owns the store and the throttles; its operations are grouped by
//! concern: `accounts` (register, delete), `login`, `sessions` (issue, revoke, end,
//! authenticate), `profile` (read, update, change password; `address_changes`, the daily bound
//! on address changes) and `admin` (first admin, statuses).
mod accounts;
mod address_changes;
mod admin;
mod auth;
mod client_gone;
mod client_network;
mod client_shares;
mod core;
mod error;
mod event_handler;
mod hashing_pool;
mod login;
mod profile;
mod sessions;
#[cfg(test)]
mod testing;
mod throttle;
pub mod validate;
mod working_area;

pub mod handlers;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use admin::FirstAdmin;
pub use auth::{hash_password, new_token, token_hash};
pub use client_gone::{ClientGone, SetOnDrop};
pub use client_network::{client_network, client_network_key, client_site, client_site_key};
pub use client_shares::ClientShares;
pub use core::{AuthLimits, Caller, RequestCtx, Users};
pub use error::{Result, UserError};
pub use hashing_pool::{
    on_hashing_thread_start, render_hashing_metrics, set_hashing_threads, set_max_pending_hashes,
    set_max_pending_hashes_per_client,
};
pub use throttle::Throttle;

pub use event_handler::{EventHandler, EventRecordHandler, dispatch};
pub use handlers::UserEventHandler;

use crate::event::UserStatus;

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// May act on their own account.
    User,
    /// May act on every account and change statuses.
    Admin,
}

/// The key a user name or e-mail address is looked up and kept unique by: its full-Unicode
/// lower case. The one definition of "the same name ignoring case": the `usernames` and
/// `emails` tables of every backend are keyed by it (on PostgreSQL the `username_key` and
/// `email_key` columns hold it, written from here, because the database's `lower()` folds
/// differently: only ASCII under the C locale, no final sigma under any).
pub fn lookup_key(name: &str) -> String {
    name.to_lowercase()
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Id.
    pub id: Uuid,
    /// Unique (case-insensitive) user name.
    pub username: String,
    /// Unique (case-insensitive) e-mail address.
    pub email: String,
    /// Display name.
    pub nickname: Option<String>,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// Status.
    pub status: UserStatus,
    /// Role.
    pub role: Role,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Created, milliseconds since the epoch.
    pub created_ms: i64,
    /// Last changed, milliseconds since the epoch.
    pub updated_ms: i64,
    /// Last successful login, milliseconds since the epoch.
    pub last_login_ms: Option<i64>,
}

/// The public view of a user (no password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserView {
    /// Id.
    pub id: Uuid,
    /// User name.
    pub username: String,
    /// E-mail address.
    pub email: String,
    /// Display name.
    pub nickname: Option<String>,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// Status.
    pub status: UserStatus,
    /// Role.
    pub role: Role,
    /// Created, RFC 3339.
    pub created_at: String,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            email: u.email.clone(),
            nickname: u.nickname.clone(),
            avatar_url: u.avatar_url.clone(),
            status: u.status,
            role: u.role,
            created_at: chrono::DateTime::from_timestamp_millis(u.created_ms)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }
    }
}

/// A session, stored under the SHA-256 of its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Its user.
    pub user_id: Uuid,
    /// Created, milliseconds since the epoch.
    pub created_ms: i64,
    /// Expires, milliseconds since the epoch.
    pub expires_ms: i64,
}
