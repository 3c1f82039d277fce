use super::template;

#[test]
fn paths_map_to_their_templates() {
    let id = "0b5e3f3c-6a1f-4b8e-9d1a-2f7c1e0a9b44";
    for (path, want) in [
        ("/health", "/health"),
        ("/metrics", "/metrics"),
        ("/openapi.yaml", "/openapi.yaml"),
        ("/api/v1/users/register", "/api/v1/users/register"),
        ("/api/v1/users/login/", "/api/v1/users/login"),
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
        "/api/v1/users/not-a-uuid",
        "/api/v1/users/not-a-uuid/password",
        &format!("/api/v1/users/{id}/avatar"),
        &format!("/api/v1/users/{id}/password/x"),
        "/api/v2/users/me",
    ] {
        assert_eq!(template(path), "other", "{path}");
    }
}
