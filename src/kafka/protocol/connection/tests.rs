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
    let (addr, _, _keep) = crate::kafka::testing::silent_broker().await;
    let err = Connection::connect(&addr, &settings(Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::Timeout { .. }), "{err:?}");
}

/// A broker on loopback that answers ApiVersions (ApiVersions and ListGroups up to v5) and
/// every ListGroups with a throttle of `throttle_ms`, on one connection: its address and the
/// ListGroups requests it read.
async fn throttling_broker(throttle_ms: i32) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use kafka_protocol::{
        messages::{
            ApiKey, ApiVersionsResponse, ListGroupsResponse, ResponseHeader,
            api_versions_response::ApiVersion,
        },
        protocol::Encodable,
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let read = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&read);
    tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        loop {
            let mut len = [0u8; 4];
            if stream.read_exact(&mut len).await.is_err() {
                return;
            }
            let mut frame = vec![0u8; u32::from_be_bytes(len) as usize];
            if stream.read_exact(&mut frame).await.is_err() {
                return;
            }
            let key = i16::from_be_bytes([frame[0], frame[1]]);
            let version = i16::from_be_bytes([frame[2], frame[3]]);
            let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
            let api = ApiKey::try_from(key).unwrap();
            let mut body = bytes::BytesMut::new();
            let header = ResponseHeader::default().with_correlation_id(correlation_id);
            header
                .encode(&mut body, api.response_header_version(version))
                .unwrap();
            let versions = |api: ApiKey, max: i16| {
                ApiVersion::default()
                    .with_api_key(api as i16)
                    .with_max_version(max)
            };
            match api {
                ApiKey::ApiVersions => ApiVersionsResponse::default()
                    .with_api_keys(vec![
                        versions(ApiKey::ApiVersions, 3),
                        versions(ApiKey::ListGroups, 5),
                    ])
                    .encode(&mut body, version)
                    .unwrap(),
                ApiKey::ListGroups => {
                    counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    ListGroupsResponse::default()
                        .with_throttle_time_ms(throttle_ms)
                        .encode(&mut body, version)
                        .unwrap();
                }
                _ => return,
            }
            let len = u32::try_from(body.len()).unwrap().to_be_bytes();
            if stream.write_all(&len).await.is_err() || stream.write_all(&body).await.is_err() {
                return;
            }
        }
    });
    (addr, read)
}

/// An answer that says the broker throttles the connection (KIP-219: it sends nothing more
/// until the throttle is over) holds the connection's next request: one that could not be
/// written before its bound is not written at all.
#[tokio::test]
async fn a_throttled_answer_holds_the_next_request_back() {
    use std::sync::atomic::Ordering::SeqCst;

    let (addr, read) = throttling_broker(60_000).await;
    let c = Connection::connect(&addr, &settings(Duration::from_secs(5)))
        .await
        .unwrap();
    let first = c.call(&super::super::ListGroups::default()).await.unwrap();
    assert_eq!(first.body.throttle_time_ms, 60_000);
    let bound = tokio::time::Instant::now() + Duration::from_millis(200);
    let second = c
        .call_written_by(
            &super::super::ListGroups::default(),
            Duration::from_secs(5),
            Some(bound),
        )
        .await;
    assert!(
        matches!(second, Err(CallError::Throttled { .. })),
        "{second:?}"
    );
    assert_eq!(read.load(SeqCst), 1, "the second request was written");
}
