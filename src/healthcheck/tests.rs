use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

#[test]
fn unspecified_listen_addresses_are_reached_on_loopback() {
    assert_eq!(
        url_for("0.0.0.0:8080".parse().unwrap()),
        "http://127.0.0.1:8080/health"
    );
    assert_eq!(
        url_for("[::]:80".parse().unwrap()),
        "http://[::1]:80/health"
    );
    assert_eq!(
        url_for("10.1.2.3:9000".parse().unwrap()),
        "http://10.1.2.3:9000/health"
    );
}

/// A one-shot server that answers the first request with `response`.
async fn answer(response: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = socket.read(&mut buf).await;
        socket.write_all(response.as_bytes()).await.unwrap();
    });
    format!("http://{addr}/health")
}

#[tokio::test]
async fn ok_answer_passes_and_others_fail() {
    let url = answer("HTTP/1.1 200 OK\r\ncontent-length: 15\r\n\r\n{\"status\":\"ok\"}").await;
    let body = check(&url, Duration::from_secs(5)).await.unwrap();
    assert_eq!(body, "{\"status\":\"ok\"}");

    let url = answer("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\ndown").await;
    let err = check(&url, Duration::from_secs(5)).await.unwrap_err();
    assert!(err.to_string().ends_with("HTTP 503: down"), "{err}");
}

#[tokio::test]
async fn silence_times_out_and_nothing_listening_fails() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/health", listener.local_addr().unwrap());
    let err = check(&url, Duration::from_millis(200)).await.unwrap_err();
    assert!(matches!(err, HealthError::Timeout { .. }), "{err}");
    drop(listener);
    let err = check(&url, Duration::from_secs(5)).await.unwrap_err();
    assert!(err.to_string().contains("cannot connect"), "{err}");
    let err = check("https://x/health", Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, HealthError::Url { .. }), "{err}");
}
