//! A stop with a request in flight. After SIGTERM the HTTP front stops accepting and drains:
//! the request in flight is answered, then the service stops with status 0. A second SIGTERM
//! while it drains (an operator, or a supervisor's escalation, that will not wait) ends it at
//! once, with status 1 and a line saying the shutdown was not finished. A request still in
//! flight when the drain's 10 s are over is closed unanswered, and the service stops.

use std::{
    io::Read,
    net::SocketAddr,
    process::{Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// The register request the tests hold in flight.
const BODY: &str = r#"{"username":"ada","email":"ada@example.com","password":"correct horse"}"#;
/// The part of [`BODY`] sent before the signal.
const SENT_FIRST: usize = 10;

/// A service process on its own broker and data folder, its log on a pipe.
struct Running {
    service: testkit::ServeProcess,
    addr: SocketAddr,
    _broker: testkit::Broker,
    _data: tempfile::TempDir,
}

impl Running {
    /// The service, logging as `log_filter` says, once it is ready.
    async fn start(log_filter: &str) -> Self {
        let broker = testkit::Broker::memory().await;
        let data = tempfile::tempdir().unwrap();
        let addr: SocketAddr = ([127, 0, 0, 1], testkit::free_port()).into();
        let child = testkit::serve_command(&broker.addr, addr, data.path(), log_filter)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut running = Self {
            service: testkit::ServeProcess::adopt(child),
            addr,
            _broker: broker,
            _data: data,
        };
        // Ready (Kafka too): a request before that could be answered 503 without its body.
        running.service.wait_until_answers(addr, "/ready").await;
        running
    }

    /// A register request in flight: its head and the start of its body sent, no answer yet.
    async fn hold_request(&self) -> TcpStream {
        let head = format!(
            "POST /api/v1/users/register HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            BODY.len()
        );
        self.hold([head.as_bytes(), &BODY.as_bytes()[..SENT_FIRST]].concat())
            .await
    }

    /// A connection that sent `start` of a request and has no answer 300 ms later (nor was
    /// it closed): the service has read what came and waits for the rest.
    async fn hold(&self, start: Vec<u8>) -> TcpStream {
        let mut held = TcpStream::connect(self.addr).await.unwrap();
        held.write_all(&start).await.unwrap();
        let mut answer = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_millis(300), held.read(&mut answer)).await;
        assert!(
            read.is_err(),
            "answered or closed before the request ended: {read:?} {}",
            String::from_utf8_lossy(&answer)
        );
        held
    }

    /// Sends `signal` to the service with kill(1).
    fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([signal, &self.service.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill {signal}");
    }

    /// Panics with the log when the service has ended: `why` it should not have.
    fn still_running(&mut self, why: &str) {
        if let Some(status) = self.service.try_wait().unwrap() {
            panic!("ended ({status}) {why}: {}", self.log());
        }
    }

    /// The service's exit status within `within`, and how long it took.
    async fn exit(&mut self, within: Duration) -> (ExitStatus, Duration) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.service.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            assert!(
                started.elapsed() < within,
                "still running {within:?} after the signal"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything the service logged (after it ended).
    fn log(&mut self) -> String {
        let mut log = String::new();
        if let Some(mut stderr) = self.service.stderr.take() {
            let _ = stderr.read_to_string(&mut log);
        }
        log
    }
}

/// SIGTERM with a request in flight: the request is answered when its body comes, and the
/// service then stops with status 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_at_sigterm_is_answered_before_the_service_stops() {
    let mut running = Running::start("info").await;
    let mut held = running.hold_request().await;
    running.signal("-TERM");
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.still_running("while a request was in flight");
    held.write_all(&BODY.as_bytes()[SENT_FIRST..])
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), held.read_to_end(&mut answer))
        .await
        .expect("answered within 10 s")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "the request in flight is served: {answer}"
    );
    let (status, _) = running.exit(Duration::from_secs(15)).await;
    let log = running.log();
    assert!(status.success(), "{status}: {log}");
    assert!(log.contains("usercenter stopped"), "{log}");
}

/// A second SIGTERM 4 s after the first (past the 2 s in which a second signal counts as the
/// same request to stop), while the drain still waits for the request in flight (up to 10 s),
/// ends the process at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigterm_during_the_drain_stops_the_service_at_once() {
    let mut running = Running::start("info").await;
    let held = running.hold_request().await;
    running.signal("-TERM");
    tokio::time::sleep(Duration::from_secs(4)).await;
    running.still_running("before the second SIGTERM, while the drain should hold it");
    running.signal("-TERM");
    let (status, stopped_in) = running.exit(Duration::from_secs(3)).await;
    let log = running.log();
    println!("second_signal: stopped {stopped_in:?} after the second SIGTERM");
    assert!(
        stopped_in < Duration::from_secs(2),
        "stopped {stopped_in:?} after the second SIGTERM: {log}"
    );
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("a second signal"), "{log}");
    assert!(
        log.contains("the shutdown was not finished"),
        "the exit line says so: {log}"
    );
    drop(held);
}

/// SIGTERM with a request whose head never ends (a client may take the header timeout, 30 s,
/// to send it): the drain waits its 10 s for it, then closes the connection unanswered (the
/// service says so before it stops the Kafka side, so the process's exit is not what closed
/// it) and the service stops cleanly, with status 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_closes_a_request_still_in_flight_after_its_10_s() {
    let mut running = Running::start("info,usercenter::http=debug").await;
    let head = format!(
        "POST /api/v1/users/register HTTP/1.1\r\nHost: {}\r\n",
        running.addr
    );
    let mut held = running.hold(head.into_bytes()).await;
    running.signal("-TERM");
    let signalled = Instant::now();
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(14), held.read_to_end(&mut answer)).await;
    let closed_after = signalled.elapsed();
    if closed.is_err() {
        running.service.kill().unwrap();
        panic!(
            "the connection is still open 14 s after SIGTERM: {}",
            running.log()
        );
    }
    let (status, _) = running.exit(Duration::from_secs(5)).await;
    let stopped_after = signalled.elapsed();
    let log = running.log();
    println!("drain: connection closed {closed_after:?}, stopped {stopped_after:?} after SIGTERM");
    assert!(
        answer.is_empty(),
        "closed unanswered: {}",
        String::from_utf8_lossy(&answer)
    );
    assert!(
        closed_after >= Duration::from_millis(9_500),
        "the drain waited {closed_after:?}, not its 10 s: {log}"
    );
    assert!(status.success(), "{status}: {log}");
    let said = |line: &str| {
        log.find(line)
            .unwrap_or_else(|| panic!("no {line:?}: {log}"))
    };
    // Where each line is in the log: the order they were logged in.
    let (deadline_at, closed_at, stopped_at) = (
        said("drain deadline passed"),
        said("connection closed at the drain's end"),
        said("usercenter stopped"),
    );
    assert!(
        deadline_at < closed_at && closed_at < stopped_at,
        "in that order: {log}"
    );
}
