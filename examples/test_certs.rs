//! Writes a test CA and a broker certificate for 127.0.0.1 into a directory, for the TLS run of
//! `deploy/check-static.sh`: `cargo run --example test_certs -- DIR` writes `DIR/ca.pem`,
//! `DIR/broker.pem` and `DIR/broker.key`.

fn main() -> std::process::ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: test_certs DIR");
        return std::process::ExitCode::from(2);
    };
    let dir = std::path::PathBuf::from(dir);
    match std::fs::create_dir_all(&dir)
        .map_err(Into::into)
        .and_then(|()| testkit::certs::write(&dir))
    {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("test_certs: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
