//! Why a user operation failed. Each kind is one HTTP status, so a failure that is not the
//! store's must not be reported as a store failure (503 `store_unavailable` tells a client to
//! retry later, which does not help against a corrupt row or a broken random source).
use crate::{event::EncodeError, store::StoreError};

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
    /// Too many failed logins from one address, or wrong old passwords in one session (429).
    #[error("too many failed attempts; try again later")]
    Throttled,
    /// The account's e-mail address changed too often today (429).
    #[error("the e-mail address changed too often today; try again tomorrow")]
    TooManyChanges,
    /// The store failed (503).
    #[error(transparent)]
    Store(StoreError),
    /// A stored row does not decode or has a key of another length than its table's, or a
    /// value cannot be encoded (500: corruption or a newer schema, which a retry does not
    /// help against, not an outage).
    #[error(transparent)]
    StoredValue(StoreError),
    /// Password hashing failed (500; not expected).
    #[error("password hashing: {0}")]
    Hash(#[source] argon2_rust::Error),
    /// As many password hashes are queued or running as `auth.max_pending_hashes` allows (503
    /// `hashing_busy`, with `Retry-After`).
    #[error("password hashing: too many hashes waiting; try again shortly")]
    HashingBusy,
    /// The client that asked for a password hash, or for a request's store work, was gone
    /// before it began; the work was skipped (nobody receives the answer).
    #[error("skipped: the client had gone")]
    ClientGone,
    /// The password hashing threads are gone (500; not expected).
    #[error("password hashing: the hashing pool stopped")]
    HashingStopped,
    /// The operating system's random source failed (500; not expected).
    #[error("random source: {0}")]
    Random(#[source] getrandom::Error),
    /// A stored index row does not hold a user id (500: corruption, not an outage).
    #[error("index {table}: malformed user id: {source}")]
    Corrupt {
        /// The index table.
        table: &'static str,
        /// Why it is not an id.
        #[source]
        source: uuid::Error,
    },
    /// The change's event cannot be encoded (500; not expected for our types).
    #[error("event: {0}")]
    Encode(#[from] EncodeError),
    /// The blocking task running the operation panicked or was cancelled (500).
    #[error("user operation task: {0}")]
    Task(#[source] tokio::task::JoinError),
}

/// A store's uniqueness and missing-row answers are the user kinds (409, 404), whichever
/// backend gives them; a row or value the store holds but cannot be read or written as its
/// table's is [`UserError::StoredValue`]; every other store failure is [`UserError::Store`].
impl From<StoreError> for UserError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { field } => Self::Conflict { field },
            StoreError::NotFound(_) => Self::NotFound,
            e @ (StoreError::Decode { .. }
            | StoreError::KeyLength { .. }
            | StoreError::KeyFormat { .. }
            | StoreError::Encode { .. }) => Self::StoredValue(e),
            e => Self::Store(e),
        }
    }
}

/// `Result` with [`UserError`].
pub type Result<T, E = UserError> = std::result::Result<T, E>;
