//! The integration tests' harness: a real Nisshi broker per test on a free loopback port, a
//! private PostgreSQL cluster, the librdkafka peer, a fault proxy and a minimal HTTP client.
//! Tests never assume a broker or a database is already running.
//!
//! | module | what it holds |
//! |---|---|
//! | `broker` | a Nisshi process per test (memory, sqlite, behind a proxy, TLS, SASL) |
//! | `certs` | a CA and broker/client certificates made for the TLS tests |
//! | `file_limit` | a file-size limit on the test's process, as a full disk |
//! | `group` | the consumer-group tests' peer member and helpers |
//! | `http` | a minimal HTTP/1.1 client and the API calls the tests make |
//! | `netns` | a network namespace with links to PostgreSQL and the broker that a test cuts |
//! | `pg_serve` | `usercenter serve` processes on PostgreSQL |
//! | `postgres` | a private PostgreSQL cluster (initdb in a temporary directory) |
//! | `process_wait` | waiting for a started process to answer, failing at once when it exits |
//! | `protocol` | helpers of the protocol-layer tests (our own connections) |
//! | `proxy` | a TCP proxy that drops, delays, cuts and corrupts |
//! | `serve` | `usercenter serve` as a child process that is killed when the test ends |

pub mod broker;
pub mod certs;
pub mod file_limit;
pub mod group;
pub mod http;
pub mod netns;
pub mod pg_serve;
pub mod postgres;
mod process_wait;
pub mod protocol;
pub mod proxy;
pub mod serve;
pub mod sockets;
pub use serve::{ServeProcess, serve_command, serve_process};
mod whole_log;

pub use broker::Broker;
pub use file_limit::require_own_process;
pub use http::{api, http, login, register, registered, request};
pub use whole_log::{consume, whole_log};

use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The tools cache the project's scripts install into.
pub fn tools_dir() -> PathBuf {
    let cache = std::env::var_os("USERCENTER_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/usercenter")
        });
    cache.join("tools")
}

fn installed(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: run deploy/install-deps.sh (deploy/test.sh does)",
        path.display()
    );
    path
}

/// The repository's root (the `usercenter` package), where `tests/peer/` is.
pub fn repo_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The `usercenter` binary cargo built for the integration tests: nextest names it in
/// `NEXTEST_BIN_EXE_usercenter`; under `cargo test` it sits beside the test binary's `deps/`.
pub fn usercenter_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("NEXTEST_BIN_EXE_usercenter") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let bin = dir.join("usercenter");
    assert!(
        bin.exists(),
        "{} is missing: cargo builds it for the integration tests (cargo nextest run, cargo test)",
        bin.display()
    );
    bin
}

/// `usercenter ARGS...` with an empty environment, to add variables to and run.
pub fn usercenter_command(args: &[&str]) -> Command {
    let mut command = Command::new(usercenter_bin());
    command.args(args).env_clear();
    command
}

/// Runs `usercenter ARGS...` with an empty environment and returns its output.
pub fn usercenter(args: &[&str]) -> std::process::Output {
    usercenter_command(args).output().expect("run usercenter")
}

/// The Nisshi broker binary, at the version `deploy/lib.sh` installs.
pub fn nisshi_bin() -> PathBuf {
    installed(tools_dir().join(format!("nisshi-{}/bin/nisshi", nisshi_version())))
}

/// `NISSHI_VERSION` as `deploy/lib.sh` sets it, the one place the broker's version is written.
fn nisshi_version() -> &'static str {
    include_str!("../../deploy/lib.sh")
        .lines()
        .find_map(|line| line.strip_prefix("NISSHI_VERSION="))
        .map(str::trim)
        .expect("deploy/lib.sh sets NISSHI_VERSION")
}

/// The Python of the peer venv (confluent-kafka, kafka-python).
pub fn peer_python() -> PathBuf {
    installed(tools_dir().join("peer-venv/bin/python"))
}

/// A loopback port nothing listens on (right now).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Runs `tests/peer/peer.py --brokers ADDR ARGS...` and parses its JSON output.
pub fn peer(brokers: &str, args: &[&str]) -> serde_json::Value {
    peer_with_input(brokers, args, "")
}

/// Like [`peer`], with `input` on the peer's standard input.
pub fn peer_with_input(brokers: &str, args: &[&str], input: &str) -> serde_json::Value {
    use std::io::Write as _;
    let script = repo_root().join("tests/peer/peer.py");
    let mut child = Command::new(peer_python())
        .arg(script)
        .args(["--brokers", brokers])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the peer client");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).expect("peer stdin");
    }
    let out = child.wait_with_output().expect("peer output");
    assert!(
        out.status.success(),
        "peer {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "peer printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A test config: the given broker, a free HTTP port, a fresh data directory.
pub fn config(broker: &str, data_dir: &Path) -> usercenter::config::Config {
    let mut config = usercenter::config::Config::default();
    config.kafka.brokers = vec![broker.to_owned()];
    config.http.listen = "127.0.0.1:0".parse().expect("address");
    config.store.data_dir = data_dir.to_owned();
    config
}

/// Starts the service on `broker` with a fresh data directory and waits for its consumer.
pub async fn start_service(
    broker: &str,
    data_dir: &Path,
    adjust: impl FnOnce(&mut usercenter::config::Config),
) -> (
    usercenter::service::Running,
    std::sync::Arc<usercenter::consumer::ConsumerMetrics>,
) {
    let mut cfg = config(broker, data_dir);
    adjust(&mut cfg);
    let service = usercenter::service::start(cfg)
        .await
        .expect("service starts");
    eventually(Duration::from_secs(30), "consumer running", || {
        service.consumer_metrics().is_some()
    })
    .await;
    let metrics = service.consumer_metrics().expect("consumer metrics");
    (service, metrics)
}

/// Rows waiting in `store`'s outbox.
pub fn outbox_backlog(store: &dyn usercenter::store::Store) -> u64 {
    let mut rows = 0;
    store
        .read(&mut |txn| {
            rows = usercenter::outbox::backlog(txn)?;
            Ok(())
        })
        .expect("read the outbox backlog");
    rows
}

/// Polls `check` every 50 ms until it is true, failing the test after `within`.
pub async fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A connected rskafka client: a reader and topic admin independent of the service's own
/// Kafka client, for checking what it wrote.
pub async fn client(broker: &str) -> std::sync::Arc<rskafka::client::Client> {
    std::sync::Arc::new(rskafka_client(broker).await.expect("connect"))
}

/// An rskafka client of `broker`, giving up after 5 s.
pub async fn rskafka_client(
    broker: &str,
) -> Result<rskafka::client::Client, rskafka::client::error::Error> {
    let backoff = rskafka::BackoffConfig {
        deadline: Some(Duration::from_secs(5)),
        ..Default::default()
    };
    rskafka::client::ClientBuilder::new(vec![broker.to_owned()])
        .backoff_config(backoff)
        .build()
        .await
}

/// Creates `topic` with `partitions` partitions.
pub async fn create_topic(client: &rskafka::client::Client, topic: &str, partitions: i32) {
    client
        .controller_client()
        .expect("controller")
        .create_topic(topic, partitions, 1, 10_000)
        .await
        .expect("create topic");
}

/// A producer of `broker`, on the transport `serve` uses with `config`, with a client of its own.
pub async fn producer(
    broker: &str,
    config: usercenter::producer::ProducerConfig,
) -> usercenter::producer::Producer {
    producer_on(protocol::kafka_client(broker), config).await
}

/// A producer on `client` (shared, as in `serve`, with whatever else uses it), on the transport
/// `serve` uses with `config`.
pub async fn producer_on(
    client: std::sync::Arc<usercenter::kafka::Client>,
    config: usercenter::producer::ProducerConfig,
) -> usercenter::producer::Producer {
    use usercenter::producer::{BrokerTransport, Producer};
    let transport = BrokerTransport::connect(client, &config).await;
    Producer::new(std::sync::Arc::new(transport), config)
}

/// A record with the identity the producer requires: producer id 7 and a sequence never
/// repeated within the test's process (nextest runs each test in its own).
pub fn record(
    topic: &str,
    key: Option<Vec<u8>>,
    value: Vec<u8>,
) -> usercenter::producer::ProducerRecord {
    static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    usercenter::producer::ProducerRecord::new(topic, key, value).with_identity(7, seq)
}

/// Decodes the peer's hex.
pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

/// Every record of one partition, read with rskafka.
pub async fn read_partition(
    client: &rskafka::client::Client,
    topic: &str,
    partition: i32,
) -> Vec<rskafka::record::RecordAndOffset> {
    use rskafka::client::partition::UnknownTopicHandling;
    let pc = client
        .partition_client(topic, partition, UnknownTopicHandling::Retry)
        .await
        .expect("partition client");
    let mut out = Vec::new();
    let mut offset = 0;
    // rskafka drops control records, so a log that ends in transaction markers never brings
    // `offset` up to the high watermark: give up with the reason rather than loop.
    let mut deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (records, high_watermark) = pc
            .fetch_records(offset, 1..5_000_000, 100)
            .await
            .expect("fetch");
        if !records.is_empty() {
            deadline = Instant::now() + Duration::from_secs(30);
        }
        for r in records {
            offset = r.offset + 1;
            out.push(r);
        }
        // A high watermark of -1: offsets Nisshi did not read in time; ask again.
        if high_watermark >= 0 && offset >= high_watermark {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "{topic}/{partition}: no record at offsets {offset}..{high_watermark} for 30 s \
             (control records, which rskafka does not return?)"
        );
    }
}

/// Lower-case hex of `bytes`, as the peer takes them.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Event number `i` of a test stream: a registration by producer 9 with sequence `i`.
pub fn event(i: u64) -> usercenter::event::Envelope {
    use usercenter::event::{DATA_VERSION, Envelope, EventData, Registered};
    Envelope {
        version: DATA_VERSION,
        id: uuid::Uuid::from_u128(0xe000_0000 + u128::from(i)),
        user_id: uuid::Uuid::from_u128(u128::from(i % 50) + 1),
        occurred_at: Envelope::truncate_time(chrono::Utc::now()),
        request_id: format!("req-{i}"),
        producer_id: 9,
        sequence: i,
        data: EventData::Registered(Registered {
            username: format!("user{i}"),
            email: format!("user{i}@example.com"),
        }),
    }
}

/// Produces [`event`]s `range` to `user.events` with our producer, and waits until every one
/// is acknowledged; returns their ids.
pub async fn produce_events(broker: &str, range: std::ops::Range<u64>) -> Vec<uuid::Uuid> {
    let p = producer(broker, usercenter::producer::ProducerConfig::default()).await;
    let mut ids = Vec::new();
    for e in range.map(event) {
        ids.push(e.id);
        p.enqueue(event_record("user.events", &e)).await.unwrap();
    }
    p.close(std::time::Duration::from_secs(30)).await.unwrap();
    ids
}

/// The record our producer writes for `event`.
pub fn event_record(
    topic: &str,
    event: &usercenter::event::Envelope,
) -> usercenter::producer::ProducerRecord {
    let enc = event
        .encode(usercenter::event::ContentType::Postcard)
        .expect("encode");
    usercenter::producer::ProducerRecord {
        topic: topic.to_owned(),
        key: Some(enc.key),
        value: enc.value,
        headers: enc.headers,
        timestamp: None,
    }
}

/// How many times the service applied the effects of `event_id`, read from a stopped
/// service's store in `data_dir`.
pub fn applied_counts(data_dir: &Path, ids: &[uuid::Uuid]) -> Vec<u32> {
    use usercenter::store::{RedbStore, Store};
    let store = RedbStore::open(data_dir).expect("open the store");
    let mut counts = Vec::new();
    store
        .read(&mut |txn| {
            counts = ids
                .iter()
                .map(|id| usercenter::users::handlers::times_applied(txn, id))
                .collect::<Result<_, _>>()?;
            Ok(())
        })
        .expect("read the event log");
    counts
}
