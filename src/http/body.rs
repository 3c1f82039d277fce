//! Request bodies. The router reads a body once, whole, into [`Bytes`] under a size limit and a
//! deadline for the whole body (a client that trickles bytes must not hold a connection slot
//! for ever; the header deadline alone does not cover the body). Handlers that take JSON then
//! check the content type and decode those bytes.
//!
//! ```text
//! router: read ── over MAX_BODY: 413 ── slower than BODY_DEADLINE: 408 ── broken: 400
//! handler: json ── not application/json: 415 ── not JSON: 400 ── wrong shape or types: 422
//! ```
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::{HeaderMap, body::Body as HttpBody, header};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// Longest a client may take to send a whole request body.
pub const BODY_DEADLINE: Duration = Duration::from_secs(10);

/// Reads the whole `body`: at most [`MAX_BODY`] bytes, within `deadline`.
///
/// Each frame is copied into one buffer and dropped at once, so a body costs at most
/// [`MAX_BODY`] however it is cut: hyper hands every chunk of a chunked body over as its own
/// frame, a slice that keeps hyper's read buffer alive, and 65,536 one-byte chunks kept as
/// frames until the end would hold megabytes for one 64 KiB body.
///
/// # Cancellation
/// Dropping the future drops the body and what was read of it; nothing else is held.
pub async fn read<B>(body: B, deadline: Duration) -> Result<Bytes, ApiError>
where
    B: HttpBody,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match tokio::time::timeout(deadline, read_frames(body)).await {
        Ok(read) => read,
        Err(_elapsed) => Err(ApiError::RequestTimeout { deadline }),
    }
}

/// [`read`] without its deadline.
async fn read_frames<B>(body: B) -> Result<Bytes, ApiError>
where
    B: HttpBody,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let announced = usize::try_from(body.size_hint().lower()).unwrap_or(usize::MAX);
    if announced > MAX_BODY {
        return Err(ApiError::PayloadTooLarge { limit: MAX_BODY });
    }
    let mut body = std::pin::pin!(body);
    let mut whole = BytesMut::with_capacity(announced);
    while let Some(frame) = body.as_mut().frame().await {
        let frame = frame.map_err(|e| ApiError::BadBody(e.into()))?;
        // Trailers carry no body bytes.
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if data.remaining() > MAX_BODY - whole.len() {
            return Err(ApiError::PayloadTooLarge { limit: MAX_BODY });
        }
        whole.put(data);
    }
    Ok(whole.freeze())
}

/// Decodes a JSON body sent with `Content-Type: application/json`.
pub fn json<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(decode_error)?;
    // Trailing bytes after the value are a syntax error, as in `serde_json::from_slice`.
    de.end().map_err(ApiError::InvalidJson)?;
    // Every body of the API is an object; serde would also take a struct as an array of its
    // fields (`[null, null]`), which the contract does not allow.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(ApiError::Invalid {
            field: "body",
            message: "expected a JSON object",
        });
    }
    Ok(value)
}

/// A syntax error is 400; a shape or type error is 422 and names where it is, when the
/// decoder got below the top level (a missing field is reported at the top level: no field).
fn decode_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let field = (e.path().iter().len() > 0).then(|| e.path().to_string());
    let source = e.into_inner();
    match source.classify() {
        serde_json::error::Category::Data => ApiError::InvalidShape { field, source },
        _ => ApiError::InvalidJson(source),
    }
}

#[cfg(test)]
mod tests;
