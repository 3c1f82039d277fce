use http_body_util::BodyExt;

use super::*;
use crate::store::RedbStore;

/// Asserts `error`'s response: status, JSON content type and the whole error body.
async fn check(error: ApiError, status: u16, code: &str, message: &str, field: Option<&str>) {
    let response = error.into_response();
    assert_eq!(response.status().as_u16(), status, "{code}");
    assert_eq!(
        response.headers()[hyper::header::CONTENT_TYPE],
        "application/json"
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "error": { "code": code, "message": message, "field": field } })
    );
}

/// Asserts the response of a user error, whose message is its own text.
async fn check_user(error: UserError, status: u16, code: &str, field: Option<&str>) {
    let message = error.to_string();
    check(ApiError::from(error), status, code, &message, field).await;
}

#[tokio::test]
async fn edge_errors_have_their_status_code_and_message() {
    let media = "send Content-Type: application/json";
    check(
        ApiError::UnsupportedMediaType,
        415,
        "unsupported_media_type",
        media,
        None,
    )
    .await;
    let large = ApiError::PayloadTooLarge { limit: 65536 };
    let large_message = "the body is limited to 65536 bytes";
    check(large, 413, "payload_too_large", large_message, None).await;
    let slow = ApiError::RequestTimeout {
        deadline: Duration::from_secs(10),
    };
    let slow_message = "the body did not arrive within 10s";
    check(slow, 408, "request_timeout", slow_message, None).await;
    let broken = ApiError::BadBody("reset".into());
    check(broken, 400, "bad_body", "the body could not be read", None).await;
    let login = ApiError::Invalid {
        field: "username",
        message: "give username or email",
    };
    let login_message = "give username or email";
    check(login, 422, "invalid_field", login_message, Some("username")).await;
    let token = "send Authorization: Bearer TOKEN";
    check(ApiError::MissingToken, 401, "unauthorized", token, None).await;
    check(
        ApiError::NotFound("no such user"),
        404,
        "not_found",
        "no such user",
        None,
    )
    .await;
    check(
        ApiError::MethodNotAllowed("GET"),
        405,
        "method_not_allowed",
        "use GET",
        None,
    )
    .await;
}

#[test]
fn a_401_names_the_bearer_scheme() {
    for error in [
        ApiError::MissingToken,
        ApiError::User(UserError::Unauthorized),
    ] {
        let response = error.into_response();
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }
    let other = ApiError::User(UserError::Forbidden).into_response();
    assert!(other.headers().get(header::WWW_AUTHENTICATE).is_none());
}

#[test]
fn method_not_allowed_lists_the_allowed_methods() {
    let response = ApiError::MethodNotAllowed("GET, PATCH, DELETE").into_response();
    assert_eq!(response.headers()[header::ALLOW], "GET, PATCH, DELETE");
    let other = ApiError::NotFound("no such user").into_response();
    assert!(other.headers().get(header::ALLOW).is_none());
}

#[tokio::test]
async fn a_full_hashing_pool_is_503_with_retry_after() {
    check_user(UserError::HashingBusy, 503, "hashing_busy", None).await;
    let response = ApiError::User(UserError::HashingBusy).into_response();
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    let other = ApiError::User(UserError::Unauthorized).into_response();
    assert!(other.headers().get(header::RETRY_AFTER).is_none());
}

#[tokio::test]
async fn user_errors_map_to_their_status() {
    let invalid = UserError::Invalid {
        field: "email",
        message: "not an e-mail address".into(),
    };
    check_user(invalid, 422, "invalid_field", Some("email")).await;
    let taken = UserError::Conflict { field: "username" };
    check_user(taken, 409, "conflict", Some("username")).await;
    check_user(UserError::Unauthorized, 401, "unauthorized", None).await;
    check_user(UserError::Forbidden, 403, "forbidden", None).await;
    check_user(UserError::NotFound, 404, "not_found", None).await;
    check_user(UserError::Throttled, 429, "too_many_attempts", None).await;
    check_user(
        UserError::TooManyChanges,
        429,
        "too_many_changes",
        Some("email"),
    )
    .await;
    // A real store failure: a data directory under a file.
    let file = tempfile::NamedTempFile::new().unwrap();
    let store_error = RedbStore::open(&file.path().join("data")).unwrap_err();
    // Its text is the log's, not the client's.
    check(
        ApiError::from(UserError::Store(store_error)),
        503,
        "store_unavailable",
        STORE_UNAVAILABLE,
        None,
    )
    .await; // A row that does not decode: corruption, which a retry does not help against.
    let undecodable = crate::store::StoreError::KeyLength {
        table: "users",
        len: 3,
    };
    let corrupt = ApiError::from(UserError::from(undecodable));
    check(corrupt, 500, "internal", INTERNAL, None).await;
    // PostgreSQL's row of an unknown status or role.
    let unknown = crate::store::StoreError::KeyFormat {
        table: "users",
        reason: "unknown status or role in the row",
    };
    let corrupt = ApiError::from(UserError::from(unknown));
    check(corrupt, 500, "internal", INTERNAL, None).await;
}

#[tokio::test]
async fn decode_errors_keep_serdes_message() {
    let source = serde_json::from_str::<u8>("\"x\"").unwrap_err();
    let message = source.to_string();
    let shape = ApiError::InvalidShape {
        field: Some("age".into()),
        source,
    };
    check(shape, 422, "invalid_field", &message, Some("age")).await;
    let source = serde_json::from_str::<u8>("{").unwrap_err();
    let message = source.to_string();
    check(
        ApiError::InvalidJson(source),
        400,
        "invalid_json",
        &message,
        None,
    )
    .await;
}

#[tokio::test]
async fn a_failed_task_is_internal() {
    let join = tokio::spawn(async { panic!("boom") }).await.unwrap_err();
    check(ApiError::Task(join), 500, "internal", INTERNAL, None).await;
}
