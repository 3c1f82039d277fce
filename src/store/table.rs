//! The tables every backend provides, by name.

/// The tables every backend provides. Keys and values are bytes; [`super::get`] and
/// [`super::put`] add postcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// user id → user row
    Users,
    /// lower-cased username → user id
    Usernames,
    /// lower-cased e-mail → user id
    Emails,
    /// token hash → session
    Sessions,
    /// outbox sequence (big-endian u64) → record to publish
    Outbox,
    /// `topic/partition` → next offset to consume
    Offsets,
    /// `topic/partition/producer` → the highest sequence of that producer handled on that
    /// partition (the consumer's dedupe), committed with the partition's offset
    HighWaters,
    /// dedupe key → first-seen time
    Dedupe,
    /// small named values (the redb file's layout version, counters)
    Meta,
    /// event id → how many times its handler effects were applied (an audit of the consumer)
    EventLog,
    /// user id ‖ token hash → nothing: a user's sessions, to revoke them
    UserSessions,
    /// outbox sequence → a record that can never be published (too large), kept for operators
    Parked,
}

impl Table {
    /// Every table, in a fixed order.
    pub const ALL: [Table; 12] = [
        Self::Users,
        Self::Usernames,
        Self::Emails,
        Self::Sessions,
        Self::Outbox,
        Self::Offsets,
        Self::HighWaters,
        Self::Dedupe,
        Self::Meta,
        Self::EventLog,
        Self::UserSessions,
        Self::Parked,
    ];

    /// The table's name in the backend.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Usernames => "usernames",
            Self::Emails => "emails",
            Self::Sessions => "sessions",
            Self::Outbox => "outbox",
            Self::Offsets => "offsets",
            Self::HighWaters => "high_waters",
            Self::Dedupe => "dedupe",
            Self::Meta => "meta",
            Self::EventLog => "event_log",
            Self::UserSessions => "user_sessions",
            Self::Parked => "outbox_parked",
        }
    }
}
