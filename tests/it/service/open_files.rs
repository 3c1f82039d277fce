//! The open-files limit: `serve` raises its soft limit to the hard one (a container often starts
//! with 1,024, fewer than the HTTP front's default caps hold), and says so at start when what it
//! may open is still fewer than its caps need.

use std::{
    net::SocketAddr,
    process::{Command, Stdio},
};

use testkit::ServeProcess;

/// `usercenter serve` started by `prlimit --nofile=SOFT:HARD` (which sets the limits and execs
/// it, so the pid is the service's), its log in `log`. Its broker address is `broker`, a port
/// the test holds without answering: the HTTP front serves anyway, and no other test's broker
/// can take the port.
fn serve_with_limit(
    soft: u64,
    hard: u64,
    listen: SocketAddr,
    broker: SocketAddr,
    dir: &std::path::Path,
) -> ServeProcess {
    let log = std::fs::File::create(dir.join("serve.log")).unwrap();
    let broker = broker.to_string();
    let child = Command::new("prlimit")
        .arg(format!("--nofile={soft}:{hard}"))
        .arg(testkit::usercenter_bin())
        .args([
            "serve",
            "--brokers",
            &broker,
            "--listen",
            &listen.to_string(),
        ])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env_clear()
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("prlimit (util-linux)");
    ServeProcess::adopt(child)
}

/// The soft `Max open files` limit of process `pid`.
fn soft_limit(pid: u32) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a Max open files line");
    line["Max open files".len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_raises_its_open_files_limit_and_warns_when_it_cannot() {
    let no_broker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let broker = no_broker.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let listen: SocketAddr = ([127, 0, 0, 1], testkit::free_port()).into();
    let mut service = serve_with_limit(512, 4096, listen, broker, dir.path());
    service.wait_until_answers(listen, "/health").await;
    assert_eq!(soft_limit(service.id()), 4096, "raised to the hard limit");
    drop(service);
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(!log.contains("open-files limit"), "{log}");

    // A hard limit below what the default caps need (1,024 connections and more): it cannot be
    // raised past it, and the start says so.
    let dir = tempfile::tempdir().unwrap();
    let listen: SocketAddr = ([127, 0, 0, 1], testkit::free_port()).into();
    let mut service = serve_with_limit(512, 1024, listen, broker, dir.path());
    service.wait_until_answers(listen, "/health").await;
    assert_eq!(soft_limit(service.id()), 1024);
    drop(service);
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(
        log.contains("may open 1024 files") && log.contains("lower http.max_connections"),
        "{log}"
    );
}
