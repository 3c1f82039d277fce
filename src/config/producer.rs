//! `[producer]` settings: batching, compression, retries, buffer.
use serde::{Deserialize, Serialize};

/// Compression codec of produced batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// No compression.
    None,
    /// Snappy (default): cheap and effective on JSON-like data.
    Snappy,
    /// gzip.
    Gzip,
    /// LZ4.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Codec {
    pub(crate) fn to_rskafka(self) -> rskafka::client::partition::Compression {
        use rskafka::client::partition::Compression;
        match self {
            Self::None => Compression::NoCompression,
            Self::Snappy => Compression::Snappy,
            Self::Gzip => Compression::Gzip,
            Self::Lz4 => Compression::Lz4,
            Self::Zstd => Compression::Zstd,
        }
    }
}

/// What `enqueue` does when the buffer is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BufferFullPolicy {
    /// Return `BufferFull` at once (default).
    Error,
    /// Wait (asynchronously) until delivered records free up space.
    Wait,
}

/// `[producer]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProducerConfig {
    /// A batch closes at this many records. Default 10000.
    pub batch_max_records: usize,
    /// A batch closes before its encoded size (uncompressed, batch header included) would pass
    /// this many bytes; never above `max_message_bytes`. Default 1048576 (1 MiB).
    pub batch_max_bytes: usize,
    /// A batch closes this long after its first record. Default 0: a batch closes as soon as
    /// the partition's writer has room for another request; records arriving while its
    /// requests are in flight still batch up. Measured (docs/performance.md): throughput the
    /// same as with 5 within noise, a lone record acknowledged in 0.25 ms instead of 6.35.
    pub linger_ms: u64,
    /// `none`, `snappy` (default), `gzip`, `lz4` or `zstd`.
    pub compression: Codec,
    /// Which partition a key goes to, by librdkafka's names: `murmur2_random` (default, as the
    /// Java client), `murmur2`, `consistent_random`, `consistent`, `fnv1a_random` (as Sarama's
    /// default) or `fnv1a`.
    pub partitioner: Partitioner,
    /// The topics' `max.message.bytes`: the largest batch the broker takes. Default 1048588.
    pub max_message_bytes: usize,
    /// Bytes of records buffered across all partitions before `send` waits. Default 67108864 (64 MiB).
    pub buffer_bytes: usize,
    /// What `enqueue` does when the buffer is full: `error` (default) or `wait`.
    pub on_buffer_full: BufferFullPolicy,
    /// A record not acknowledged this long after the first record of its batch was buffered
    /// fails with a timeout. Default 120000.
    pub delivery_timeout_ms: u64,
    /// First retry backoff; doubles per attempt with jitter. Default 100.
    pub retry_backoff_ms: u64,
    /// Longest retry backoff. Default 5000.
    pub retry_backoff_max_ms: u64,
    /// Longest wait for one produce request before it counts as failed and is retried. Default 30000.
    pub request_timeout_ms: u64,
    /// The broker-level idempotent producer (InitProducerId, producer id, epoch and sequence
    /// numbers on every batch): the broker drops the duplicates our retries would write.
    /// Default true; `false`, or a broker without InitProducerId, sends as rskafka does (one
    /// request in flight per partition).
    pub enable_idempotence: bool,
    /// Produce requests in flight per partition with idempotence, 1 to 5 (Kafka keeps the
    /// state of 5 per producer and partition). Default 5.
    pub max_in_flight: usize,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        Self {
            batch_max_records: 10_000,
            batch_max_bytes: 1 << 20,
            linger_ms: 0,
            compression: Codec::Snappy,
            partitioner: Partitioner::Murmur2Random,
            max_message_bytes: 1_048_588,
            buffer_bytes: 64 << 20,
            on_buffer_full: BufferFullPolicy::Error,
            delivery_timeout_ms: 120_000,
            retry_backoff_ms: 100,
            retry_backoff_max_ms: 5_000,
            request_timeout_ms: 30_000,
            enable_idempotence: true,
            max_in_flight: 5,
        }
    }
}

impl ProducerConfig {
    /// The byte limit a batch is closed at: the smaller of `batch_max_bytes` and `max_message_bytes`.
    pub fn batch_limit(&self) -> usize {
        self.batch_max_bytes.min(self.max_message_bytes)
    }

    /// Checks the values; returns `(field, problem)` for the first bad one.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let positive = [
            ("producer.batch_max_records", self.batch_max_records as u64),
            ("producer.batch_max_bytes", self.batch_max_bytes as u64),
            ("producer.max_message_bytes", self.max_message_bytes as u64),
            ("producer.buffer_bytes", self.buffer_bytes as u64),
            ("producer.delivery_timeout_ms", self.delivery_timeout_ms),
            ("producer.request_timeout_ms", self.request_timeout_ms),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err((field, "must be at least 1".into()));
            }
        }
        if self.batch_limit() < crate::kafka::records::size::BATCH_OVERHEAD + 16 {
            return Err((
                "producer.batch_max_bytes",
                "too small to hold any record".into(),
            ));
        }
        // A batch's length and the request that carries it are 32-bit on the wire; a broker
        // refuses far less (socket.request.max.bytes: 100 MiB by default).
        for (field, value) in [
            ("producer.batch_max_bytes", self.batch_max_bytes),
            ("producer.max_message_bytes", self.max_message_bytes),
        ] {
            if value > MAX_BATCH_BYTES {
                return Err((field, format!("must be at most {MAX_BATCH_BYTES}")));
            }
        }
        if self.buffer_bytes > u32::MAX as usize {
            return Err((
                "producer.buffer_bytes",
                format!("must be at most {}", u32::MAX),
            ));
        }
        let bounded = [
            ("producer.linger_ms", self.linger_ms, 60_000),
            (
                "producer.delivery_timeout_ms",
                self.delivery_timeout_ms,
                7 * 86_400_000,
            ),
            (
                "producer.request_timeout_ms",
                self.request_timeout_ms,
                3_600_000,
            ),
            (
                "producer.retry_backoff_max_ms",
                self.retry_backoff_max_ms,
                3_600_000,
            ),
        ];
        for (field, value, max) in bounded {
            if value > max {
                return Err((field, format!("must be at most {max}")));
            }
        }
        if !(1..=5).contains(&self.max_in_flight) {
            return Err(("producer.max_in_flight", "must be 1 to 5".into()));
        }
        // As the Java client requires: a delivery deadline shorter than one request (and the
        // linger before it) fails records that a slow broker would have taken, and the relay
        // sends their rows again and again.
        if self.delivery_timeout_ms < self.linger_ms.saturating_add(self.request_timeout_ms) {
            return Err((
                "producer.delivery_timeout_ms",
                "must be at least producer.linger_ms + producer.request_timeout_ms".into(),
            ));
        }
        if self.retry_backoff_max_ms < self.retry_backoff_ms {
            return Err((
                "producer.retry_backoff_max_ms",
                "must not be below producer.retry_backoff_ms".into(),
            ));
        }
        Ok(())
    }
}

/// The most `batch_max_bytes` and `max_message_bytes` may say: 64 MiB. A batch is read back
/// whole in one fetch answer, whatever the fetch's byte limit (KIP-74), and the client reads
/// answers of at most 100 MiB: a larger batch could be written but never consumed.
const MAX_BATCH_BYTES: usize = 64 << 20;

/// `[producer] partitioner`: how a record's key picks its partition, by librdkafka's names.
///
/// | name | keyed record | empty key | no key |
/// |---|---|---|---|
/// | `murmur2_random` | murmur2 | murmur2 | sticky |
/// | `murmur2` | murmur2 | murmur2 | murmur2 of no bytes |
/// | `consistent_random` | CRC32 | sticky | sticky |
/// | `consistent` | CRC32 | CRC32 (partition 0) | CRC32 (partition 0) |
/// | `fnv1a_random` | FNV-1a | FNV-1a | sticky |
/// | `fnv1a` | FNV-1a | FNV-1a | FNV-1a of no bytes |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Partitioner {
    /// Java-compatible murmur2 of the key, positive, modulo the partition count; records without
    /// a key go to the sticky partition. The Java client's default. Our default.
    #[default]
    Murmur2Random,
    /// As `murmur2_random`, but a record without a key hashes like an empty key.
    Murmur2,
    /// CRC32 of the key modulo the partition count; empty keys and no key go to the sticky
    /// partition. librdkafka's own default.
    ConsistentRandom,
    /// CRC32 of the key modulo the partition count; empty keys and no key go to partition 0.
    Consistent,
    /// FNV-1a (32-bit) of the key, as Sarama's default hash partitioner maps it; records without
    /// a key go to the sticky partition.
    Fnv1aRandom,
    /// As `fnv1a_random`, but a record without a key hashes like an empty key.
    Fnv1a,
}
