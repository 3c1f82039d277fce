//! `http.ops_listen`: `/health`, `/ready` and `/metrics` on a listener of their own. The API's
//! port no longer shows what `/metrics` counts (a wrong password's event counted where an
//! unknown name's is not), and probes are answered while clients hold every API slot.

use std::time::Duration;

use testkit::{Broker, http, start_service};
use tokio::io::AsyncReadExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operational_endpoints_answer_on_their_own_listener_while_the_api_is_full() {
    let broker = Broker::memory().await;
    let data = tempfile::tempdir().unwrap();
    let (service, _) = start_service(&broker.addr, data.path(), |c| {
        c.http.ops_listen = Some("127.0.0.1:0".parse().unwrap());
        c.http.max_connections = 4;
        c.http.max_connections_per_client = 4;
    })
    .await;
    let (api, ops) = (service.local_addr(), service.ops_addr());
    assert_ne!(api, ops);

    for path in ["/health", "/ready", "/metrics"] {
        let (status, body) = http(api, "GET", path).await;
        assert_eq!(status, 404, "{path} on the API's port: {body}");
        assert!(body.contains("served on http.ops_listen"), "{body}");
    }
    let (status, _) = http(api, "GET", "/openapi.yaml").await;
    assert_eq!(status, 200, "the API's document stays with the API");
    let (status, body) = http(ops, "GET", "/metrics").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("usercenter_producer_records_total"), "{body}");
    for path in ["/api/v1/users/me", "/openapi.yaml"] {
        let (status, body) = http(ops, "GET", path).await;
        assert_eq!(status, 404, "{path} on the operational port: {body}");
        assert!(
            body.contains("serves /health, /ready and /metrics only"),
            "{body}"
        );
    }

    // Four idle clients hold every slot of the API: a fifth is refused, the probe is not.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(tokio::net::TcpStream::connect(api).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut refused = tokio::net::TcpStream::connect(api).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), refused.read_to_end(&mut answer)).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 503"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let (status, body) = http(ops, "GET", "/health").await;
    assert_eq!(status, 200, "{body}");
    drop(idle);
    service.stop().await;
}

/// A port already taken on `http.ops_listen` is said under that setting's name, not the API's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_ops_port_names_http_ops_listen() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut config = testkit::config("127.0.0.1:9", data.path());
    config.http.ops_listen = Some(taken.local_addr().unwrap());
    let refused = usercenter::service::start(config).await.err();
    let said = refused.map(|e| e.to_string()).unwrap_or_default();
    let expected = format!("http.ops_listen {}: ", taken.local_addr().unwrap());
    assert!(said.starts_with(&expected), "{said}");
}
