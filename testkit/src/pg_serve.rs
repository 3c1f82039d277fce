//! `usercenter serve` processes on a shared private PostgreSQL database (tests/pg_*.rs): started,
//! signalled (SIGKILL, SIGSTOP, SIGCONT) and restarted by their own pid; SQL on the same database; topics as librdkafka
//! reads them.
use super::*;

/// One `usercenter serve` process with the PostgreSQL backend, group mode.
pub struct Instance {
    /// Where it serves HTTP (kept across restarts).
    pub addr: SocketAddr,
    /// Its PostgreSQL `application_name`, so `pg_stat_activity` tells its sessions apart.
    pub name: String,
    url: String,
    broker: String,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Instance {
    /// Starts an instance on `broker` and the database at `url` (a URL with a query string).
    pub fn spawn(broker: &str, url: &str, name: &str) -> Self {
        let mut instance = Self {
            addr: ([127, 0, 0, 1], free_port()).into(),
            name: name.to_owned(),
            url: format!("{url}&application_name={name}"),
            broker: broker.to_owned(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        instance.start();
        instance
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("log"))
            .unwrap();
        let child = Command::new(crate::usercenter_bin())
            .args(["serve", "--brokers", &self.broker])
            .args(["--listen", &self.addr.to_string()])
            .arg("--data-dir")
            .arg(self.dir.path())
            .env_clear()
            .env("RUST_LOG", "warn")
            .env("USERCENTER_STORE_BACKEND", "postgres")
            .env("USERCENTER_STORE_URL", &self.url)
            .env("USERCENTER_STORE_POOL_SIZE", "8")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start usercenter");
        self.child = Some(child);
    }

    /// Waits until `/ready` answers 200 (store open, Kafka reachable).
    pub async fn ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let answer = http::try_request(self.addr, "GET", "/ready", &[], None).await;
            if answer.is_some_and(|(status, ..)| status == 200) {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok()?) {
                panic!("{} exited with {status}:\n{}", self.name, self.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready after 60 s:\n{}",
                self.name,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL of its own pid; waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` (`STOP`, `CONT`, ...) to its own pid with kill(1).
    pub fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("the instance runs");
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {}", self.name);
    }

    /// Starts it again on the same address after [`Instance::kill`].
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "{} is still running", self.name);
        self.start();
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A SQL session on the database at `url`.
pub async fn sql(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// `SELECT count(*) FROM table`.
pub async fn count(sql: &tokio_postgres::Client, table: &str) -> i64 {
    sql.query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

/// One record as librdkafka read it: partition, offset and the CloudEvents headers we check.
#[derive(Debug, Clone)]
pub struct Seen {
    pub partition: i64,
    pub offset: i64,
    pub ce_id: String,
    pub ce_type: String,
    pub subject: String,
}

/// How many records `topic` holds now, and how many distinct `ce_id`s among them (a row
/// relayed again after its relay died is a second copy of one record).
pub async fn records_on(broker: &str, topic: &str, partitions: i32) -> (usize, usize) {
    let c = client(broker).await;
    let (mut n, mut ids) = (0, std::collections::HashSet::new());
    for p in 0..partitions {
        for r in read_partition(&c, topic, p).await {
            n += 1;
            ids.insert(r.record.headers.get("ce_id").cloned().unwrap_or_default());
        }
    }
    (n, ids.len())
}

/// Every record of `topic` (`expect` of them), read by the librdkafka peer, in log order.
pub fn seen(broker: &str, topic: &str, expect: usize) -> Vec<Seen> {
    let expect = expect.to_string();
    let args = ["consume", "--topic", topic, "--expect", &expect];
    let out = peer(broker, &[&args[..], &["--timeout", "120"]].concat());
    let header = |r: &serde_json::Value, n: &str| {
        String::from_utf8(unhex(r["headers"][n].as_str().unwrap_or(""))).unwrap()
    };
    let mut records: Vec<Seen> = out["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| Seen {
            partition: r["partition"].as_i64().unwrap(),
            offset: r["offset"].as_i64().unwrap(),
            ce_id: header(r, "ce_id"),
            ce_type: header(r, "ce_type"),
            subject: header(r, "ce_subject"),
        })
        .collect();
    records.sort_by_key(|r| (r.partition, r.offset));
    records
}
