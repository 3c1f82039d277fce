//! Malformed requests: each gets the right 4xx with the JSON error body, and the service
//! stays healthy.

use std::time::Duration;

use testkit::{Broker, api, config, eventually, register, request};

struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    expect: u16,
}

fn case(
    name: &'static str,
    method: &'static str,
    path: &str,
    headers: &[(&'static str, &str)],
    body: Option<&[u8]>,
    expect: u16,
) -> Case {
    Case {
        name,
        method,
        path: path.to_owned(),
        headers: headers.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        body: body.map(<[u8]>::to_vec),
        expect,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_the_right_4xx_and_the_service_stays_healthy() {
    let broker = Broker::memory().await;
    let data = tempfile::tempdir().unwrap();
    let service = usercenter::service::start(config(&broker.addr, data.path()))
        .await
        .unwrap();
    eventually(Duration::from_secs(30), "Kafka", || service.kafka_ready()).await;
    let addr = service.local_addr();

    let (_, ada) = register(addr, "ada", "correct horse").await;
    let (_, bob) = register(addr, "bob", "correct horse").await;
    let (ada_id, ada_token) = (
        ada["user"]["id"].as_str().unwrap().to_owned(),
        ada["token"].as_str().unwrap().to_owned(),
    );
    let bob_token = bob["token"].as_str().unwrap().to_owned();
    let ada_auth = format!("Bearer {ada_token}");
    let bob_auth = format!("Bearer {bob_token}");
    let me = format!("/api/v1/users/{ada_id}");
    let json_ct: (&str, &str) = ("Content-Type", "application/json");
    let huge = format!("{{\"username\": \"{}\"}}", "x".repeat(100 * 1024));
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let long_name = format!(
        r#"{{"username":"{}","email":"l@example.com","password":"correct horse"}}"#,
        "a".repeat(1000)
    );

    let reg = "/api/v1/users/register";
    let login = "/api/v1/users/login";
    let cases = vec![
        case("invalid JSON", "POST", reg, &[json_ct], Some(b"{"), 400),
        case("empty body", "POST", reg, &[json_ct], Some(b""), 400),
        case("text/plain", "POST", reg, &[("Content-Type", "text/plain")], Some(b"{}"), 415),
        case("no content type", "POST", reg, &[], Some(b"{}"), 415),
        case("form encoded", "POST", reg, &[("Content-Type", "application/x-www-form-urlencoded")], Some(b"username=a"), 415),
        case("huge body", "POST", reg, &[json_ct], Some(huge.as_bytes()), 413),
        case("wrong types", "POST", reg, &[json_ct], Some(br#"{"username":1,"email":true,"password":[]}"#), 422),
        case("missing password", "POST", reg, &[json_ct], Some(br#"{"username":"zed","email":"z@example.com"}"#), 422),
        case("unknown field", "POST", reg, &[json_ct], Some(br#"{"username":"zed","email":"z@example.com","password":"correct horse","admin":true}"#), 422),
        case("invalid UTF-8", "POST", reg, &[json_ct], Some(b"{\"username\":\"\xff\xfe\",\"email\":\"a@b.c\",\"password\":\"12345678\"}"), 400),
        case("SQL-ish username", "POST", reg, &[json_ct], Some(br#"{"username":"x'; DROP TABLE users;--","email":"s@example.com","password":"correct horse"}"#), 422),
        case("control characters", "POST", reg, &[json_ct], Some(b"{\"username\":\"ada\\u0000\\u0007\",\"email\":\"c@example.com\",\"password\":\"correct horse\"}"), 422),
        case("bad e-mail", "POST", reg, &[json_ct], Some(br#"{"username":"zed","email":"not-an-email","password":"correct horse"}"#), 422),
        case("short password", "POST", reg, &[json_ct], Some(br#"{"username":"zed","email":"z@example.com","password":"short"}"#), 422),
        case("array body", "POST", reg, &[json_ct], Some(b"[1,2,3]"), 422),
        case("null body", "POST", reg, &[json_ct], Some(b"null"), 422),
        case("deeply nested array", "POST", reg, &[json_ct], Some(deep.as_bytes()), 422),
        case("1000-character username", "POST", reg, &[json_ct], Some(long_name.as_bytes()), 422),
        case("taken username", "POST", reg, &[json_ct], Some(br#"{"username":"ADA","email":"other@example.com","password":"correct horse"}"#), 409),
        case("login without password", "POST", login, &[json_ct], Some(br#"{"username":"ada"}"#), 422),
        case("login without name", "POST", login, &[json_ct], Some(br#"{"password":"correct horse"}"#), 422),
        case("login unknown user", "POST", login, &[json_ct], Some(br#"{"username":"nobody","password":"correct horse"}"#), 401),
        case("no auth", "GET", "/api/v1/users/me", &[], None, 401),
        case("garbage token", "GET", "/api/v1/users/me", &[("Authorization", "Bearer garbage")], None, 401),
        case("empty bearer", "GET", "/api/v1/users/me", &[("Authorization", "Bearer ")], None, 401),
        case("basic auth", "GET", "/api/v1/users/me", &[("Authorization", "Basic YWRhOnB3")], None, 401),
        case("other user's token reads", "GET", &me, &[("Authorization", bob_auth.as_str())], None, 403),
        case("other user's token writes", "PATCH", &me, &[json_ct, ("Authorization", bob_auth.as_str())], Some(br#"{"nickname":"mallory"}"#), 403),
        case("control characters in nickname", "PATCH", &me, &[json_ct, ("Authorization", ada_auth.as_str())], Some(b"{\"nickname\":\"a\\u0001b\"}"), 422),
        case("javascript avatar", "PATCH", &me, &[json_ct, ("Authorization", ada_auth.as_str())], Some(br#"{"avatar_url":"javascript:alert(1)"}"#), 422),
        case("nickname of wrong type", "PATCH", &me, &[json_ct, ("Authorization", ada_auth.as_str())], Some(br#"{"nickname":5}"#), 422),
        case("status by a non-admin", "PUT", &format!("{me}/status"), &[json_ct, ("Authorization", ada_auth.as_str())], Some(br#"{"status":"locked"}"#), 403),
        case("unknown status", "PUT", &format!("{me}/status"), &[json_ct, ("Authorization", ada_auth.as_str())], Some(br#"{"status":"banned"}"#), 422),
        case("wrong old password", "PUT", &format!("{me}/password"), &[json_ct, ("Authorization", ada_auth.as_str())], Some(br#"{"old_password":"nope nope","new_password":"battery staple"}"#), 422),
        case("delete someone else", "DELETE", &me, &[("Authorization", bob_auth.as_str())], None, 403),
        case("bad user id", "GET", "/api/v1/users/12345", &[("Authorization", ada_auth.as_str())], None, 404),
        case("unknown path", "GET", "/api/v2/everything", &[], None, 404),
        case("wrong method", "DELETE", reg, &[], None, 405),
        case("users prefix without a segment boundary", "GET", "/api/v1/usersme", &[("Authorization", ada_auth.as_str())], None, 404),
        case("empty path segment", "GET", "/api/v1/users//me", &[("Authorization", ada_auth.as_str())], None, 404),
    ];
    for c in &cases {
        let headers: Vec<(&str, &str)> = c.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, resp_headers, body) =
            request(addr, c.method, &c.path, &headers, c.body.as_deref()).await;
        assert_eq!(
            status,
            c.expect,
            "{}: {}",
            c.name,
            String::from_utf8_lossy(&body)
        );
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        assert!(
            parsed["error"]["code"].is_string(),
            "{}: no JSON error body: {}",
            c.name,
            String::from_utf8_lossy(&body)
        );
        assert!(
            resp_headers.iter().any(|(k, _)| k == "x-request-id"),
            "{}",
            c.name
        );
        let (health, _) = testkit::http(addr, "GET", "/health").await;
        assert_eq!(health, 200, "unhealthy after {}", c.name);
    }
    // The user's data survived all of it.
    let (status, body) = api(addr, "GET", "/api/v1/users/me", Some(&ada_token), None).await;
    assert_eq!((status, body["username"].as_str()), (200, Some("ada")));

    // A 405 says which methods the resource has (RFC 9110).
    for (method, path, allow) in [
        ("DELETE", reg, "POST"),
        ("POST", "/api/v1/users/me", "GET"),
        ("PUT", me.as_str(), "GET, PATCH, DELETE"),
        ("GET", &format!("{me}/password"), "PUT"),
        ("POST", "/health", "GET"),
    ] {
        let (status, headers, _) = request(addr, method, path, &[], None).await;
        let allowed = headers
            .iter()
            .find(|(k, _)| k == "allow")
            .map(|(_, v)| v.as_str());
        assert_eq!((status, allowed), (405, Some(allow)), "{method} {path}");
    }

    // One's own e-mail address in another case, non-ASCII letters included, is no conflict.
    let patch = |email: &str| serde_json::json!({ "email": email });
    let (status, _) = api(
        addr,
        "PATCH",
        &me,
        Some(&ada_token),
        Some(patch("Ädä@example.com")),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = api(
        addr,
        "PATCH",
        &me,
        Some(&ada_token),
        Some(patch("äDÄ@example.com")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["email"], "äDÄ@example.com",
        "the new spelling is stored"
    );
    // Someone else's address, in any case, still is.
    let (status, _) = api(
        addr,
        "PATCH",
        &me,
        Some(&ada_token),
        Some(patch("BOB@example.com")),
    )
    .await;
    assert_eq!(status, 409);
    service.stop().await;
}
