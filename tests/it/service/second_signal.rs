//! A second SIGTERM while the service stops ends it at once: an operator (or a supervisor's
//! escalation) that will not wait for the drain gets the process back within a second or so,
//! with status 1 and a line saying the shutdown was not finished.

use std::{
    io::Read,
    net::SocketAddr,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `signal` to `pid` with kill(1).
fn kill(signal: &str, pid: u32) {
    let sent = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill {signal} {pid}");
}

/// A request whose body has not all arrived holds the HTTP drain (up to 10 s) after the first
/// SIGTERM; a second one 3 s later (past the 2 s in which a second signal counts as the same
/// request to stop) ends the process at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigterm_during_the_drain_stops_the_service_at_once() {
    let broker = testkit::Broker::memory().await;
    let data = tempfile::tempdir().unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], testkit::free_port()).into();
    let child = Command::new(testkit::usercenter_bin())
        .args([
            "serve",
            "--brokers",
            &broker.addr,
            "--listen",
            &addr.to_string(),
        ])
        .arg("--data-dir")
        .arg(data.path())
        .env_clear()
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut service = testkit::ServeProcess::adopt(child);
    let pid = service.id();
    let mut connected = None;
    for _ in 0..400 {
        if let Ok(stream) = tokio::net::TcpStream::connect(addr).await {
            connected = Some(stream);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let mut held = connected.expect("the service listens within 10 s");
    // Ready (Kafka too): a request before that could be answered 503 without its body.
    let mut ready = false;
    for _ in 0..400 {
        if testkit::http(addr, "GET", "/ready").await.0 == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(ready, "the service is ready within 10 s");
    let body = r#"{"username":"ada","email":"ada@example.com","password":"correct horse"}"#;
    let head = format!(
        "POST /api/v1/users/register HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    held.write_all(head.as_bytes()).await.unwrap();
    held.write_all(&body.as_bytes()[..10]).await.unwrap();
    // In flight: no answer comes while the body is incomplete.
    let mut answer = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_millis(300), held.read(&mut answer)).await;
    assert!(
        read.is_err(),
        "answered before the body came: {}",
        String::from_utf8_lossy(&answer)
    );

    kill("-TERM", pid);
    tokio::time::sleep(Duration::from_secs(3)).await;
    if let Some(status) = service.try_wait().unwrap() {
        let mut log = String::new();
        let _ = service.stderr.take().unwrap().read_to_string(&mut log);
        panic!("ended ({status}) before the second SIGTERM, while the drain should hold it: {log}");
    }
    kill("-TERM", pid);
    let second = Instant::now();
    let status = loop {
        if let Some(status) = service.try_wait().unwrap() {
            break status;
        }
        assert!(
            second.elapsed() < Duration::from_secs(5),
            "still running 5 s after the second SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let stopped_in = second.elapsed();
    let mut log = String::new();
    service
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(
        stopped_in < Duration::from_secs(2),
        "stopped {stopped_in:?} after the second SIGTERM: {log}"
    );
    println!("second_signal: stopped {stopped_in:?} after the second SIGTERM");
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("a second signal"), "{log}");
    assert!(
        log.contains("the shutdown was not finished"),
        "the exit line says so: {log}"
    );
    drop(held);
}
