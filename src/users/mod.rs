//! Users, sessions and the operations on them. Every mutation is one store transaction that
//! writes the user's rows and the event describing the change into the outbox, so a 2xx means
//! the event is durable (DESIGN invariant 1).
mod auth;
mod ops;
mod throttle;
pub mod validate;

pub mod handlers;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use auth::{hash_password, new_token, on_hashing_idle, token_hash, verify_password};
pub use ops::{Caller, RequestCtx, Users};
pub use throttle::Throttle;

pub use handlers::UserEventHandler;

use crate::{event::UserStatus, store::StoreError};

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// May act on their own account.
    User,
    /// May act on every account and change statuses.
    Admin,
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

/// Why a user operation failed; the HTTP layer maps each to one status code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserError {
    /// A field is missing or malformed (422).
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A unique field is taken (409).
    #[error("{field} already taken")]
    Conflict {
        /// The field.
        field: &'static str,
    },
    /// No valid credentials (401). The same for an unknown user and a wrong password.
    #[error("invalid credentials")]
    Unauthorized,
    /// Authenticated, but not allowed (403).
    #[error("not allowed")]
    Forbidden,
    /// No such user (404).
    #[error("user not found")]
    NotFound,
    /// Too many failed logins (429).
    #[error("too many failed logins; try again later")]
    Throttled,
    /// The store failed (503).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Password hashing failed (500; not expected).
    #[error("password hashing: {0}")]
    Hash(String),
}

/// `Result` with [`UserError`].
pub type Result<T, E = UserError> = std::result::Result<T, E>;
