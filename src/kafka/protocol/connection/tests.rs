use super::*;

fn settings(timeout: Duration) -> ConnectSettings {
    ConnectSettings {
        client_id: Arc::from("test"),
        tls: None,
        sasl: None,
        connect_timeout: timeout,
        request_timeout: timeout,
    }
}

#[test]
fn server_names_drop_port_and_brackets() {
    assert_eq!(
        server_name("kafka-1.example.com:9093").unwrap().to_str(),
        "kafka-1.example.com"
    );
    assert_eq!(server_name("[::1]:9093").unwrap().to_str(), "::1");
    assert_eq!(server_name("127.0.0.1:9093").unwrap().to_str(), "127.0.0.1");
    assert!(matches!(
        server_name("no-port"),
        Err(ConnectError::Address { .. })
    ));
    assert!(matches!(
        server_name("bad host:1"),
        Err(ConnectError::Address { .. })
    ));
}

#[tokio::test]
async fn refused_and_silent_brokers_are_errors() {
    // Nothing listens: the connect fails.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = Connection::connect(
        &format!("127.0.0.1:{port}"),
        &settings(Duration::from_secs(5)),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ConnectError::Io { .. }), "{err:?}");

    // A listener that accepts and never answers ApiVersions: the connect times out.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let _keep = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let err = Connection::connect(&addr, &settings(Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::Timeout { .. }), "{err:?}");
}
