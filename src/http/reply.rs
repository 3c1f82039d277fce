//! Response bodies: JSON with a status, or text with a content type. Errors become responses
//! in `error.rs`.
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode, header};

/// Response body type of every handler.
pub type Body = Full<Bytes>;

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

/// The body of every error: `{"error": {"code", "message", "field"}}` (the contract's `Error`).
pub fn error_body(code: &str, message: &str, field: Option<&str>) -> serde_json::Value {
    serde_json::json!({ "error": { "code": code, "message": message, "field": field } })
}

/// A 200 response with a text body of `content_type`.
pub fn text_response(body: &str, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}
