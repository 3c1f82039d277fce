//! The data of each event: what the record value carries.
//!
//! Any change to a data struct's fields, a field added at the end included, bumps
//! [`super::DATA_VERSION`]: postcard writes a struct as its fields in order, with no names and
//! no count, and a decoder refuses bytes left over or missing, so a reader knows exactly the
//! layout of its versions. The decoder keeps each older layout it reads (as [`DeletedV1`]
//! does), and `tests/layouts.rs` pins each type's postcard bytes (`postcard_layouts_are_pinned`).
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::EventType;

/// Account status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    /// May log in.
    Active,
    /// Switched off by an admin.
    Disabled,
    /// Locked, for example after suspected abuse.
    Locked,
}

/// `user.registered`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    /// Chosen user name.
    pub username: String,
    /// E-mail address.
    pub email: String,
}

/// `user.logged_in`: a login attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedIn {
    /// Client IP address as text.
    pub ip: String,
    /// `User-Agent` of the request.
    pub user_agent: String,
    /// Whether the password matched.
    pub success: bool,
}

/// `user.password_changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordChanged {
    /// Who changed it (the user, or an admin).
    pub changed_by: Uuid,
    /// Client IP address of the change.
    pub ip: String,
}

/// `user.status_changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChanged {
    /// Status before.
    pub from: UserStatus,
    /// Status after.
    pub to: UserStatus,
    /// The admin who changed it.
    pub changed_by: Uuid,
}

/// `user.deleted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    /// Who deleted the account (the user, or an admin).
    pub deleted_by: Uuid,
    /// The account's e-mail address, for the confirmation (the row is gone by then). Added
    /// later: records without it decode as `None` ([`DeletedV1`]).
    #[serde(default)]
    pub email: Option<String>,
}

/// `user.deleted` as first written, without `email`. Postcard is not self-describing, so a
/// missing trailing field is not defaulted: such a value decodes as this and converts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletedV1 {
    /// Who deleted the account.
    pub deleted_by: Uuid,
}

impl From<DeletedV1> for Deleted {
    fn from(old: DeletedV1) -> Self {
        Self {
            deleted_by: old.deleted_by,
            email: None,
        }
    }
}

/// `user.updated`: the profile fields that changed, with their new values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Updated {
    /// New nickname, if changed.
    pub nickname: Option<String>,
    /// New e-mail address, if changed.
    pub email: Option<String>,
    /// New avatar URL, if changed.
    pub avatar_url: Option<String>,
    /// The e-mail address before the change, when `email` changed: the notice of the change
    /// goes there, where its owner still reads. Added at data version 3: records without it
    /// decode as `None` ([`UpdatedV2`]).
    #[serde(default)]
    pub previous_email: Option<String>,
}

/// `user.updated` up to data version 2, without `previous_email` (see [`DeletedV1`] on why
/// postcard needs the older layout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdatedV2 {
    /// New nickname, if changed.
    pub nickname: Option<String>,
    /// New e-mail address, if changed.
    pub email: Option<String>,
    /// New avatar URL, if changed.
    pub avatar_url: Option<String>,
}

impl From<UpdatedV2> for Updated {
    fn from(old: UpdatedV2) -> Self {
        Self {
            nickname: old.nickname,
            email: old.email,
            avatar_url: old.avatar_url,
            previous_email: None,
        }
    }
}

/// The data of one event; its variant is the event type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventData {
    /// `user.registered`
    Registered(Registered),
    /// `user.logged_in`
    LoggedIn(LoggedIn),
    /// `user.password_changed`
    PasswordChanged(PasswordChanged),
    /// `user.status_changed`
    StatusChanged(StatusChanged),
    /// `user.deleted`
    Deleted(Deleted),
    /// `user.updated`
    Updated(Updated),
}

impl EventData {
    /// Each text field of the data, by its name in the value.
    pub fn texts(&self) -> Vec<(&'static str, &str)> {
        match self {
            Self::Registered(d) => vec![("username", &d.username), ("email", &d.email)],
            Self::LoggedIn(d) => vec![("ip", &d.ip), ("user_agent", &d.user_agent)],
            Self::PasswordChanged(d) => vec![("ip", &d.ip)],
            Self::StatusChanged(_) => Vec::new(),
            Self::Deleted(d) => d.email.iter().map(|e| ("email", e)).collect(),
            Self::Updated(d) => [
                ("nickname", &d.nickname),
                ("email", &d.email),
                ("avatar_url", &d.avatar_url),
                ("previous_email", &d.previous_email),
            ]
            .into_iter()
            .filter_map(|(name, text)| text.as_ref().map(|t| (name, t)))
            .collect(),
        }
        .into_iter()
        .map(|(name, text): (&'static str, &String)| (name, text.as_str()))
        .collect()
    }

    /// The event type this data belongs to.
    pub fn event_type(&self) -> EventType {
        match self {
            Self::Registered(_) => EventType::Registered,
            Self::LoggedIn(_) => EventType::LoggedIn,
            Self::PasswordChanged(_) => EventType::PasswordChanged,
            Self::StatusChanged(_) => EventType::StatusChanged,
            Self::Deleted(_) => EventType::Deleted,
            Self::Updated(_) => EventType::Updated,
        }
    }
}
