//! A private PostgreSQL server per test: `initdb` in a temporary directory, `postgres` on a
//! free loopback port (and, for the network-fault tests, on one more address of the host:
//! [`Postgres::start_also_on`]), one fresh database per [`Postgres::database`], stopped by pid
//! on drop.
//! Tests never assume a running server; deploy/install-postgres.sh installs the binaries.
//!
//! initdb and postgres refuse to run as root: under uid 0 they run as `nobody` through
//! `setpriv` (which execs, so the child's pid is the server's own).
use std::{
    net::IpAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use super::free_port;

/// The superuser initdb creates (trust authentication on loopback).
const USER: &str = "usercenter";

/// A running private server.
pub struct Postgres {
    dir: tempfile::TempDir,
    port: u16,
    /// Where it listens besides 127.0.0.1.
    also_on: Option<IpAddr>,
    /// Whether it offers TLS ([`Postgres::start_tls`]).
    ssl: bool,
    child: Option<Child>,
}

/// The newest PostgreSQL (13 or later) under /usr/lib/postgresql, else whatever is on PATH.
pub fn bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            (version >= 13 && bin.join("initdb").exists()).then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => {
            let initdb = which("initdb")
                .expect("PostgreSQL (initdb, postgres) is missing: run deploy/install-postgres.sh");
            initdb.parent().unwrap().to_path_buf()
        }
    }
}

/// Puts the certificate and key of `certs` where the server of cluster `data` looks for them
/// (`server.crt`, `server.key`), its own and the key readable by it alone, as it demands.
fn server_certificate(certs: &Path, data: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let (crt, key) = (data.join("server.crt"), data.join("server.key"));
    std::fs::copy(certs.join("broker.pem"), &crt).unwrap();
    std::fs::copy(certs.join("broker.key"), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    if is_root() {
        let status = Command::new("chown")
            .arg("nobody:nogroup")
            .args([&crt, &key])
            .status()
            .unwrap();
        assert!(status.success(), "chown of the server certificate failed");
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.exists())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `program` as a command, run as `nobody` when we are root.
fn command(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl Postgres {
    /// Initialises a cluster and starts its server; waits until it accepts connections.
    pub async fn start() -> Self {
        Self::start_with(None, None).await
    }

    /// Like [`Postgres::start`], offering TLS with the certificate `certs` holds for 127.0.0.1
    /// (`broker.pem` and `broker.key`, as [`crate::certs::write`] makes them; `ca.pem` signs it).
    pub async fn start_tls(certs: &Path) -> Self {
        Self::start_with(None, Some(certs)).await
    }

    /// Like [`Postgres::start`], listening on `address` too (an address of this host, such
    /// as the host end of a [`crate::netns::Netns`] link) and trusting connections from
    /// `clients` (a CIDR, such as that link's /30).
    pub async fn start_also_on(address: IpAddr, clients: &str) -> Self {
        Self::start_with(Some((address, clients)), None).await
    }

    async fn start_with(also_on: Option<(IpAddr, &str)>, certs: Option<&Path>) -> Self {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("usercenter-pg")
            .tempdir()
            .unwrap();
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "nobody:nogroup"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown of the cluster directory failed");
        }
        let data = dir.path().join("data");
        let out = command(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ])
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if let Some((_, clients)) = also_on {
            use std::io::Write as _;
            let mut hba = std::fs::OpenOptions::new()
                .append(true)
                .open(data.join("pg_hba.conf"))
                .unwrap();
            writeln!(hba, "host all all {clients} trust").unwrap();
        }
        if let Some(certs) = certs {
            server_certificate(certs, &data);
        }
        let mut pg = Self {
            dir,
            port: free_port(),
            also_on: also_on.map(|(address, _)| address),
            ssl: certs.is_some(),
            child: None,
        };
        pg.spawn();
        pg.wait_ready().await;
        pg
    }

    /// Starts `postgres` on the cluster and port of `self`, logging to `server.log`.
    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .unwrap();
        let child = command(&bin_dir().join("postgres"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-p", &self.port.to_string(), "-c"])
            .arg(match self.also_on {
                Some(address) => format!("listen_addresses=127.0.0.1,{address}"),
                None => "listen_addresses=127.0.0.1".to_owned(),
            })
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.dir.path().display()
            ))
            // A test cluster: nothing to keep after a crash of the machine.
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=200"])
            .args(["-c", if self.ssl { "ssl=on" } else { "ssl=off" }])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// Stops the server the way an operator restarting it would (SIGINT: fast shutdown, every
    /// session ended, a checkpoint written) and waits for it to exit.
    pub fn stop_fast(&mut self) {
        self.signal_and_wait("-INT");
    }

    /// Starts the server again on the same data directory and port; waits until it accepts
    /// connections.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "the server is still running");
        self.spawn();
        self.wait_ready().await;
    }

    fn signal_and_wait(&mut self, signal: &str) {
        if let Some(mut child) = self.child.take() {
            let sent = Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status();
            // Without kill(1) (procps) or when it failed, the server is killed rather than
            // waited for for good.
            if !sent.is_ok_and(|s| s.success()) {
                let _ = child.kill();
            }
            if child.wait().is_err() {
                let _ = child.kill();
            }
        }
    }

    /// Waits until this cluster answers: its own server, not another test's on a port that was
    /// free a moment ago (every private cluster has the same superuser), and fails at once with
    /// its log when the server exited.
    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let own = self.dir.path().join("data");
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok()?) {
                panic!("postgres exited with {status}:\n{}", self.log_tail());
            }
            let error = match tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
                .await
            {
                Ok((client, connection)) => {
                    tokio::spawn(connection);
                    let row = client.query_one("SHOW data_directory", &[]).await;
                    let dir = row.map(|r| std::path::PathBuf::from(r.get::<_, String>(0)));
                    match dir {
                        Ok(dir) if same_dir(&dir, &own) => return,
                        Ok(dir) => format!("port {} answered from {}", self.port, dir.display()),
                        Err(e) => e.to_string(),
                    }
                }
                Err(e) => e.to_string(),
            };
            assert!(
                Instant::now() < deadline,
                "postgres did not start: {error}\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://{USER}@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }

    /// Creates a new empty database; returns its URL.
    pub async fn database(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let (client, connection) =
            tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
                .await
                .unwrap();
        let task = tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        drop(client);
        let _ = task.await;
        self.url(&name)
    }

    /// `url` (one of this server's, as [`Postgres::database`] returns) with its host
    /// replaced by `address`, where the server also listens ([`Postgres::start_also_on`]).
    pub fn url_via(&self, url: &str, address: IpAddr) -> String {
        assert_eq!(
            self.also_on,
            Some(address),
            "the server does not listen on {address}"
        );
        url.replacen("@127.0.0.1:", &format!("@{address}:"), 1)
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Stops the server at once (SIGQUIT: immediate shutdown) and waits for it.
    pub fn stop(&mut self) {
        self.signal_and_wait("-QUIT");
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether two paths name the same directory (one may be the other through a symbolic link).
fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
