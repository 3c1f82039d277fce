//! A stop asked for while the service starts (waiting for its database, repairing its store)
//! stops it there. In a container the process is PID 1, for which the kernel drops a signal
//! that no handler listens to: the stop would wait for the start to end, and then its kill.

use std::{
    io::Read,
    net::TcpListener,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use testkit::usercenter_bin;

/// The service as PID 1 of a PID namespace of its own (`unshare`, as root), its database a
/// listener that accepts and never answers: SIGTERM while it waits for the database ends it
/// at once, with status 0.
#[test]
fn a_sigterm_while_waiting_for_the_database_stops_the_service_as_pid_1() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut accepted = Vec::new();
        while let Ok((socket, _)) = silent.accept() {
            accepted.push(socket);
        }
    });
    let data = tempfile::tempdir().unwrap();
    let mut unshare = Command::new("unshare")
        .args(["--pid", "--fork"])
        .arg(usercenter_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env_clear()
        .env("USERCENTER_STORE_BACKEND", "postgres")
        .env(
            "USERCENTER_STORE_URL",
            format!("postgres://u@127.0.0.1:{port}/db?sslmode=disable"),
        )
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The service: unshare's child, PID 1 in its namespace.
    let children = format!("/proc/{0}/task/{0}/children", unshare.id());
    let deadline = Instant::now() + Duration::from_secs(5);
    let service = loop {
        let listed = std::fs::read_to_string(&children).unwrap_or_default();
        if let Some(pid) = listed.split_whitespace().next() {
            break pid.to_owned();
        }
        assert!(Instant::now() < deadline, "no child of unshare in 5 s");
        std::thread::sleep(Duration::from_millis(20));
    };
    // Well into its wait for the database (up to 10 s).
    std::thread::sleep(Duration::from_millis(1_500));
    if let Some(status) = unshare.try_wait().unwrap() {
        let mut log = String::new();
        let _ = unshare.stderr.take().unwrap().read_to_string(&mut log);
        panic!("ended before the signal ({status}; unshare --pid needs root): {log}");
    }
    let sent = Instant::now();
    let term = Command::new("kill")
        .args(["-TERM", &service])
        .status()
        .unwrap();
    assert!(term.success());
    let status = loop {
        if let Some(status) = unshare.try_wait().unwrap() {
            break status;
        }
        if sent.elapsed() > Duration::from_secs(5) {
            let _ = Command::new("kill").args(["-KILL", &service]).status();
            let _ = unshare.wait();
            panic!("still starting 5 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut log = String::new();
    let _ = unshare.stdout.take().unwrap().read_to_string(&mut log);
    let _ = unshare.stderr.take().unwrap().read_to_string(&mut log);
    println!("stopped {:?} after SIGTERM: {status}", sent.elapsed());
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("shutdown requested while starting"), "{log}");
    drop(held);
}
