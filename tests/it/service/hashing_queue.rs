//! The password hashing queue is bounded and leaves nothing behind for clients that left:
//! registrations past `auth.max_pending_hashes` are answered 503 `hashing_busy` with
//! `Retry-After` at once, and hashes still queued when their client resets are skipped. Before,
//! the queue had no bound, each queued hash kept a blocking thread until it was computed, and a
//! client that sent registrations and reset the connection left every one of them to compute.
//! One client (an address) has at most its share of the places
//! (`auth.max_pending_hashes_per_client`): a burst from one address leaves room for another's.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use testkit::{Broker, start_service};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};

/// A registration of `name` written on a new connection, not waiting for the answer.
async fn send_registration(addr: SocketAddr, name: &str) -> TcpStream {
    send_registration_from(1, addr, name).await
}

/// [`send_registration`] from the loopback address `127.0.0.{source}`.
async fn send_registration_from(source: u8, addr: SocketAddr, name: &str) -> TcpStream {
    let body = format!(
        r#"{{"username":"{name}","email":"{name}@example.com","password":"correct horse battery"}}"#
    );
    let request = format!(
        "POST /api/v1/users/register HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let socket = TcpSocket::new_v4().unwrap();
    let local = Ipv4Addr::new(127, 0, 0, source);
    socket.bind(SocketAddr::new(IpAddr::V4(local), 0)).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// The whole answer on `stream`.
async fn answer(mut stream: TcpStream) -> String {
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes).await;
    String::from_utf8_lossy(&bytes).into_owned()
}

/// How many of the registrations on `streams` were created (201) and refused (503
/// `hashing_busy` with `Retry-After: 1`, the only other answer allowed).
async fn tally(streams: Vec<TcpStream>) -> (u64, u64) {
    let (mut created, mut refused) = (0, 0);
    for stream in streams {
        let text = answer(stream).await;
        if text.starts_with("HTTP/1.1 201") {
            created += 1;
        } else {
            assert!(text.starts_with("HTTP/1.1 503"), "{text}");
            assert!(text.contains("\"hashing_busy\""), "{text}");
            assert!(
                text.to_ascii_lowercase().contains("retry-after: 1"),
                "{text}"
            );
            refused += 1;
        }
    }
    (created, refused)
}

/// The value of the sample `name` on `/metrics`, a count.
async fn metric(addr: SocketAddr, name: &str) -> u64 {
    let value = testkit::http::metric(addr, name)
        .await
        .unwrap_or_else(|| panic!("{name} not on /metrics"));
    value as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_past_the_queue_are_refused_and_those_of_clients_gone_are_skipped() {
    let broker = Broker::memory().await;
    let data = tempfile::tempdir().unwrap();
    let (service, _) = start_service(&broker.addr, data.path(), |c| {
        c.auth.hashing_threads = 1;
        c.auth.max_pending_hashes = 8;
        // One address sends them all: the whole queue is its to fill.
        c.auth.max_pending_hashes_per_client = 8;
        c.http.max_connections_per_client = 1024;
        c.http.max_connections = 1024;
    })
    .await;
    let addr = service.local_addr();
    // The pool's size and places are the process's, set by the first service in it: this
    // holds under nextest, which runs each test in a process of its own.

    // 40 registrations at once: the pool holds 8 (one running), the rest are refused at once.
    // Meanwhile the hashes queued or running are sampled: never more than the 8 places.
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = tokio::spawn({
        let sampling = Arc::clone(&sampling);
        async move {
            let mut most = 0;
            while sampling.load(Ordering::Relaxed) {
                most = most.max(metric(addr, "usercenter_password_hashes_pending").await);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            most
        }
    });
    let mut sent = Vec::new();
    for i in 0..40 {
        sent.push(send_registration(addr, &format!("burst{i}")).await);
    }
    let (created, refused) = tally(sent).await;
    sampling.store(false, Ordering::Relaxed);
    let most_pending = sampler.await.unwrap();
    eprintln!("burst of 40: {created} created, {refused} refused, at most {most_pending} pending");
    assert!(
        (1..=8).contains(&most_pending),
        "{most_pending} hashes pending at once, against max_pending_hashes 8"
    );
    assert_eq!(
        metric(addr, "usercenter_password_hashing_threads").await,
        1,
        "the pool this test asked for"
    );
    assert!(refused > 0, "nothing refused: the queue is not bounded");
    assert!(created >= 1);
    let counted = metric(addr, "usercenter_password_hashes_refused_total").await;
    assert_eq!(counted, refused, "each refusal counted");

    // Registrations whose clients reset while they wait: queued hashes are skipped.
    let skipped_before = metric(addr, "usercenter_password_hashes_skipped_total").await;
    let mut waiting = Vec::new();
    for i in 0..8 {
        waiting.push(send_registration(addr, &format!("gone{i}")).await);
    }
    // Once the service has queued some behind the one running (a hash takes milliseconds
    // here, so several are still queued), every client resets.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while metric(addr, "usercenter_password_hashes_pending").await < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the hashes were never queued"
        );
    }
    for stream in waiting {
        stream.set_zero_linger().unwrap();
        drop(stream);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while metric(addr, "usercenter_password_hashes_pending").await > 0 {
        assert!(std::time::Instant::now() < deadline, "hashes stayed queued");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let skipped = metric(addr, "usercenter_password_hashes_skipped_total").await - skipped_before;
    eprintln!("8 reset, some while queued: {skipped} skipped");
    assert!(skipped > 0, "every hash of a client gone was computed");

    // The service still registers.
    let text = answer(send_registration(addr, "after").await).await;
    assert!(text.starts_with("HTTP/1.1 201"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_from_one_address_leaves_places_for_another() {
    let broker = Broker::memory().await;
    let data = tempfile::tempdir().unwrap();
    let (service, _) = start_service(&broker.addr, data.path(), |c| {
        c.auth.hashing_threads = 1;
        // Two places for each address (a quarter, the default share).
        c.auth.max_pending_hashes = 8;
        c.http.max_connections_per_client = 1024;
        c.http.max_connections = 1024;
    })
    .await;
    let addr = service.local_addr();
    // 127.0.0.2 sends 40 registrations at once; 127.0.0.3 sends one amid them.
    let mut burst = Vec::new();
    for i in 0..20 {
        burst.push(send_registration_from(2, addr, &format!("burst{i}")).await);
    }
    let other = send_registration_from(3, addr, "other").await;
    for i in 20..40 {
        burst.push(send_registration_from(2, addr, &format!("burst{i}")).await);
    }
    let (created, refused) = tally(burst).await;
    eprintln!("burst of 40 from one address: {created} created, {refused} refused");
    assert!(refused > 0, "one address took more than its share");
    assert!(created >= 1);
    // The other address found its places free whatever the burst did: at most 2 of the 8
    // were the burst's.
    let text = answer(other).await;
    assert!(text.starts_with("HTTP/1.1 201"), "{text}");
    assert_eq!(
        metric(addr, "usercenter_password_hashes_refused_total").await,
        refused,
        "each refusal counted"
    );
}
