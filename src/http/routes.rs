//! Routing by hand: method and path to a handler, JSON in and out.
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode, header};
use serde_json::json;

use super::AppState;

/// Response body type of every handler.
pub type Body = Full<Bytes>;

/// Routes one request.
pub async fn handle<B>(state: &AppState, req: Request<B>) -> Response<Body> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/health") => health(state),
        (&Method::GET, "/metrics") => metrics(state),
        (_, "/health") => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "use GET",
        ),
        _ => error(StatusCode::NOT_FOUND, "not_found", "no such endpoint"),
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

/// `GET /metrics`: Prometheus text.
fn metrics(state: &AppState) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(state.render_metrics())));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

/// A JSON error body: `{"error": {"code", "message"}}`.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    json_response(
        status,
        &json!({ "error": { "code": code, "message": message } }),
    )
}

/// A JSON response with the given status.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    async fn call(state: &AppState, method: Method, path: &str) -> (StatusCode, serde_json::Value) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .unwrap();
        let resp = handle(state, req).await;
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap())
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
    async fn unknown_paths_and_methods_get_json_errors() {
        let state = AppState::default();
        let (status, body) = call(&state, Method::GET, "/nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["code"], "not_found");
        let (status, _) = call(&state, Method::POST, "/health").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    }
}
