use super::*;

fn settings() -> ConnectSettings {
    ConnectSettings {
        client_id: Arc::from("test"),
        tls: None,
        sasl: None,
        connect_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_millis(500),
    }
}

#[tokio::test]
async fn without_bootstrap_brokers_nothing_connects() {
    let client = Client::new(Vec::new(), settings());
    assert!(matches!(
        client.any(Purpose::Admin).await,
        Err(ClientError::NoBootstrap)
    ));
    assert!(client.open_connections().is_empty());
}

#[tokio::test]
async fn an_unreachable_broker_is_a_connect_error_and_nothing_stays_open() {
    // A port nobody listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let client = Client::new(vec![format!("127.0.0.1:{port}")], settings());
    let error = client.refresh(None).await.unwrap_err();
    assert!(matches!(error, ClientError::Connect(_)), "{error}");
    assert!(client.open_connections().is_empty());
}

#[test]
fn unknown_topic_is_recognised_by_name() {
    let unknown = ClientError::Topic {
        topic: "t".into(),
        code: ErrorCode::new(3),
    };
    assert!(unknown.is_unknown_topic());
    let other = ClientError::Topic {
        topic: "t".into(),
        code: ErrorCode::new(29),
    };
    assert!(!other.is_unknown_topic());
}
