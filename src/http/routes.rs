//! Routing by hand: request ids, the operational endpoints, then the user API. The router
//! reads a user endpoint's body (once, whole, under the size limit and the body deadline) and
//! turns every [`ApiError`] into its response here, in one place.
use std::{net::SocketAddr, sync::Arc};

use hyper::{Method, Request, Response, StatusCode, body::Body as HttpBody, header};
use serde_json::json;
use tracing::Instrument;

use super::{
    AppState,
    api::{ApiCall, Endpoint},
    body,
    error::ApiError,
    reply::{Body, error_body, json_response, text_response},
};
use crate::users::{ClientGone, RequestCtx};

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

/// Which endpoints a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serves {
    /// The API, `/openapi.yaml` and the operational endpoints (`http.ops_listen` unset).
    Everything,
    /// The API and `/openapi.yaml`: the operational endpoints have a listener of their own.
    Api,
    /// `/health`, `/ready` and `/metrics` only (`http.ops_listen`).
    Operations,
}

/// The operational endpoints, which `http.ops_listen` moves to a listener of their own.
const OPERATIONS: [&str; 3] = ["/health", "/ready", "/metrics"];

/// Routes one request from `peer` to what this listener `serves`.
pub async fn handle<B>(
    state: &AppState,
    serves: Serves,
    peer: SocketAddr,
    req: Request<B>,
) -> Response<Body>
where
    B: HttpBody,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let id = request_id(&req);
    let counted = state.begin_request(req.method(), req.uri().path());
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let operational = OPERATIONS.contains(&req.uri().path());
    let elsewhere = match serves {
        Serves::Everything => None,
        Serves::Api => operational.then_some("served on http.ops_listen, not on this port"),
        Serves::Operations => {
            (!operational).then_some("this port serves /health, /ready and /metrics only")
        }
    };
    let routed = if let Some(there) = elsewhere {
        Err(ApiError::NotFound(there))
    } else {
        route(state, peer, id.clone(), req)
            .instrument(span.clone())
            .await
    };
    let mut response = routed.unwrap_or_else(ApiError::into_response);
    span.in_scope(|| tracing::debug!(status = response.status().as_u16(), "response"));
    counted.finish(response.status().as_u16());
    if let Ok(v) = header::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

async fn route<B>(
    state: &AppState,
    peer: SocketAddr,
    id: String,
    req: Request<B>,
) -> Result<Response<Body>, ApiError>
where
    B: HttpBody,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    match (&parts.method, path) {
        (&Method::GET, "/health") => return Ok(health(state)),
        (&Method::GET, "/ready") => return Ok(ready(state).await),
        (&Method::GET, "/metrics") => return Ok(metrics(state).await),
        (&Method::GET, "/openapi.yaml") => return Ok(text_response(OPENAPI, "application/yaml")),
        (_, "/health" | "/ready" | "/metrics" | "/openapi.yaml") => {
            return Err(ApiError::MethodNotAllowed("GET"));
        }
        _ => {}
    }
    let endpoint = Endpoint::parse(&parts.method, path)?;
    let body = if endpoint.takes_body() {
        body::read(body, body::BODY_DEADLINE).await?
    } else {
        bytes::Bytes::new()
    };
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
        ip: state
            .trusted_proxies
            .client(peer.ip(), &parts.headers)
            .to_string(),
        user_agent,
        client_gone: ClientGone::default(),
    };
    // Dropped with this future when the client goes away mid-request: a password hash still
    // queued for it is then skipped.
    let _client_gone = ctx.client_gone.set_on_drop();
    let call = ApiCall {
        users: Arc::clone(&state.users),
        ctx,
        headers: &parts.headers,
        body,
    };
    endpoint.call(call).await
}

/// `GET /health`: the process is alive, unless its store failed for good (a redb file after
/// an I/O error or a commit that failed part-way: 503, so that a supervisor restarts it).
/// Also says whether Kafka is ready, for humans.
fn health(state: &AppState) -> Response<Body> {
    let kafka = if state.kafka_ready() {
        "ready"
    } else {
        "connecting"
    };
    if state.store.failed().is_some() {
        // The API's error shape (the contract's `Unavailable`). What failed is in the log
        // (once, by the store), not in an answer anyone who reaches the port may read.
        let body = error_body(
            "store_failed",
            "the store failed for good; restart the process (the log says why)",
            None,
        );
        return json_response(StatusCode::SERVICE_UNAVAILABLE, &body);
    }
    json_response(StatusCode::OK, &json!({ "status": "ok", "kafka": kafka }))
}

/// `GET /ready`: 200 when Kafka has been reached (topics ready) since start and the outbox
/// backlog is under its bound; 503 with the reasons otherwise. A later Kafka outage shows as a
/// growing backlog, not as "not reachable". The backlog is a store read, which blocks (on
/// PostgreSQL it waits for the server): one at a time for every caller, on the blocking pool,
/// waited for at most [`STORE_WAIT`](super::outbox_gauges::STORE_WAIT)
/// ([`OutboxGauges`](super::outbox_gauges::OutboxGauges)).
async fn ready(state: &AppState) -> Response<Body> {
    let mut reasons = Vec::new();
    if !state.kafka_ready() {
        reasons.push("Kafka not reached yet".to_owned());
    }
    let backlog = outbox_gauges(state).await.map(|r| r.backlog);
    match backlog {
        Some(n) if n > state.max_backlog => {
            reasons.push(format!("outbox backlog {n} over {}", state.max_backlog));
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

/// The outbox gauges for `/ready` and `/metrics`; when the store does not answer within
/// [`STORE_WAIT`](super::outbox_gauges::STORE_WAIT), the last reading of the past minute;
/// `None` without one (`/ready` then says "outbox unreadable"; `/metrics` leaves the outbox
/// gauges out).
async fn outbox_gauges(state: &AppState) -> Option<super::OutboxReading> {
    state
        .outbox_gauges
        .read(&state.store, AppState::read_outbox)
        .await
}

/// `GET /metrics`: Prometheus text. The outbox gauges are a store read, shared with `/ready`
/// and bounded by [`STORE_WAIT`](super::outbox_gauges::STORE_WAIT).
async fn metrics(state: &AppState) -> Response<Body> {
    let outbox = outbox_gauges(state).await;
    text_response(
        &state.render_metrics_with(outbox),
        "text/plain; version=0.0.4",
    )
}

#[cfg(test)]
mod tests;
