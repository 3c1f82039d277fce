use std::convert::Infallible;

use futures::StreamExt;
use http_body_util::{Full, StreamBody};
use hyper::{body::Frame, header::HeaderValue};

use super::*;
use crate::http::requests::{ChangeStatus, Register};

fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers
}

fn decode<T: DeserializeOwned>(body: &str) -> Result<T, ApiError> {
    json(&json_headers(), body.as_bytes())
}

/// The field a decode error names.
fn field(e: &ApiError) -> Option<&str> {
    match e {
        ApiError::InvalidShape { field, .. } => field.as_deref(),
        other => panic!("not a shape error: {other:?}"),
    }
}

#[tokio::test]
async fn reads_a_body_up_to_the_limit_and_no_further() {
    let exact = Bytes::from(vec![b'x'; MAX_BODY]);
    let read_back = read(Full::new(exact.clone()), BODY_DEADLINE).await.unwrap();
    assert_eq!(read_back, exact);
    let over = read(
        Full::new(Bytes::from(vec![b'x'; MAX_BODY + 1])),
        BODY_DEADLINE,
    )
    .await;
    assert!(
        matches!(over, Err(ApiError::PayloadTooLarge { limit: MAX_BODY })),
        "{over:?}"
    );
}

/// A frame's bytes that count, while they live, in `live`.
struct Counted {
    byte: [u8; 1],
    live: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl AsRef<[u8]> for Counted {
    fn as_ref(&self) -> &[u8] {
        &self.byte
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.live.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[tokio::test]
async fn a_body_cut_into_one_byte_frames_holds_no_frame_it_has_read() {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };
    // A chunked body as hyper hands it over: one frame per chunk, each a slice that keeps
    // an allocation of its own alive. Counted when made, so the most frames alive at once
    // shows whether `read` keeps what it has read.
    let (live, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (l, m) = (live.clone(), most.clone());
    let frames = futures::stream::iter(0..MAX_BODY).map(move |_| {
        let now = l.fetch_add(1, Ordering::Relaxed) + 1;
        m.fetch_max(now, Ordering::Relaxed);
        let owner = Counted {
            byte: [b'x'],
            live: l.clone(),
        };
        Ok::<_, Infallible>(Frame::data(Bytes::from_owner(owner)))
    });
    let read_back = read(StreamBody::new(frames), BODY_DEADLINE).await.unwrap();
    assert_eq!(read_back.len(), MAX_BODY);
    assert!(read_back.iter().all(|&b| b == b'x'));
    assert!(
        most.load(Ordering::Relaxed) <= 2,
        "{} frames alive at once",
        most.load(Ordering::Relaxed)
    );
    assert_eq!(live.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_body_over_the_limit_in_small_frames_is_too_large() {
    let frames = futures::stream::iter(0..=MAX_BODY)
        .map(|_| Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"x"))));
    let result = read(StreamBody::new(frames), BODY_DEADLINE).await;
    assert!(
        matches!(result, Err(ApiError::PayloadTooLarge { limit: MAX_BODY })),
        "{result:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_body_that_stalls_ends_at_the_deadline() {
    // One frame, then nothing: the deadline covers the whole body, not each read.
    let first = futures::stream::iter([Ok::<_, Infallible>(Frame::data(Bytes::from("{")))]);
    let body = StreamBody::new(futures::StreamExt::chain(first, futures::stream::pending()));
    let started = tokio::time::Instant::now();
    // Without a deadline of its own, `read` would wait for ever: the outer one fails the test.
    let result = tokio::time::timeout(2 * BODY_DEADLINE, read(body, BODY_DEADLINE))
        .await
        .expect("read gave up by itself");
    assert!(
        matches!(result, Err(ApiError::RequestTimeout { deadline }) if deadline == BODY_DEADLINE),
        "{result:?}"
    );
    assert_eq!(started.elapsed(), BODY_DEADLINE);
}

#[tokio::test]
async fn a_broken_body_is_a_bad_body() {
    let broken = futures::stream::iter([Err::<Frame<Bytes>, _>(std::io::Error::other("reset"))]);
    let result = read(StreamBody::new(broken), BODY_DEADLINE).await;
    assert!(matches!(result, Err(ApiError::BadBody(_))), "{result:?}");
}

#[test]
fn only_json_content_types_are_decoded() {
    let mut headers = HeaderMap::new();
    let body = br#"{"status":"active"}"#;
    for content_type in [None, Some("text/plain"), Some("application/jsonx")] {
        if let Some(v) = content_type {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(v));
        }
        let result = json::<ChangeStatus>(&headers, body);
        assert!(
            matches!(result, Err(ApiError::UnsupportedMediaType)),
            "{content_type:?}"
        );
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("Application/JSON"),
    );
    assert!(json::<ChangeStatus>(&headers, body).is_ok());
}

#[test]
fn syntax_errors_are_invalid_json_with_serdes_message() {
    for body in [
        "",
        "{",
        r#"{"status":"active"} x"#,
        "{\"status\":\"\u{fffd}",
    ] {
        let e = decode::<ChangeStatus>(body).unwrap_err();
        let plain = serde_json::from_str::<ChangeStatus>(body).unwrap_err();
        assert!(matches!(e, ApiError::InvalidJson(_)), "{body}: {e:?}");
        assert_eq!(e.to_string(), plain.to_string(), "{body}");
    }
}

#[test]
fn shape_errors_name_the_field_from_the_path() {
    let e =
        decode::<Register>(r#"{"username":1,"email":"a@b.c","password":"12345678"}"#).unwrap_err();
    assert_eq!(field(&e), Some("username"));
    let e = decode::<Register>(
        r#"{"username":"zed","email":"z@example.com","password":"pw","admin":true}"#,
    )
    .unwrap_err();
    assert_eq!(field(&e), Some("admin"));
    let e = decode::<ChangeStatus>(r#"{"status":"banned"}"#).unwrap_err();
    assert_eq!(field(&e), Some("status"));
    let e = decode::<Register>("[1,2,3]").unwrap_err();
    assert_eq!(field(&e), Some("[0]"));
    // serde reports a missing field at the struct, not below it: no path, no field.
    let e = decode::<Register>(r#"{"username":"zed","email":"z@example.com"}"#).unwrap_err();
    assert_eq!(field(&e), None);
    assert!(e.to_string().starts_with("missing field `password`"), "{e}");
    // The message is serde's own, without the path prefix.
    let body = r#"{"status":5}"#;
    let e = decode::<ChangeStatus>(body).unwrap_err();
    let plain = serde_json::from_str::<ChangeStatus>(body).unwrap_err();
    assert_eq!(e.to_string(), plain.to_string());
}

#[test]
fn good_bodies_decode() {
    let r: Register =
        decode(r#"{"username":"ada","email":"ada@example.com","password":"correct horse"}"#)
            .unwrap();
    assert_eq!(r.username, "ada");
}

#[test]
fn a_struct_sent_as_an_array_of_its_fields_is_422() {
    let e = decode::<ChangeStatus>(r#"["active"]"#).unwrap_err();
    assert!(
        matches!(e, ApiError::Invalid { field: "body", .. }),
        "{e:?}"
    );
    let e = decode::<Register>(r#" ["ada", "ada@example.com", "correct horse"]"#).unwrap_err();
    assert!(
        matches!(e, ApiError::Invalid { field: "body", .. }),
        "{e:?}"
    );
    assert!(decode::<ChangeStatus>(r#" {"status": "active"}"#).is_ok());
}
