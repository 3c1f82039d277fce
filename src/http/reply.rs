//! Responses: JSON bodies, the error shape `{"error": {"code", "message", "field"}}`, and the
//! one place where typed errors become status codes.
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode, header};
use serde_json::json;

use crate::users::UserError;

/// Response body type of every handler.
pub type Body = Full<Bytes>;

/// An error response ready to send.
pub type ApiError = Response<Body>;

/// A JSON response with the given status.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// A JSON error response.
pub fn api_error(status: StatusCode, code: &str, message: &str, field: Option<String>) -> ApiError {
    json_response(
        status,
        &json!({ "error": { "code": code, "message": message, "field": field } }),
    )
}

/// The status and code of each user error.
pub fn user_error(e: &UserError) -> ApiError {
    let (status, code, field) = match e {
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
        UserError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", None),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
    };
    if status.is_server_error() {
        tracing::error!(error = %e, "request failed");
    }
    api_error(status, code, &e.to_string(), field)
}
