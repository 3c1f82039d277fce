//! `usercenter serve` processes on a shared private PostgreSQL database (tests/pg_*.rs): started,
//! signalled (SIGKILL, SIGSTOP, SIGCONT) and restarted by their own pid, on the host or inside a
//! [`crate::netns::Netns`]; SQL on the same database; topics as librdkafka reads them.
use super::*;

/// One `usercenter serve` process with the PostgreSQL backend, group mode.
pub struct Instance {
    /// Where it serves HTTP (kept across restarts).
    pub addr: SocketAddr,
    /// Its PostgreSQL `application_name`, so `pg_stat_activity` tells its sessions apart.
    pub name: String,
    url: String,
    broker: String,
    /// The network namespace it runs in (`ip netns exec`), if not the host's.
    netns: Option<String>,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Instance {
    /// Starts an instance on `broker` and the database at `url` (a URL with a query string).
    pub fn spawn(broker: &str, url: &str, name: &str) -> Self {
        Self::spawn_at(
            ([127, 0, 0, 1], free_port()).into(),
            None,
            broker,
            url,
            name,
        )
    }

    /// Starts an instance inside `netns` (`ip netns exec`): it reaches `broker` and the
    /// database at `url` through the namespace's links (the host ends' addresses), and serves
    /// HTTP on the namespace's end of the control link, which the test reaches from the host
    /// whatever else is cut.
    pub fn spawn_in(netns: &crate::netns::Netns, broker: &str, url: &str, name: &str) -> Self {
        let addr = SocketAddr::new(netns.control().inside.into(), free_port());
        Self::spawn_at(addr, Some(netns.name.clone()), broker, url, name)
    }

    fn spawn_at(
        addr: SocketAddr,
        netns: Option<String>,
        broker: &str,
        url: &str,
        name: &str,
    ) -> Self {
        let mut instance = Self {
            addr,
            name: name.to_owned(),
            url: format!("{url}&application_name={name}"),
            broker: broker.to_owned(),
            netns,
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
        // `ip netns exec` execs the binary: the child's pid is the service's own.
        let mut command = match &self.netns {
            Some(netns) => crate::netns::command_in(netns, crate::usercenter_bin()),
            None => Command::new(crate::usercenter_bin()),
        };
        let child = command
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

    /// Waits until `/ready` answers 200 (store open, Kafka reachable); panics if it exits first
    /// or after 60 s ([`crate::process_wait::wait_until_answers`]).
    pub async fn ready(&mut self) {
        let addr = self.addr;
        crate::process_wait::wait_until_answers(self, addr, "/ready").await;
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

    /// The sum of the samples of metric `name` on its `/metrics` ([`http::metric`]).
    pub async fn metric(&self, name: &str) -> Option<f64> {
        http::metric(self.addr, name).await
    }

    /// Its whole log (standard error).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        let text = self.log();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl crate::process_wait::Watched for Instance {
    fn fail_if_exited(&mut self) {
        if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok()?) {
            panic!("{} exited with {status}:\n{}", self.name, self.log_tail());
        }
    }

    fn give_up(&mut self) -> String {
        format!("{}, the end of its log:\n{}", self.name, self.log_tail())
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

/// The producer ids that wrote partition `partition` of `topic`, in log order: one entry per
/// run of consecutive batches by one producer id, with how many records the run holds. Read
/// from the record batches' headers (the Kafka producer id of the instance that relayed them;
/// a batch's header is never compressed).
pub async fn writers(broker: &str, topic: &str, partition: i32) -> Vec<(i64, usize)> {
    use usercenter::kafka::{
        Purpose,
        protocol::{Fetch, FetchPart, split_answer},
    };
    let conn = crate::protocol::kafka_client(broker)
        .any(Purpose::Admin)
        .await
        .expect("a connection to the broker");
    let mut runs: Vec<(i64, usize)> = Vec::new();
    let mut offset = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "{topic}/{partition} not read to its end at {offset} after 60 s"
        );
        let fetch = Fetch {
            parts: vec![FetchPart {
                topic: topic.to_owned(),
                partition,
                offset,
                max_bytes: 8 << 20,
            }],
            // Nisshi 0.8.1 answers a Fetch with max_wait_ms = 0 with no partitions at all.
            max_wait_ms: 100,
        };
        let answer = conn.call(&fetch).await.expect("fetch");
        // The one partition asked for (found by number, as the consumer does).
        let data = split_answer(answer.body)
            .expect("a fetch answer")
            .into_iter()
            .find_map(|((_, p), data)| (p == partition).then_some(data))
            .expect("the partition in the answer");
        assert_eq!(data.error_code, 0, "fetch of {topic}/{partition}");
        if data.high_watermark < 0 {
            continue; // offsets Nisshi did not read in time: ask again
        }
        let raw = data.records.unwrap_or_default();
        let before = offset;
        for (base, last_delta, producer, records) in batch_headers(&raw) {
            if base + i64::from(last_delta) < offset {
                continue; // a batch the fetch started inside of, already counted
            }
            offset = base + i64::from(last_delta) + 1;
            match runs.last_mut() {
                Some((p, n)) if *p == producer => *n += records,
                _ => runs.push((producer, records)),
            }
        }
        if offset >= data.high_watermark {
            return runs;
        }
        assert!(
            offset > before,
            "no progress reading {topic}/{partition} at {offset}"
        );
    }
}

/// (base offset, last offset delta, producer id, records) of each complete record batch
/// (magic 2) in `raw`.
fn batch_headers(raw: &[u8]) -> Vec<(i64, i32, i64, usize)> {
    let be64 = |b: &[u8]| i64::from_be_bytes(b.try_into().unwrap());
    let be32 = |b: &[u8]| i32::from_be_bytes(b.try_into().unwrap());
    let mut out = Vec::new();
    let mut at = 0;
    // baseOffset 8, batchLength 4, partitionLeaderEpoch 4, magic 1, crc 4, attributes 2,
    // lastOffsetDelta 4, baseTimestamp 8, maxTimestamp 8, producerId 8, producerEpoch 2,
    // baseSequence 4, records count 4.
    while raw.len() >= at + 61 {
        let length = usize::try_from(be32(&raw[at + 8..at + 12])).expect("a batch length");
        if raw.len() < at + 12 + length {
            break; // cut off at the fetch's size limit
        }
        assert_eq!(raw[at + 16], 2, "a record batch of magic 2");
        out.push((
            be64(&raw[at..at + 8]),
            be32(&raw[at + 23..at + 27]),
            be64(&raw[at + 43..at + 51]),
            usize::try_from(be32(&raw[at + 57..at + 61])).expect("a record count"),
        ));
        at += 12 + length;
    }
    out
}

/// Records of `topic` that no instance has handled yet: each partition's log end offset minus
/// the next offset stored with the effects (`consumer_offsets`), summed over `partitions`.
pub async fn unhandled(
    db: &tokio_postgres::Client,
    kafka: &rskafka::client::Client,
    topic: &str,
    partitions: i32,
) -> i64 {
    use rskafka::client::partition::{OffsetAt, UnknownTopicHandling};
    let mut total = 0;
    for p in 0..partitions {
        let end = kafka
            .partition_client(topic, p, UnknownTopicHandling::Retry)
            .await
            .expect("a partition client")
            .get_offset(OffsetAt::Latest)
            .await
            .expect("the log end offset");
        let stored: i64 = db
            .query_opt(
                "SELECT next_offset FROM consumer_offsets WHERE topic = $1 AND partition = $2",
                &[&topic, &p],
            )
            .await
            .unwrap()
            .map_or(0, |r| r.get(0));
        total += (end - stored).max(0);
    }
    total
}
