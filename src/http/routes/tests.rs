use std::{convert::Infallible, time::Duration};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;

use super::*;
use crate::{
    consumer::ConsumerMetrics,
    producer::ProducerMetrics,
    store::{RedbStore, Store},
    users::Users,
};

/// A complete state over a fresh store, as `service::start` builds it.
fn state(max_backlog: u64) -> (tempfile::TempDir, AppState) {
    let (dir, state, _) = state_and_producer_metrics(max_backlog);
    (dir, state)
}

/// [`state`], and the producer metrics it shows.
fn state_and_producer_metrics(
    max_backlog: u64,
) -> (tempfile::TempDir, AppState, Arc<ProducerMetrics>) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    let producer = Arc::new(ProducerMetrics::default());
    let kafka_metrics: Vec<Arc<dyn crate::metrics::RenderMetrics>> =
        vec![producer.clone(), Arc::new(ConsumerMetrics::default())];
    let state = state_over(store, max_backlog, kafka_metrics);
    (dir, state, producer)
}

/// The state over `store`, showing `kafka_metrics`.
fn state_over(
    store: Arc<dyn Store>,
    max_backlog: u64,
    kafka_metrics: Vec<Arc<dyn crate::metrics::RenderMetrics>>,
) -> AppState {
    let users = Users::new(
        Arc::clone(&store),
        42,
        "user.events",
        Duration::from_secs(3600),
    )
    .unwrap();
    AppState::new(store, Arc::new(users), max_backlog, kafka_metrics)
}

type TestBody = BoxBody<Bytes, Infallible>;

fn empty() -> TestBody {
    Empty::new().boxed()
}

fn json_body(value: &serde_json::Value) -> TestBody {
    Full::new(Bytes::from(value.to_string())).boxed()
}

/// A body that never sends a byte and never ends.
fn stalled() -> TestBody {
    BodyExt::boxed(StreamBody::new(futures::stream::pending::<
        Result<Frame<Bytes>, Infallible>,
    >()))
}

async fn send(
    state: &AppState,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: TestBody,
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    // Far beyond the body deadline: a request the router never finishes fails the test.
    let resp = tokio::time::timeout(
        Duration::from_secs(60),
        handle(
            state,
            Serves::Everything,
            ([127, 0, 0, 1], 1).into(),
            req.body(body).unwrap(),
        ),
    )
    .await
    .expect("the router answers");
    let status = resp.status();
    assert!(resp.headers().contains_key("x-request-id"));
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

async fn call(state: &AppState, method: Method, path: &str) -> (StatusCode, serde_json::Value) {
    send(state, method, path, &[], empty()).await
}

const JSON: (&str, &str) = ("content-type", "application/json");

/// `POST /api/v1/users/register` of the user `ada`.
async fn register_ada(state: &AppState) -> (StatusCode, serde_json::Value) {
    let ada = json!({"username": "ada", "email": "ada@example.com", "password": "correct horse"});
    let register = "/api/v1/users/register";
    send(state, Method::POST, register, &[JSON], json_body(&ada)).await
}

#[tokio::test]
async fn health_reports_kafka_state() {
    let (_dir, state) = state(10_000);
    let (status, body) = call(&state, Method::GET, "/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["kafka"], "connecting");
    state.set_kafka_ready(true);
    let (_, body) = call(&state, Method::GET, "/health").await;
    assert_eq!(body["kafka"], "ready");
}

/// A store that failed for good (as a redb file after an I/O error says it did).
#[derive(Debug)]
struct Failed(RedbStore);

impl Store for Failed {
    fn read(
        &self,
        f: &mut dyn FnMut(&dyn crate::store::ReadTxn) -> crate::store::Result<()>,
    ) -> crate::store::Result<()> {
        self.0.read(f)
    }

    fn write(
        &self,
        f: &mut dyn FnMut(&mut dyn crate::store::WriteTxn) -> crate::store::Result<()>,
    ) -> crate::store::Result<()> {
        self.0.write(f)
    }

    fn failed(&self) -> Option<String> {
        Some("store: I/O error: No space left on device".into())
    }
}

#[tokio::test]
async fn health_fails_once_the_store_failed_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(Failed(RedbStore::open(dir.path()).unwrap()));
    let state = state_over(store, 10, Vec::new());
    let (status, body) = call(&state, Method::GET, "/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "store_failed", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("restart") && !m.contains("No space")),
        "what failed is in the log, not in the answer: {body}"
    );
}

#[tokio::test]
async fn ready_says_why_not_and_uses_the_configured_backlog_bound_as_is() {
    let (_dir, state) = state(0);
    let (status, body) = call(&state, Method::GET, "/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["reasons"][0], "Kafka not reached yet", "{body}");
    state.set_kafka_ready(true);
    let (status, body) = call(&state, Method::GET, "/ready").await;
    assert_eq!(
        (status, &body["outbox_backlog"]),
        (StatusCode::OK, &0.into())
    );
    // One registration leaves one outbox row: over a bound of 0 (not "the default"), once
    // the last reading of the outbox is no longer fresh.
    let (status, _) = register_ada(&state).await;
    assert_eq!(status, StatusCode::CREATED);
    tokio::time::sleep(crate::http::outbox_gauges::FRESH).await;
    let (status, body) = call(&state, Method::GET, "/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["reasons"][0], "outbox backlog 1 over 0", "{body}");
}

#[tokio::test]
async fn pipeline_metrics_are_listed_once_kafka_is_ready() {
    let (_dir, state, producer) = state_and_producer_metrics(10_000);
    let text = state.render_metrics();
    assert!(text.contains("usercenter_kafka_ready 0"), "{text}");
    assert!(!text.contains("usercenter_producer_"), "{text}");
    state.set_kafka_ready(true);
    producer.records_sent.add(3);
    let text = state.render_metrics();
    assert!(
        text.contains("usercenter_producer_records_total 3"),
        "{text}"
    );
    assert!(text.contains("usercenter_consumer_"), "{text}");
}

#[tokio::test]
async fn unknown_paths_and_methods_get_json_errors() {
    let (_dir, state) = state(10_000);
    let (status, body) = call(&state, Method::GET, "/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(body["error"]["message"], "no such endpoint");
    let (status, body) = call(&state, Method::POST, "/health").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["message"], "use GET");
    let (status, _) = call(&state, Method::GET, "/api/v1/users/register").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, body) = call(&state, Method::GET, "/api/v1/users/not-a-uuid").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["message"], "no such user");
    // A UUID in another form than the hyphenated one the document names is not an id.
    for other in [
        "0190d4b8a1b27c3d8e4f5a6b7c8d9e0f",
        "{0190d4b8-a1b2-7c3d-8e4f-5a6b7c8d9e0f}",
        "urn:uuid:0190d4b8-a1b2-7c3d-8e4f-5a6b7c8d9e0f",
    ] {
        let (status, body) = call(&state, Method::GET, &format!("/api/v1/users/{other}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{other}");
        assert_eq!(body["error"]["message"], "no such user", "{other}");
    }
}

#[tokio::test]
async fn a_registered_user_reads_itself_with_its_token() {
    let (_dir, state) = state(10_000);
    let (status, body) = register_ada(&state).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let auth = format!("Bearer {}", body["token"].as_str().unwrap());
    let (status, me) = send(
        &state,
        Method::GET,
        "/api/v1/users/me",
        &[("authorization", &auth)],
        empty(),
    )
    .await;
    assert_eq!((status, &me["username"]), (StatusCode::OK, &"ada".into()));
    // The scheme's name is case-insensitive (RFC 9110 11.1).
    let lower = auth.replacen("Bearer", "bEARER", 1);
    let (status, _) = send(
        &state,
        Method::GET,
        "/api/v1/users/me",
        &[("authorization", &lower)],
        empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(&state, Method::GET, "/api/v1/users/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["message"], "send Authorization: Bearer TOKEN");
}

#[tokio::test(start_paused = true)]
async fn a_body_that_stalls_gets_408_and_one_that_is_not_wanted_is_not_waited_for() {
    let (_dir, state) = state(10_000);
    let (status, body) = send(
        &state,
        Method::POST,
        "/api/v1/users/register",
        &[JSON],
        stalled(),
    )
    .await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(body["error"]["code"], "request_timeout");
    // `GET /me` takes no body: the router answers without reading it.
    let (status, _) = send(&state, Method::GET, "/api/v1/users/me", &[], stalled()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[test]
fn request_ids_are_taken_only_when_sane() {
    let with = |v: &str| {
        Request::builder()
            .header("x-request-id", v)
            .body(())
            .unwrap()
    };
    assert_eq!(request_id(&with("abc-123")), "abc-123");
    assert_ne!(request_id(&with(&"x".repeat(200))), "x".repeat(200));
    assert_eq!(request_id(&with("has space")).len(), 36);
}

/// Behind a trusted proxy the throttles count the client `X-Forwarded-For` names, not the
/// proxy: one client's failures do not answer 429 to another's logins. From a peer that is no
/// trusted proxy the header changes nothing.
#[tokio::test]
async fn behind_a_trusted_proxy_the_login_throttle_counts_the_forwarded_client() {
    let login = "/api/v1/users/login";
    let body = || json_body(&json!({"username": "nobody", "password": "wrong password"}));
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    let limits = crate::users::AuthLimits {
        per_ip: 2,
        ..Default::default()
    };
    let users = Users::new(Arc::clone(&store), 42, "t", Duration::from_secs(3600))
        .unwrap()
        .with_limits(&limits);
    let users = Arc::new(users);
    let trusted = crate::http::TrustedProxies::new(vec!["127.0.0.0/8".parse().unwrap()]);
    let behind = AppState::new(Arc::clone(&store), Arc::clone(&users), 10, Vec::new())
        .with_trusted_proxies(trusted);
    let from = |client| [JSON, ("x-forwarded-for", client)];
    for _ in 0..2 {
        let (status, _) = send(&behind, Method::POST, login, &from("198.51.100.1"), body()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = send(&behind, Method::POST, login, &from("198.51.100.1"), body()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the same client");
    let (status, _) = send(&behind, Method::POST, login, &from("198.51.100.2"), body()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "another client");
    // Without trust the header is the client's word: every request is the peer's.
    let direct = AppState::new(store, users, 10, Vec::new());
    for client in ["203.0.113.1", "203.0.113.2"] {
        let (status, _) = send(&direct, Method::POST, login, &from(client), body()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{client}");
    }
    let (status, _) = send(&direct, Method::POST, login, &from("203.0.113.3"), body()).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "127.0.0.1 failed twice"
    );
}
