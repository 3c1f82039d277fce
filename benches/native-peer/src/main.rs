//! `native-peer`: the librdkafka counterpart of `usercenter perf produce` and `perf consume`, for
//! speed comparisons (`native-peer consume ...` reads, [`consume`]; without it, it produces).
//!
//! It sends N unkeyed records of S bytes (sticky partitioning) through an idempotent librdkafka
//! producer with the same batching settings as ours, then prints one summary line on stdout in
//! the format of ours:
//!
//! `records=N errors=E records_per_s=X mb_per_s=Y cpu_s=Z cpu_s_per_million=C`
//!
//! `records` counts the acknowledged records, `errors` the failed deliveries. Time runs from the
//! first timed record to the last delivery report; CPU is this process's user + system time
//! (all threads, librdkafka's included) over the same span. Progress goes to stderr.
use std::error::Error;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

pub(crate) type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

mod args;
mod consume;

use args::{Args, Mode, USAGE};

/// How long topic creation, metadata and the warm-up record may take.
pub(crate) const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the final flush may take; librdkafka fails undeliverable records on its own after
/// `message.timeout.ms` (300 s by default), so this is only a backstop.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(600);
/// Records between two polls of the delivery-report queue in the send loop. Reports come one
/// event per acknowledged batch, so this serves them promptly at little cost.
const POLL_EVERY: u64 = 1024;
/// Progress lines on stderr, like ours.
pub(crate) const PROGRESS_EVERY: Duration = Duration::from_secs(3);

/// The clients' context: librdkafka's warnings and errors on stderr (rdkafka's default sends
/// them to the `log` crate, which has no logger here), and the producer's delivery counts.
#[derive(Debug, Default)]
pub(crate) struct PeerContext {
    delivered: AtomicU64,
    failed: AtomicU64,
    /// The first delivery error, shown at the end when there were any.
    first_error: OnceLock<String>,
}

impl PeerContext {
    fn reset(&self) {
        self.delivered.store(0, Ordering::Relaxed);
        self.failed.store(0, Ordering::Relaxed);
    }
}

impl ClientContext for PeerContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        use RDKafkaLogLevel::{Alert, Critical, Emerg, Error, Warning};
        if matches!(level, Emerg | Alert | Critical | Error | Warning) {
            eprintln!("librdkafka: {fac}: {log_message}");
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        eprintln!("librdkafka error: {error}: {reason}");
    }
}

impl ConsumerContext for PeerContext {}

impl ProducerContext for PeerContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                // Only the first one is kept; later ones are counted.
                let _ = self.first_error.set(error.to_string());
            }
        }
    }
}

/// The result of a run, printed like ours.
#[derive(Debug)]
pub(crate) struct Summary {
    pub(crate) records: u64,
    pub(crate) errors: u64,
    pub(crate) seconds: f64,
    pub(crate) cpu_seconds: f64,
    pub(crate) record_size: usize,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seconds = self.seconds.max(1e-9);
        write!(
            f,
            "records={} errors={} records_per_s={:.0} mb_per_s={:.2} cpu_s={:.2} cpu_s_per_million={:.2}",
            self.records,
            self.errors,
            self.records as f64 / seconds,
            self.records as f64 * self.record_size as f64 / 1e6 / seconds,
            self.cpu_seconds,
            self.cpu_seconds / (self.records.max(1) as f64 / 1e6),
        )
    }
}

/// User + system CPU seconds of this process so far, all threads.
pub(crate) fn cpu_seconds() -> Result<f64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole `rusage` to the valid pointer it is given.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return Err(format!("getrusage: {}", std::io::Error::last_os_error()).into());
    }
    // SAFETY: getrusage succeeded, so it filled the struct (which started zeroed anyway).
    let usage = unsafe { usage.assume_init() };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(secs(usage.ru_utime) + secs(usage.ru_stime))
}

pub(crate) fn client_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", "native-peer");
    config
}

/// Creates the topic with `partitions` partitions (one replica) unless it exists.
fn ensure_topic(args: &Args) -> Result<()> {
    let admin: AdminClient<PeerContext> =
        client_config(&args.brokers).create_with_context(PeerContext::default())?;
    let topic = NewTopic::new(&args.topic, args.partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new()
        .request_timeout(Some(SETUP_TIMEOUT))
        .operation_timeout(Some(SETUP_TIMEOUT));
    for result in futures_executor::block_on(admin.create_topics([&topic], &options))? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(format!("creating topic {name}: {code}").into()),
        }
    }
    Ok(())
}

/// Waits until the producer sees the topic's partitions (and so has its connections up), and
/// returns how many there are.
fn wait_for_topic(producer: &BaseProducer<PeerContext>, topic: &str) -> Result<usize> {
    let deadline = Instant::now() + SETUP_TIMEOUT;
    loop {
        let metadata = producer
            .client()
            .fetch_metadata(Some(topic), SETUP_TIMEOUT)?;
        if let Some(t) = metadata.topics().iter().find(|t| t.name() == topic)
            && t.error().is_none()
            && !t.partitions().is_empty()
        {
            return Ok(t.partitions().len());
        }
        if Instant::now() >= deadline {
            return Err(format!("topic {topic} has no partitions after {SETUP_TIMEOUT:?}").into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The headers `usercenter perf produce` writes on each record, so that both producers put the
/// same bytes on the wire: `ce_producerid`, `ce_sequence` and a `ce_id` shaped like a UUID.
fn identity_headers(producer_id: &str, sequence: u64, rng: &mut u64) -> OwnedHeaders {
    // xorshift64: cheap, and the ids need only look like UUIDs.
    let mut next = || {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        *rng
    };
    let (a, b) = (next(), next());
    let id = format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) | 0x8000,
        b & 0xffff_ffff_ffff
    );
    let sequence = sequence.to_string();
    OwnedHeaders::new_with_capacity(3)
        .insert(Header {
            key: "ce_id",
            value: Some(id.as_bytes()),
        })
        .insert(Header {
            key: "ce_producerid",
            value: Some(producer_id.as_bytes()),
        })
        .insert(Header {
            key: "ce_sequence",
            value: Some(sequence.as_bytes()),
        })
}

/// Sends one record, polling the delivery reports while librdkafka's queue is full.
fn send(
    producer: &BaseProducer<PeerContext>,
    topic: &str,
    value: &[u8],
    headers: Option<OwnedHeaders>,
) -> Result<()> {
    let mut record = BaseRecord::<(), [u8]>::to(topic).payload(value);
    if let Some(headers) = headers {
        record = record.headers(headers);
    }
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.poll(Duration::from_millis(1));
            }
            Err((error, _)) => return Err(format!("produce: {error}").into()),
        }
    }
}

/// Serves delivery reports until every record sent has one: `flush`, but with a 1 ms poll
/// instead of the 100 ms steps of rdkafka's own `flush` (the clock stops here).
fn drain(producer: &BaseProducer<PeerContext>) -> Result<()> {
    let deadline = Instant::now() + FLUSH_TIMEOUT;
    while producer.in_flight_count() > 0 {
        if Instant::now() >= deadline {
            return Err(format!(
                "{} records still unacknowledged after {FLUSH_TIMEOUT:?}",
                producer.in_flight_count()
            )
            .into());
        }
        producer.poll(Duration::from_millis(1));
    }
    Ok(())
}

fn run(args: &Args) -> Result<Summary> {
    ensure_topic(args)?;
    let mut config = client_config(&args.brokers);
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("compression.codec", args.codec.librdkafka_name())
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576");
    for (key, value) in &args.settings {
        config.set(key, value);
    }
    let producer: BaseProducer<PeerContext> = config.create_with_context(PeerContext::default())?;
    let partitions = wait_for_topic(&producer, &args.topic)?;
    if partitions != args.partitions as usize {
        eprintln!(
            "note: topic {} exists with {partitions} partitions, not {}",
            args.topic, args.partitions
        );
    }
    let value = vec![b'x'; args.record_size];

    // Ours starts its clock with the metadata fetched and the producer id assigned. librdkafka
    // has no call that waits for its producer id, so one untimed record goes first: once it is
    // acknowledged, the connection is up and the id assigned.
    let producer_id = format!("{}", std::process::id() as u64 * 1_000_003);
    let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ u64::from(std::process::id());
    send(
        &producer,
        &args.topic,
        &value,
        args.headers
            .then(|| identity_headers(&producer_id, 0, &mut rng)),
    )?;
    drain(&producer)?;
    if producer.context().delivered.load(Ordering::Relaxed) != 1 {
        let error = producer
            .context()
            .first_error
            .get()
            .map_or("", String::as_str);
        return Err(format!("the warm-up record was not delivered: {error}").into());
    }
    producer.context().reset();

    let cpu_start = cpu_seconds()?;
    let start = Instant::now();
    let mut last_progress = start;
    for i in 0..args.records {
        let headers = args
            .headers
            .then(|| identity_headers(&producer_id, i + 1, &mut rng));
        send(&producer, &args.topic, &value, headers)?;
        if i % POLL_EVERY == 0 {
            producer.poll(Duration::ZERO);
            if last_progress.elapsed() >= PROGRESS_EVERY {
                last_progress = Instant::now();
                let done = producer.context().delivered.load(Ordering::Relaxed);
                let secs = start.elapsed().as_secs_f64();
                eprintln!(
                    "produce: {done}/{} records, {:.0} records/s, {secs:.1} s",
                    args.records,
                    done as f64 / secs.max(1e-9),
                );
            }
        }
    }
    drain(&producer)?;
    let seconds = start.elapsed().as_secs_f64();
    let cpu_seconds = cpu_seconds()? - cpu_start;

    let context = producer.context();
    let errors = context.failed.load(Ordering::Relaxed);
    if let Some(error) = context.first_error.get() {
        eprintln!("{errors} records failed; the first: {error}");
    }
    Ok(Summary {
        records: context.delivered.load(Ordering::Relaxed),
        errors,
        seconds,
        cpu_seconds,
        record_size: args.record_size,
    })
}

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let outcome = Args::parse(std::env::args().skip(1)).and_then(|args| match args.mode {
        Mode::Produce => run(&args),
        Mode::Consume => consume::run(&args),
    });
    match outcome {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("native-peer: {error}");
            ExitCode::FAILURE
        }
    }
}
