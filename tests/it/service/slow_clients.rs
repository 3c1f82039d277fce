//! Slow clients cannot take the server: clients that send full headers and then trickle the
//! body hold at most their address's share of the connection slots, a normal client is still
//! served, and connections past a cap are answered 503 with `Retry-After` at once instead of
//! waiting in the listen backlog.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use testkit::{Broker, start_service};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};

const MAX_CONNECTIONS: usize = 12;
const PER_CLIENT: usize = 4;

/// A socket bound to the loopback address `127.0.0.{source}`, not connected yet.
fn socket_from(source: u8) -> TcpSocket {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, source)),
            0,
        ))
        .unwrap();
    socket
}

/// A connection to `server` from the loopback address `127.0.0.{source}`.
async fn connect_from(source: u8, server: SocketAddr) -> TcpStream {
    socket_from(source).connect(server).await.unwrap()
}

/// Sends the full headers of a registration and one body byte of the promised 100; the caller
/// keeps the connection open and sends nothing more (a slow-body client).
async fn slow_body(source: u8, server: SocketAddr) -> TcpStream {
    let mut stream = connect_from(source, server).await;
    let head = format!(
        "POST /api/v1/users/register HTTP/1.1\r\nHost: {server}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// `GET /health` from `127.0.0.{source}`; the status line and headers of the answer.
async fn health_from(source: u8, server: SocketAddr) -> String {
    let mut stream = connect_from(source, server).await;
    let request = format!("GET /health HTTP/1.1\r\nHost: {server}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// What a client at `source` gets within 5 s (a correctness bound: a served or refused client
/// gets its answer at once; one left in the backlog or queued behind slow bodies, which hold
/// their slots for the 10 s body deadline, does not). Wide for a loaded machine.
async fn health_answered(source: u8, server: SocketAddr) -> String {
    tokio::time::timeout(Duration::from_secs(5), health_from(source, server))
        .await
        .unwrap_or_else(|_| panic!("127.0.0.{source}: no answer to /health within 5 s"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_body_clients_neither_starve_others_nor_queue_in_the_backlog() {
    let broker = Broker::memory().await;
    let data = tempfile::tempdir().unwrap();
    let (service, _) = start_service(&broker.addr, data.path(), |c| {
        c.http.max_connections = MAX_CONNECTIONS;
        c.http.max_connections_per_client = PER_CLIENT;
    })
    .await;
    let addr = service.local_addr();

    // Two addresses each open more slow-body connections than their share.
    let mut slow = Vec::new();
    for source in [2, 3] {
        for _ in 0..PER_CLIENT + 2 {
            slow.push(slow_body(source, addr).await);
        }
    }
    // Past its share, a slow address is refused at once with 503 and Retry-After.
    let refused = health_answered(2, addr).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(
        refused
            .to_ascii_lowercase()
            .contains("\r\nretry-after: 1\r\n"),
        "{refused}"
    );
    // A normal client is still served while the slow ones hold their slots.
    let served = health_answered(1, addr).await;
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");

    // Fill every slot from further addresses: past the total, anyone gets 503 at once.
    let held = 2 * PER_CLIENT;
    for i in 0..MAX_CONNECTIONS - held {
        let source = 4 + u8::try_from(i / PER_CLIENT).unwrap();
        slow.push(slow_body(source, addr).await);
    }
    let full = health_answered(1, addr).await;
    assert!(full.starts_with("HTTP/1.1 503"), "{full}");
    assert!(
        full.to_ascii_lowercase().contains("\r\nretry-after: 1\r\n"),
        "{full}"
    );
    assert!(full.contains("server_busy"), "{full}");

    // Once slow clients go, their slots serve others again.
    drop(slow);
    let mut served = String::new();
    for _ in 0..40 {
        served = health_answered(1, addr).await;
        if served.starts_with("HTTP/1.1 200") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");
    service.stop().await;
}

/// Pipelines `GET /openapi.yaml` requests from `127.0.0.{source}` with a small receive
/// buffer and reads nothing: the responses fill the way back, and the server's writes stall.
async fn never_reads(source: u8, server: SocketAddr) -> TcpStream {
    let socket = socket_from(source);
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(server).await.unwrap();
    let request = format!("GET /openapi.yaml HTTP/1.1\r\nHost: {server}\r\n\r\n");
    // Answers (17 KB each, 17 MB in all) to fill both sides' buffers (a few MB on loopback)
    // many times over; the 60 KB of requests fit in the server's receive buffer.
    let requests = request.repeat(1_000);
    stream.write_all(requests.as_bytes()).await.unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_loses_its_connections_after_the_send_timeout() {
    let broker = Broker::memory().await;
    let data = tempfile::tempdir().unwrap();
    let (service, _) = start_service(&broker.addr, data.path(), |c| {
        c.http.max_connections = MAX_CONNECTIONS;
        c.http.max_connections_per_client = PER_CLIENT;
        c.http.send_timeout_secs = 2;
    })
    .await;
    let addr = service.local_addr();
    let mut stuck = Vec::new();
    for _ in 0..PER_CLIENT {
        stuck.push(never_reads(2, addr).await);
    }
    // Its share is taken while the writes stall...
    let refused = health_answered(2, addr).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    // ...and freed once they have stalled for the send timeout, though the client keeps its
    // connections open.
    let started = std::time::Instant::now();
    let served = loop {
        let answer = health_answered(2, addr).await;
        if answer.starts_with("HTTP/1.1 200") {
            break answer;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the stalled connections kept their slots: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "slots freed {:?} after the last request was sent: {}",
        started.elapsed(),
        served.lines().next().unwrap_or("")
    );
    drop(stuck);
    service.stop().await;
}

/// Request headers past 32 KiB are refused at once (431) and the connection closed, rather
/// than buffered up to hyper's ~400 KiB while the header timeout runs: the connection cap's
/// worth of clients with unfinished headers cannot take the process's memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_past_32_kib_are_refused_at_once() {
    let broker = Broker::memory().await;
    let data = tempfile::tempdir().unwrap();
    let (service, _) = start_service(&broker.addr, data.path(), |_| {}).await;
    let addr = service.local_addr();

    // Headers that end within the bound are served.
    let mut stream = connect_from(2, addr).await;
    let fits = format!(
        "GET /health HTTP/1.1\r\nHost: {addr}\r\nX-Padding: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(24 * 1024)
    );
    stream.write_all(fits.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // 40 KiB of a header that never ends.
    let mut stream = connect_from(2, addr).await;
    let head = format!(
        "GET /health HTTP/1.1\r\nHost: {addr}\r\nX-Padding: {}",
        "a".repeat(40 * 1024)
    );
    // The server may close before it has read all of it.
    let _ = stream.write_all(head.as_bytes()).await;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), async {
        let _ = stream.read_to_end(&mut answer).await;
    })
    .await
    .expect("the connection was neither answered nor closed within 5 s");
    assert!(
        answer.starts_with(b"HTTP/1.1 431"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}
