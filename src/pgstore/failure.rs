//! Why a statement of a transaction failed, as the store's retry loop needs to know it: run
//! the closure again (a serialization failure or a deadlock), report a broken rule of the
//! domain (a name or e-mail address taken), or fail.
use tokio_postgres::error::SqlState;

use crate::store::StoreError;

/// Why a statement of the transaction failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    /// Serialization failure or deadlock: run the closure again.
    Retry,
    /// A unique rule of the domain (`users` username or e-mail).
    Conflict(&'static str),
    /// Anything else.
    Other,
}

/// Sorts a database error: retryable, a domain conflict, or other.
pub(super) fn classify(e: tokio_postgres::Error) -> (Failure, StoreError) {
    let Some(code) = e.code() else {
        return (Failure::Other, StoreError::Postgres(e));
    };
    if code == &SqlState::T_R_SERIALIZATION_FAILURE || code == &SqlState::T_R_DEADLOCK_DETECTED {
        return (Failure::Retry, StoreError::Postgres(e));
    }
    if code == &SqlState::UNIQUE_VIOLATION {
        let field = match e.as_db_error().and_then(|d| d.constraint()) {
            Some("users_username_key") => Some("username"),
            Some("users_email_key") => Some("email"),
            _ => None,
        };
        return match field {
            Some(field) => (Failure::Conflict(field), StoreError::Conflict { field }),
            // Two first inserts of one key (a counter in meta): the loser retries and reads it.
            None => (Failure::Retry, StoreError::Postgres(e)),
        };
    }
    (Failure::Other, StoreError::Postgres(e))
}
