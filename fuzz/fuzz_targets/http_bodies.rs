//! HTTP request bodies of every endpoint, through the API's own decoder (`http::json_body`:
//! the content type, JSON syntax, the request type's shape, a top-level object), then the
//! fields' validation. A body the decoder refuses must be answered as the client's fault (a
//! 4xx), never as the server's.
#![no_main]
use hyper::{HeaderMap, header::CONTENT_TYPE};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use usercenter::{
    http::{ApiError, json_body, requests},
    users::validate,
};

/// Content types a client may send; the first byte picks one.
const CONTENT_TYPES: [&str; 4] = [
    "application/json",
    "Application/JSON; charset=utf-8",
    "text/plain",
    "application/jsonx",
];

fn decode<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Option<T> {
    match json_body::<T>(headers, body) {
        Ok(value) => Some(value),
        Err(e) => {
            let refused: ApiError = e;
            let status = refused.into_response().status();
            assert!(status.is_client_error(), "a body answered {status}");
            None
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else { return };
    let mut headers = HeaderMap::new();
    let content_type = CONTENT_TYPES[usize::from(which / 5) % CONTENT_TYPES.len()];
    headers.insert(CONTENT_TYPE, content_type.parse().expect("a valid header value"));
    match which % 5 {
        0 => {
            if let Some(r) = decode::<requests::Register>(&headers, body) {
                let _ = validate::username(&r.username);
                let _ = validate::email(&r.email);
                let _ = validate::password("password", &r.password);
            }
        }
        1 => {
            let _ = decode::<requests::Login>(&headers, body);
        }
        2 => {
            if let Some(r) = decode::<requests::Update>(&headers, body) {
                let _ = r.nickname.as_deref().map(validate::nickname);
                let _ = r.email.as_deref().map(validate::email);
                let _ = r.avatar_url.as_deref().map(validate::avatar_url);
            }
        }
        3 => {
            if let Some(r) = decode::<requests::ChangePassword>(&headers, body) {
                let _ = validate::password("new_password", &r.new_password);
            }
        }
        _ => {
            let _ = decode::<requests::ChangeStatus>(&headers, body);
        }
    }
});
