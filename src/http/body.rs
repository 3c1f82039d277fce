//! Reading JSON request bodies: size limit (413), content type (415), syntax (400),
// Handlers return `Err(response)` for early exits: one per request, boxing it buys nothing.
#![allow(clippy::result_large_err)]
//! shape and types (422), all as the JSON error body.
use http_body_util::{BodyExt, Limited};
use hyper::{HeaderMap, StatusCode, body::Body as HttpBody, header};
use serde::de::DeserializeOwned;

use super::reply::{ApiError, api_error};

/// Largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// Reads and parses a JSON body.
pub async fn json<T, B>(headers: &HeaderMap, body: B) -> Result<T, ApiError>
where
    T: DeserializeOwned,
    B: HttpBody,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(api_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send Content-Type: application/json",
            None,
        ));
    }
    let bytes = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return Err(api_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                &format!("the body is limited to {MAX_BODY} bytes"),
                None,
            ));
        }
        Err(_) => {
            return Err(api_error(
                StatusCode::BAD_REQUEST,
                "bad_body",
                "the body could not be read",
                None,
            ));
        }
    };
    serde_json::from_slice(&bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => api_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                &e.to_string(),
                field_of(&e),
            ),
            _ => api_error(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                &e.to_string(),
                None,
            ),
        }
    })
}

/// The field a serde message names (`missing field `x``, `unknown field `x``), if any.
fn field_of(e: &serde_json::Error) -> Option<String> {
    let msg = e.to_string();
    let start = msg.find('`')? + 1;
    let end = start + msg[start..].find('`')?;
    Some(msg[start..end].to_owned())
}
