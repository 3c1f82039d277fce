//! Routing by hand: request ids, the operational endpoints, then the user API.
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode, body::Body as HttpBody, header};
use serde_json::json;
use tracing::Instrument;

use super::{
    AppState, api,
    reply::{Body, api_error, json_response},
};
use crate::users::RequestCtx;

/// The OpenAPI document of the API, served at `/openapi.yaml`.
pub const OPENAPI: &str = include_str!("openapi.yaml");

/// Accepts a client's `X-Request-Id` when it is 1-128 visible ASCII characters; otherwise a
/// new UUID.
fn request_id<B>(req: &Request<B>) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| (1..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// Routes one request from `peer`.
pub async fn handle<B>(state: &AppState, peer: SocketAddr, req: Request<B>) -> Response<Body>
where
    B: HttpBody,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let id = request_id(&req);
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let mut response = route(state, peer, id.clone(), req)
        .instrument(span.clone())
        .await;
    span.in_scope(|| tracing::debug!(status = response.status().as_u16(), "response"));
    if let Ok(v) = header::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

async fn route<B>(state: &AppState, peer: SocketAddr, id: String, req: Request<B>) -> Response<Body>
where
    B: HttpBody,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    match (&parts.method, path) {
        (&Method::GET, "/health") => return health(state),
        (&Method::GET, "/ready") => return ready(state),
        (&Method::GET, "/metrics") => return metrics(state),
        (&Method::GET, "/openapi.yaml") => return text(OPENAPI, "application/yaml"),
        (_, "/health" | "/ready" | "/metrics" | "/openapi.yaml") => {
            return api_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "use GET",
                None,
            );
        }
        _ => {}
    }
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(256)
        .collect();
    let ctx = RequestCtx {
        request_id: id,
        ip: peer.ip().to_string(),
        user_agent,
    };
    match api::route(state, ctx, &parts.method, path, &parts.headers, body).await {
        Some(response) => response,
        None => api_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint", None),
    }
}

/// `GET /health`: the process is alive. Also says whether Kafka is ready, for humans.
fn health(state: &AppState) -> Response<Body> {
    let kafka = if state.kafka_ready() {
        "ready"
    } else {
        "connecting"
    };
    json_response(StatusCode::OK, &json!({ "status": "ok", "kafka": kafka }))
}

/// `GET /ready`: 200 when the store is open, Kafka has been reached (topics ready) since start
/// and the outbox backlog is under its bound; 503 with the reasons otherwise. A later Kafka
/// outage shows as a growing backlog, not as "not reachable".
fn ready(state: &AppState) -> Response<Body> {
    let mut reasons = Vec::new();
    if state.users.get().is_none() {
        reasons.push("store not open".to_owned());
    }
    if !state.kafka_ready() {
        reasons.push("Kafka not reached yet".to_owned());
    }
    let backlog = state.outbox_backlog();
    match backlog {
        Some(n) if n > state.max_backlog() => {
            reasons.push(format!("outbox backlog {n} over {}", state.max_backlog()));
        }
        None => reasons.push("outbox unreadable".to_owned()),
        _ => {}
    }
    let status = if reasons.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(
        status,
        &json!({ "ready": reasons.is_empty(), "reasons": reasons, "outbox_backlog": backlog }),
    )
}

/// `GET /metrics`: Prometheus text.
fn metrics(state: &AppState) -> Response<Body> {
    text(&state.render_metrics(), "text/plain; version=0.0.4")
}

fn text(body: &str, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, Empty};

    use super::*;

    async fn call(state: &AppState, method: Method, path: &str) -> (StatusCode, serde_json::Value) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Empty::<Bytes>::new())
            .unwrap();
        let resp = handle(state, ([127, 0, 0, 1], 1).into(), req).await;
        let status = resp.status();
        assert!(resp.headers().contains_key("x-request-id"));
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        )
    }

    #[tokio::test]
    async fn health_reports_kafka_state() {
        let state = AppState::default();
        let (status, body) = call(&state, Method::GET, "/health").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["kafka"], "connecting");
        state.set_kafka_ready(true);
        let (_, body) = call(&state, Method::GET, "/health").await;
        assert_eq!(body["kafka"], "ready");
    }

    #[tokio::test]
    async fn not_ready_says_why() {
        let state = AppState::default();
        let (status, body) = call(&state, Method::GET, "/ready").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body["reasons"].as_array().unwrap().len() >= 2, "{body}");
    }

    #[tokio::test]
    async fn unknown_paths_and_methods_get_json_errors() {
        let state = AppState::default();
        let (status, body) = call(&state, Method::GET, "/nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["code"], "not_found");
        let (status, _) = call(&state, Method::POST, "/health").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        let (status, _) = call(&state, Method::GET, "/api/v1/users/register").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        let (status, _) = call(&state, Method::GET, "/api/v1/users/not-a-uuid").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
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
}
