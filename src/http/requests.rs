//! The JSON request bodies of the API. Unknown fields are rejected.
use serde::Deserialize;

use crate::event::UserStatus;

/// `POST /api/v1/users/register`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Register {
    /// User name.
    pub username: String,
    /// E-mail address.
    pub email: String,
    /// Password.
    pub password: String,
}

/// `POST /api/v1/users/login`: a user name or an e-mail address, and the password.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// User name (or give `email`).
    #[serde(default)]
    pub username: Option<String>,
    /// E-mail address (or give `username`).
    #[serde(default)]
    pub email: Option<String>,
    /// Password.
    pub password: String,
}

/// `PATCH /api/v1/users/{id}`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Update {
    /// New nickname.
    #[serde(default)]
    pub nickname: Option<String>,
    /// New e-mail address.
    #[serde(default)]
    pub email: Option<String>,
    /// New avatar URL.
    #[serde(default)]
    pub avatar_url: Option<String>,
}

/// `PUT /api/v1/users/{id}/password`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    /// Current password.
    pub old_password: String,
    /// New password.
    pub new_password: String,
}

/// `PUT /api/v1/users/{id}/status`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeStatus {
    /// `active`, `disabled` or `locked`.
    pub status: UserStatus,
}
