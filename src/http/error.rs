//! Every way a request can fail, as one type that becomes a response in exactly one place,
//! [`ApiError::into_response`]. Handlers and the router only return `Err(ApiError)`; which
//! status, code and `field` a failure gets is decided here and nowhere else, so the same
//! failure always looks the same to a client.
//!
//! ```text
//! UserError ─From─► ApiError::User ─┐
//! body / JSON / routing failures ───┴─► ApiError::into_response ─► {"error": {"code", "message", "field"}}
//! ```
use std::time::Duration;

use hyper::{Response, StatusCode, header};

use super::reply::{Body, json_response};
use crate::users::UserError;

/// Why a request failed. `Display` is the `message` of the JSON error body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The body is not declared as JSON (415).
    #[error("send Content-Type: application/json")]
    UnsupportedMediaType,
    /// The body is larger than the limit (413).
    #[error("the body is limited to {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body did not arrive in time (408).
    #[error("the body did not arrive within {}s", .deadline.as_secs())]
    RequestTimeout {
        /// How long the whole body may take.
        deadline: Duration,
    },
    /// The body could not be read from the connection (400).
    #[error("the body could not be read")]
    BadBody(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The body is not JSON (400).
    #[error("{0}")]
    InvalidJson(#[source] serde_json::Error),
    /// The body is JSON but not the expected shape or types (422).
    #[error("{source}")]
    InvalidShape {
        /// Where in the body, when the decoder knows (`username`, `[0]`).
        field: Option<String>,
        /// What the decoder says.
        #[source]
        source: serde_json::Error,
    },
    /// A request-level rule on the fields failed before reaching the user service (422).
    #[error("{message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: &'static str,
    },
    /// No usable `Authorization: Bearer` header (401).
    #[error("send Authorization: Bearer TOKEN")]
    MissingToken,
    /// No endpoint or resource at this path (404).
    #[error("{0}")]
    NotFound(&'static str),
    /// The path exists but not for this method (405); the methods it has, as the `Allow`
    /// header lists them (`GET`, `GET, PATCH, DELETE`).
    #[error("use {0}")]
    MethodNotAllowed(&'static str),
    /// The blocking task running the request panicked or was cancelled (500).
    #[error("request task failed")]
    Task(#[source] tokio::task::JoinError),
    /// The user service refused or failed.
    #[error(transparent)]
    User(#[from] UserError),
}

impl ApiError {
    /// Status, code and field of the JSON error body.
    fn kind(&self) -> (StatusCode, &'static str, Option<String>) {
        match self {
            Self::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                None,
            ),
            Self::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None)
            }
            Self::RequestTimeout { .. } => (StatusCode::REQUEST_TIMEOUT, "request_timeout", None),
            Self::BadBody(_) => (StatusCode::BAD_REQUEST, "bad_body", None),
            Self::InvalidJson(_) => (StatusCode::BAD_REQUEST, "invalid_json", None),
            Self::InvalidShape { field, .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                field.clone(),
            ),
            Self::Invalid { field, .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                Some((*field).to_owned()),
            ),
            Self::MissingToken => (StatusCode::UNAUTHORIZED, "unauthorized", None),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
            Self::MethodNotAllowed(_) => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None)
            }
            Self::Task(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
            Self::User(e) => user_kind(e),
        }
    }

    /// The response: the status and `{"error": {"code", "message", "field"}}`. Server-side
    /// failures are logged here, once.
    pub fn into_response(self) -> Response<Body> {
        let (status, code, field) = self.kind();
        // A full hashing pool is load, not a fault: `/metrics` counts those refusals.
        let busy = matches!(self, Self::User(UserError::HashingBusy));
        if status.is_server_error() && !busy {
            tracing::error!(error = %self, "request failed");
        }
        // A server-side failure's text (a database's message, a table's name, a driver's
        // error) is for the log, which has it under the response's X-Request-Id.
        let message = match code {
            _ if !status.is_server_error() || busy => self.to_string(),
            "store_unavailable" => STORE_UNAVAILABLE.to_owned(),
            _ => INTERNAL.to_owned(),
        };
        let mut response = json_response(
            status,
            &super::reply::error_body(code, &message, field.as_deref()),
        );
        // RFC 9110 15.5.6: a 405 lists the methods the resource has.
        if let Self::MethodNotAllowed(allow) = self {
            response
                .headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static(allow));
        }
        // RFC 9110 11.6.1: a 401 names the scheme that would be accepted.
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        // A full hashing pool empties in a few hashes' time: say when to come back.
        if busy {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(super::admission::RETRY_AFTER_SECS),
            );
        }
        response
    }
}

/// What a client is told of a store that failed a request.
pub(super) const STORE_UNAVAILABLE: &str =
    "the store did not answer; try again (the log says why, under this X-Request-Id)";
/// What a client is told of any other server-side failure.
const INTERNAL: &str = "internal error (the log says what, under this X-Request-Id)";

/// The status and code of each user error; the store's failures are [`UserError::Store`].
fn user_kind(e: &UserError) -> (StatusCode, &'static str, Option<String>) {
    match e {
        UserError::Invalid { field, .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some((*field).to_owned()),
        ),
        UserError::Conflict { field } => {
            (StatusCode::CONFLICT, "conflict", Some((*field).to_owned()))
        }
        UserError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", None),
        UserError::Forbidden => (StatusCode::FORBIDDEN, "forbidden", None),
        UserError::NotFound => (StatusCode::NOT_FOUND, "not_found", None),
        UserError::Throttled => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", None),
        UserError::TooManyChanges => (
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_changes",
            Some("email".to_owned()),
        ),
        UserError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", None),
        UserError::HashingBusy => (StatusCode::SERVICE_UNAVAILABLE, "hashing_busy", None),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
    }
}

#[cfg(test)]
mod tests;
