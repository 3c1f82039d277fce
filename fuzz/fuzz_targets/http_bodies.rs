//! HTTP request bodies of every endpoint: JSON into the request types, then their validation.
#![no_main]
use libfuzzer_sys::fuzz_target;
use usercenter::{http::requests, users::validate};

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else { return };
    match which % 5 {
        0 => {
            if let Ok(r) = serde_json::from_slice::<requests::Register>(body) {
                let _ = validate::username(&r.username);
                let _ = validate::email(&r.email);
                let _ = validate::password("password", &r.password);
            }
        }
        1 => {
            let _ = serde_json::from_slice::<requests::Login>(body);
        }
        2 => {
            if let Ok(r) = serde_json::from_slice::<requests::Update>(body) {
                let _ = r.nickname.as_deref().map(validate::nickname);
                let _ = r.email.as_deref().map(validate::email);
                let _ = r.avatar_url.as_deref().map(validate::avatar_url);
            }
        }
        3 => {
            if let Ok(r) = serde_json::from_slice::<requests::ChangePassword>(body) {
                let _ = validate::password("new_password", &r.new_password);
            }
        }
        _ => {
            let _ = serde_json::from_slice::<requests::ChangeStatus>(body);
        }
    }
});
