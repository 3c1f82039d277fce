use super::template;

#[test]
fn paths_map_to_their_templates() {
    let id = "0b5e3f3c-6a1f-4b8e-9d1a-2f7c1e0a9b44";
    for (path, want) in [
        ("/health", "/health"),
        ("/metrics", "/metrics"),
        ("/openapi.yaml", "/openapi.yaml"),
        ("/api/v1/users/register", "/api/v1/users/register"),
        ("/api/v1/users/login", "/api/v1/users/login"),
        ("/api/v1/users/logout", "/api/v1/users/logout"),
        ("/api/v1/users/me", "/api/v1/users/me"),
        (&format!("/api/v1/users/{id}"), "/api/v1/users/{id}"),
        (
            &format!("/api/v1/users/{id}/password"),
            "/api/v1/users/{id}/password",
        ),
        (
            &format!("/api/v1/users/{id}/status"),
            "/api/v1/users/{id}/status",
        ),
    ] {
        assert_eq!(template(path), want, "{path}");
    }
}

#[test]
fn anything_else_is_other() {
    let id = "0b5e3f3c-6a1f-4b8e-9d1a-2f7c1e0a9b44";
    for path in [
        "/",
        "/nope",
        "/health/",
        "/api/v1/users",
        "/api/v1/users/",
        "/api/v1/users/login/",
        "/api/v1/users//me",
        &format!("/api/v1/users/{id}/"),
        &format!("/api/v1/users/{id}/status/"),
        "/api/v1/users/not-a-uuid",
        "/api/v1/users/not-a-uuid/password",
        &format!("/api/v1/users/{id}/avatar"),
        &format!("/api/v1/users/{id}/password/x"),
        "/api/v2/users/me",
    ] {
        assert_eq!(template(path), "other", "{path}");
    }
}

/// The label agrees with the router: a path the router has no endpoint for is `other`, and a
/// path it serves (or answers 405 on) has its template.
#[test]
fn other_is_what_the_router_does_not_serve() {
    use hyper::Method;

    use crate::http::{api::Endpoint, error::ApiError};

    let id = "0b5e3f3c-6a1f-4b8e-9d1a-2f7c1e0a9b44";
    let tails = [
        "register",
        "login",
        "logout",
        "me",
        "me/",
        "login/",
        "",
        "/me",
        "x",
        id,
        // Other spellings of that UUID: simple, braced, URN.
        "0b5e3f3c6a1f4b8e9d1a2f7c1e0a9b44",
        "{0b5e3f3c-6a1f-4b8e-9d1a-2f7c1e0a9b44}",
        "urn:uuid:0b5e3f3c-6a1f-4b8e-9d1a-2f7c1e0a9b44",
        "nope/password",
    ];
    for tail in tails {
        for suffix in [
            "",
            "/",
            "/password",
            "/status",
            "/status/",
            "//status",
            "/avatar",
        ] {
            let path = format!("/api/v1/users/{tail}{suffix}");
            for method in [Method::GET, Method::POST, Method::PUT, Method::DELETE] {
                let routed = !matches!(Endpoint::parse(&method, &path), Err(ApiError::NotFound(_)));
                assert_eq!(template(&path) != "other", routed, "{method} {path}");
            }
        }
    }
}
