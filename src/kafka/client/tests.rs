use super::*;
use crate::kafka::testing::silent_broker;

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

/// A broker that accepts and never answers: the requests that wait for a connection to it at
/// once share one connect, whose failure (the ApiVersions exchange times out) fails each of
/// them; the next request connects again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_wait_for_one_broker_share_one_connect() {
    let (addr, accepted, silent) = silent_broker().await;
    // Long enough for all ten requests to find the connect under way on a loaded machine.
    let settings = ConnectSettings {
        connect_timeout: Duration::from_secs(2),
        ..settings()
    };
    let client = Arc::new(Client::new(vec![addr.clone()], settings));
    let waits: Vec<_> = (0..10)
        .map(|_| {
            let (client, addr) = (Arc::clone(&client), addr.clone());
            tokio::spawn(async move { client.connection(&addr, Purpose::Produce).await })
        })
        .collect();
    for wait in waits {
        assert!(wait.await.unwrap().is_err());
    }
    let accepted_now = || accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(accepted_now(), 1, "one connect for ten requests");
    assert!(client.open_connections().is_empty());
    assert!(client.connection(&addr, Purpose::Produce).await.is_err());
    assert_eq!(accepted_now(), 2, "a failed connect is not kept");
    // Another purpose has a connection of its own.
    assert!(client.connection(&addr, Purpose::Fetch).await.is_err());
    assert_eq!(accepted_now(), 3);
    silent.abort();
}

/// A connect whose every waiter was cancelled goes on, and its outcome settles the slot: the
/// next request does not find a connect nobody drove. Here it fails (the listener never
/// answers) and leaves nothing behind, so the next request connects again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_goes_on_when_its_waiters_are_cancelled() {
    let (addr, accepted, silent) = silent_broker().await;
    let client = Client::new(vec![addr.clone()], settings());
    let cancelled = tokio::time::timeout(
        Duration::from_millis(50),
        client.connection(&addr, Purpose::Group),
    )
    .await;
    assert!(cancelled.is_err(), "the waiter was cancelled");
    // The connect times out after 500 ms on its own task, and settles the slot.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let started = std::time::Instant::now();
    let again = client.connection(&addr, Purpose::Group).await;
    assert!(again.is_err());
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "a connect of its own"
    );
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    silent.abort();
}
