//! The service under test: one or more `usercenter serve` processes (release build, or
//! `E2E_SERVICE_BIN`) against the bench's broker, sharing one PostgreSQL database when there
//! is more than one.
use std::{
    net::SocketAddr,
    path::Path,
    process::{Command, Stdio},
};

use testkit::ServeProcess;
use usercenter::store::WriteConflicts;

use super::load::Front;

/// The running instances.
pub struct Instances {
    children: Vec<ServeProcess>,
    addrs: Vec<SocketAddr>,
    pub front: Front,
}

/// A sample's value (one without labels) in a Prometheus text, 0 when absent.
pub fn sample<T: std::str::FromStr + Default>(text: &str, name: &str) -> T {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_default()
}

/// The instance count: `--instances N` or `E2E_INSTANCES`; by default 2 on PostgreSQL (the
/// relay lease holder publishes every instance's rows) and 1 on redb, whose store is one
/// process's.
pub fn count(postgres: bool) -> usize {
    let args: Vec<String> = std::env::args().collect();
    let given = args
        .windows(2)
        .find(|w| w[0] == "--instances")
        .map(|w| w[1].clone())
        .or_else(|| std::env::var("E2E_INSTANCES").ok());
    let n = given.map_or(if postgres { 2 } else { 1 }, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("--instances: '{v}' is not a number"))
    });
    assert!(n >= 1, "--instances must be at least 1");
    assert!(
        postgres || n == 1,
        "redb is one process's store: more than one instance needs --store postgres"
    );
    n
}

/// A field of `/proc/<pid>/status` in KiB (`VmRSS:`, `VmHWM:`), 0 when unreadable.
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

impl Instances {
    /// Starts `n` instances against `broker`, each with a data directory under `data` and, with
    /// `store_url`, on that PostgreSQL database; returns once every one answers `/ready`.
    pub async fn start(broker: &str, data: &Path, store_url: Option<&str>, n: usize) -> Self {
        // `E2E_SERVICE_BIN` runs another build (or a wrapper: deploy/profile.sh profiles through one).
        let bin = std::env::var_os("E2E_SERVICE_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_usercenter").into());
        // The fetch wait `deploy/run.sh` runs its local Nisshi with (docs/configuration.md).
        let fetch_wait =
            std::env::var("USERCENTER_CONSUMER_FETCH_MAX_WAIT_MS").unwrap_or_else(|_| "20".into());
        let mut children = Vec::new();
        let mut addrs = Vec::new();
        for i in 0..n {
            let addr: SocketAddr = ([127, 0, 0, 1], testkit::free_port()).into();
            let mut cmd = Command::new(&bin);
            cmd.args(["serve", "--brokers", broker, "--listen", &addr.to_string()])
                .arg("--data-dir")
                .arg(data.join(format!("instance{i}")))
                .env("RUST_LOG", "error")
                .env("USERCENTER_CONSUMER_FETCH_MAX_WAIT_MS", &fetch_wait)
                // Every client of the bench is on 127.0.0.1, and the open loop stands for
                // independent clients: a backlog must show as latency, not as the per-address
                // cap's 503 (the cap guards against one client taking every slot).
                .env("USERCENTER_HTTP_MAX_CONNECTIONS_PER_CLIENT", "1024")
                // Likewise a queue of hashes shows as latency up to the largest bound the
                // service takes, not as `hashing_busy` 503s past the default's 128 here.
                .env("USERCENTER_AUTH_MAX_PENDING_HASHES", "448")
                .env("USERCENTER_AUTH_MAX_PENDING_HASHES_PER_CLIENT", "448")
                .stdin(Stdio::null())
                .stdout(Stdio::null());
            if let Some(url) = store_url {
                cmd.env("USERCENTER_STORE_BACKEND", "postgres")
                    .env("USERCENTER_STORE_URL", url);
            }
            // Killed when the bench panics, so that no service outlives it.
            children.push(ServeProcess::adopt(cmd.spawn().expect("start usercenter")));
            addrs.push(addr);
        }
        // Kafka reached and topics made.
        for (child, addr) in children.iter_mut().zip(&addrs) {
            child.wait_until_answers(*addr, "/ready").await;
        }
        Self {
            children,
            front: Front::new(addrs.clone()),
            addrs,
        }
    }

    /// Each instance's `/metrics` text now, in the order of [`Instances::addrs`].
    pub async fn metrics(&self) -> Vec<String> {
        let mut texts = Vec::new();
        for addr in &self.addrs {
            let (status, text) = testkit::http(*addr, "GET", "/metrics").await;
            assert_eq!(status, 200, "GET /metrics of {addr}");
            texts.push(text);
        }
        texts
    }

    /// The store's write conflicts so far, summed over the instances' `/metrics` (none on
    /// redb, which reports none).
    pub async fn conflicts(&self) -> WriteConflicts {
        let mut sum = WriteConflicts::default();
        for text in self.metrics().await {
            sum.retries += sample::<u64>(&text, "usercenter_store_write_retries_total");
            sum.retried += sample::<u64>(&text, "usercenter_store_writes_retried_total");
            sum.given_up += sample::<u64>(&text, "usercenter_store_writes_given_up_total");
        }
        sum
    }

    /// The instances' HTTP addresses.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The instances' process ids.
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(|c| c.id()).collect()
    }

    /// Resident memory summed over the instances, MiB: now (`VmRSS`) or at its peak (`VmHWM`).
    pub fn rss_mib(&self, field: &str) -> f64 {
        let kib: u64 = self
            .children
            .iter()
            .map(|c| status_kib(c.id(), field))
            .sum();
        kib as f64 / 1024.0
    }

    /// SIGTERM to every instance, then waits for each (an instance not stopped so, when the
    /// bench panics, is killed when dropped).
    pub fn stop(mut self) {
        for c in &self.children {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
        }
        for c in &mut self.children {
            let _ = c.wait();
        }
    }
}
