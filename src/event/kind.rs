//! The event types, as named in `ce_type`.
use std::fmt;

/// One of the six user events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// A user registered.
    Registered,
    /// A login attempt (successful, or failed: failures are tracked for anomaly detection).
    LoggedIn,
    /// A user changed their password.
    PasswordChanged,
    /// An admin enabled, disabled or locked a user.
    StatusChanged,
    /// A user was deleted.
    Deleted,
    /// A user's profile was updated.
    Updated,
}

impl EventType {
    /// All six, in a fixed order.
    pub const ALL: [EventType; 6] = [
        Self::Registered,
        Self::LoggedIn,
        Self::PasswordChanged,
        Self::StatusChanged,
        Self::Deleted,
        Self::Updated,
    ];

    /// The `ce_type` value, such as `user.registered`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Registered => "user.registered",
            Self::LoggedIn => "user.logged_in",
            Self::PasswordChanged => "user.password_changed",
            Self::StatusChanged => "user.status_changed",
            Self::Deleted => "user.deleted",
            Self::Updated => "user.updated",
        }
    }

    /// Parses a `ce_type` value.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
