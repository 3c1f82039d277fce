//! The binary's command line: version, help, and one-line config errors with a non-zero exit.
use std::process::Output;

use testkit::{usercenter, usercenter_command};

fn stderr_line(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        text.trim_end().lines().count(),
        1,
        "one line expected: {text:?}"
    );
    text.trim_end().to_owned()
}

#[test]
fn version_and_help() {
    let out = usercenter(&["--version"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("usercenter {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    let out = usercenter(&["serve", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in ["--config", "--brokers", "--listen", "--data-dir"] {
        assert!(text.contains(flag), "{flag} missing from help: {text}");
    }
}

#[test]
fn bad_configs_fail_with_one_line_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[kafka]\nbrokerz = [\"a:1\"]\n").unwrap();
    let path = file.to_str().unwrap();

    let out = usercenter(&["serve", "--config", path]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_line(&out).contains("kafka.brokerz"), "{out:?}");

    let out = usercenter(&["serve", "--brokers", "no-port-here"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_line(&out).contains("kafka.brokers[0]"), "{out:?}");

    let out = usercenter(&["serve", "--config", "/no/such/file.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_line(&out).contains("/no/such/file.toml"), "{out:?}");

    let out = usercenter_command(&["serve"])
        .env("USERCENTER_TOPICS_PARTITIONS", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_line(&out).contains("USERCENTER_TOPICS_PARTITIONS"),
        "{out:?}"
    );

    // A log filter that names no level would silence every line, errors included.
    let out = usercenter_command(&["serve"])
        .env("USERCENTER_LOG_LEVEL", "warning")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_line(&out).contains("log.level"), "{out:?}");

    // A first admin the service cannot make (refused when the service starts, not when the
    // configuration loads): still the configuration's.
    let data = tempfile::tempdir().unwrap();
    let out = usercenter_command(&["serve", "--data-dir", data.path().to_str().unwrap()])
        .env("USERCENTER_AUTH_ADMIN_USERNAME", "admin")
        .env("USERCENTER_AUTH_ADMIN_EMAIL", "not-an-email")
        .env(
            "USERCENTER_AUTH_ADMIN_PASSWORD",
            "correct horse battery staple",
        )
        .env("USERCENTER_KAFKA_BROKERS", "127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("auth.admin_email"), "{err}");
}

/// A failure that is not the configuration's (here the data directory cannot be made) exits
/// with status 1, which a supervisor may mend by starting the service again.
#[test]
fn other_failures_exit_with_status_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let data_dir = file.join("data");
    let out = usercenter(&["serve", "--data-dir", data_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr_line(&out).contains("store.data_dir"), "{out:?}");
}

#[test]
fn config_prints_the_merged_configuration() {
    let out = usercenter_command(&["config", "--listen", "127.0.0.1:9999"])
        .env("USERCENTER_KAFKA_BROKERS", "k1:9092,k2:9092")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let parsed: toml::Table = text.parse().unwrap();
    assert_eq!(parsed["http"]["listen"].as_str(), Some("127.0.0.1:9999"));
    assert_eq!(parsed["kafka"]["brokers"].as_array().map(Vec::len), Some(2));
}

/// A `/health` that answers 200 once, on a port of its own; its address.
fn one_health_answer() -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut head = [0u8; 1024];
            let _ = stream.read(&mut head);
            let body = r#"{"kafka":"ready","status":"ok"}"#;
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    addr
}

/// The image's HEALTHCHECK runs `usercenter healthcheck` without the service's `--config`:
/// settings of other sections that only the file completes (here a SASL password in the
/// environment, whose protocol the file sets) must not fail it. It reads `[http]` alone, and
/// a bad value there still fails it, with the reason.
#[test]
fn healthcheck_reads_the_http_section_alone() {
    let addr = one_health_answer();
    let out = usercenter_command(&["healthcheck"])
        .env("USERCENTER_HTTP_LISTEN", addr.to_string())
        .env("USERCENTER_KAFKA_SASL_PASSWORD", "secret")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("healthy: "));

    let out = usercenter_command(&["healthcheck"])
        .env("USERCENTER_HTTP_LISTEN", "not an address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr_line(&out).contains("http.listen"), "{out:?}");
}
