//! `usercenter perf produce`: N records of S bytes through the producer layer, with the same
//! idempotency headers the service writes, then one summary line.
use std::{sync::Arc, time::Instant};

use crate::{
    kafka,
    producer::{
        BrokerTransport, BufferFullPolicy, Codec, ProduceError, Producer, ProducerConfig,
        ProducerRecord,
    },
};

/// What to run.
#[derive(Debug, Clone, clap::Args)]
pub struct ProduceArgs {
    /// Bootstrap brokers, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub brokers: Vec<String>,
    /// Topic; created with `--partitions` when missing.
    #[arg(long)]
    pub topic: String,
    /// Records to send.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Value size in bytes (at most 64 MiB).
    #[arg(long, default_value_t = 100, value_parser = record_size)]
    pub record_size: usize,
    /// Compression codec.
    #[arg(long, value_enum, default_value_t = Codec::Snappy)]
    pub codec: Codec,
    /// Partitions of the topic if it has to be created.
    #[arg(long, default_value_t = 1)]
    pub partitions: i32,
    /// Distinct keys (0: unkeyed records, sticky partitioning; at most 10,000,000).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(..=10_000_000))]
    pub keys: u64,
    /// Linger before a batch closes, in milliseconds.
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u64,
    /// Largest batch, in encoded bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub batch_max_bytes: usize,
    /// Send lone records: each one waits for the previous one's acknowledgement, and the
    /// latencies are per record (enqueue to acknowledgement), exact rather than bucket bounds.
    #[arg(long, default_value_t = false)]
    pub lone: bool,
}

/// `--record-size`: at most 64 MiB (the value is allocated up front, before the producer looks
/// at it).
fn record_size(text: &str) -> Result<usize, String> {
    const MAX: usize = 64 << 20;
    match text.parse::<usize>() {
        Ok(n) if n <= MAX => Ok(n),
        Ok(_) => Err(format!("at most {MAX} bytes")),
        Err(e) => Err(e.to_string()),
    }
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Records acknowledged.
    pub records: u64,
    /// Records not delivered.
    pub errors: u64,
    /// Wall-clock seconds from the first record to the last acknowledgement.
    pub seconds: f64,
    /// Client CPU seconds (user + system) spent.
    pub cpu_seconds: f64,
    /// Value bytes per record.
    pub record_size: usize,
    /// Median batch latency in milliseconds (upper bound of its histogram bucket).
    pub p50_ms: f64,
    /// 99th percentile batch latency in milliseconds (bucket upper bound).
    pub p99_ms: f64,
}

impl Summary {
    /// Records per second.
    pub fn records_per_s(&self) -> f64 {
        self.records as f64 / self.seconds.max(1e-9)
    }

    /// Client CPU seconds per million records.
    pub fn cpu_per_million(&self) -> f64 {
        self.cpu_seconds / (self.records.max(1) as f64 / 1e6)
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "records={} errors={} records_per_s={:.0} mb_per_s={:.2} cpu_s={:.2} cpu_s_per_million={} p50_ms={} p99_ms={}",
            self.records,
            self.errors,
            self.records_per_s(),
            self.records as f64 * self.record_size as f64 / 1e6 / self.seconds.max(1e-9),
            self.cpu_seconds,
            // Of no record, no figure.
            if self.records == 0 {
                "n/a".to_owned()
            } else {
                format!("{:.2}", self.cpu_per_million())
            },
            self.p50_ms,
            self.p99_ms,
        )
    }
}

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PerfError {
    /// The Kafka settings cannot be used.
    #[error(transparent)]
    Connect(#[from] super::PerfClientError),
    /// Kafka could not be reached or the topic not created.
    #[error(transparent)]
    Kafka(#[from] kafka::ClientError),
    /// The producer refused a record.
    #[error(transparent)]
    Produce(#[from] ProduceError),
    /// The flags make a producer setting the service would refuse.
    #[error("{field}: {why} (from the flags and the USERCENTER_PRODUCER_* settings)")]
    Setting {
        /// The setting.
        field: &'static str,
        /// What is wrong with it.
        why: String,
    },
}

/// Runs the load and returns its summary.
pub async fn run(args: &ProduceArgs) -> Result<Summary, PerfError> {
    let producer = producer(args).await?;
    let cpu_start = super::cpu_seconds();
    let start = Instant::now();
    let lone = send(args, &producer).await?;
    producer.flush().await;
    let seconds = start.elapsed().as_secs_f64();
    let cpu_seconds = super::cpu_seconds() - cpu_start;
    let summary = summarize(args, &producer, seconds, cpu_seconds, lone);
    let _ = producer.close(std::time::Duration::from_secs(5)).await;
    Ok(summary)
}

/// The producer `serve` would run with these settings, the topic created and its partitions
/// known.
async fn producer(args: &ProduceArgs) -> Result<Producer, PerfError> {
    let (client, cfg) = super::client(&args.brokers)?;
    let config = ProducerConfig {
        compression: args.codec,
        linger_ms: args.linger_ms,
        batch_max_bytes: args.batch_max_bytes,
        on_buffer_full: BufferFullPolicy::Wait,
        ..cfg.producer.clone()
    };
    // Checked as `serve` checks its configuration, before anything connects.
    config
        .check()
        .map_err(|(field, why)| PerfError::Setting { field, why })?;
    // With the replication factor `serve` creates its topics with.
    let replication = cfg.topics.replication_factor;
    client
        .ensure_topic(&args.topic, args.partitions, replication)
        .await?;
    // The transport `serve` would use with these settings: idempotent unless turned off.
    let transport = BrokerTransport::connect(client, &config).await;
    let producer = Producer::new(Arc::new(transport), config);
    producer.prepare(&args.topic).await?;
    Ok(producer)
}

/// Sends the records; with `--lone`, one at a time, and the milliseconds each took.
async fn send(args: &ProduceArgs, producer: &Producer) -> Result<Vec<f64>, PerfError> {
    // A producer id of its own per run, so its sequences (0, 1, ...) repeat no one's key.
    let producer_id = uuid::Uuid::new_v4().as_u128() as u64 >> 1;
    let value = vec![b'x'; args.record_size];
    let keys: Vec<Vec<u8>> = (0..args.keys)
        .map(|k| format!("user-{k}").into_bytes())
        .collect();
    let mut progress = super::Progress::new(std::time::Duration::from_secs(3));
    let mut lone = Vec::new();
    for i in 0..args.records {
        let key = (!keys.is_empty()).then(|| keys[(i % args.keys) as usize].clone());
        let record = ProducerRecord::new(args.topic.clone(), key, value.clone())
            .with_identity(producer_id, i);
        if args.lone {
            let sent = Instant::now();
            // A failure is counted by the metrics.
            let _ = producer.enqueue(record).await?.await;
            lone.push(sent.elapsed().as_secs_f64() * 1e3);
            progress.tick("produce", i + 1, args.records);
            continue;
        }
        // The report is dropped: the metrics count deliveries and failures.
        drop(producer.enqueue(record).await?);
        if i % 4096 == 0 {
            let done = producer.metrics().records_sent.get();
            progress.tick("produce", done, args.records);
        }
    }
    Ok(lone)
}

/// The run's summary from the producer's metrics; with `--lone`, the latencies are those
/// measured one record at a time.
fn summarize(
    args: &ProduceArgs,
    producer: &Producer,
    seconds: f64,
    cpu_seconds: f64,
    mut lone: Vec<f64>,
) -> Summary {
    let m = producer.metrics();
    let errors = m.errors_timeout.get() + m.errors_too_large.get() + m.errors_fatal.get();
    let summary = Summary {
        records: m.records_sent.get(),
        errors,
        seconds,
        cpu_seconds,
        record_size: args.record_size,
        p50_ms: m.latency.quantile(0.5) * 1e3,
        p99_ms: m.latency.quantile(0.99) * 1e3,
    };
    if lone.is_empty() {
        return summary;
    }
    lone.sort_by(f64::total_cmp);
    let at = |q: f64| lone[((q * lone.len() as f64).ceil() as usize).clamp(1, lone.len()) - 1];
    Summary {
        p50_ms: (at(0.5) * 100.0).round() / 100.0,
        p99_ms: (at(0.99) * 100.0).round() / 100.0,
        ..summary
    }
}
