//! Producer throughput against a local Nisshi broker this benchmark starts itself:
//! our producer layer (with its idempotency headers on every record) beside rskafka's own
//! `BatchProducer` (linger 5 ms, a 900 kB aggregator so its batches fit), in the same run.
//!
//! `cargo bench --bench producer` runs 1,000,000 × 100 B and 200,000 × 1 KiB, codecs none and
//! snappy. Under `cargo test` it runs a small smoke version of the same code.

use std::{sync::Arc, time::Instant};

use rskafka::{
    client::{
        partition::{Compression, UnknownTopicHandling},
        producer::{BatchProducerBuilder, aggregator::RecordAggregator},
    },
    record::Record,
};
use usercenter::{
    perf::{
        self,
        produce::{ProduceArgs, Summary},
    },
    producer::Codec,
};

/// The shipped binary's allocator, for both sides of the comparison.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Concurrent callers driving rskafka's BatchProducer (each awaits one record at a time).
const BASELINE_CALLERS: u64 = 8_192;

async fn baseline(broker: &str, topic: &str, records: u64, size: usize, codec: Codec) -> Summary {
    let client = testkit::client(broker).await;
    testkit::create_topic(&client, topic, 1).await;
    let partition = Arc::new(
        client
            .partition_client(topic, 0, UnknownTopicHandling::Retry)
            .await
            .expect("partition client"),
    );
    let compression = match codec {
        Codec::None => Compression::NoCompression,
        _ => Compression::Snappy,
    };
    let producer = Arc::new(
        BatchProducerBuilder::new(partition)
            .with_linger(std::time::Duration::from_millis(5))
            .with_compression(compression)
            .build(RecordAggregator::new(900_000)),
    );
    let cpu = perf::cpu_seconds();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for caller in 0..BASELINE_CALLERS.min(records) {
        let producer = Arc::clone(&producer);
        tasks.spawn(async move {
            let mut ok = 0u64;
            let mut i = caller;
            while i < records {
                let record = Record {
                    key: None,
                    value: Some(vec![b'x'; size]),
                    headers: Default::default(),
                    timestamp: chrono::Utc::now(),
                };
                if producer.produce(record).await.is_ok() {
                    ok += 1;
                }
                i += BASELINE_CALLERS;
            }
            ok
        });
    }
    let mut delivered = 0;
    while let Some(ok) = tasks.join_next().await {
        delivered += ok.unwrap_or(0);
    }
    Summary {
        records: delivered,
        errors: records - delivered,
        seconds: start.elapsed().as_secs_f64(),
        cpu_seconds: perf::cpu_seconds() - cpu,
        record_size: size,
        p50_ms: 0.0,
        p99_ms: 0.0,
    }
}

fn row(who: &str, codec: Codec, s: &Summary) {
    println!(
        "| {:>9} | {:>5} B | {:>6} | {:<32} | {:>10.0} | {:>7.1} | {:>7.2} | {} |",
        s.records + s.errors,
        s.record_size,
        format!("{codec:?}").to_lowercase(),
        who,
        s.records_per_s(),
        s.records as f64 * s.record_size as f64 / 1e6 / s.seconds.max(1e-9),
        s.cpu_per_million(),
        s.errors,
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let cases: [(u64, usize); 2] = if full {
        [(1_000_000, 100), (200_000, 1024)]
    } else {
        [(20_000, 100), (2_000, 1024)]
    };
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        panic!("tokio runtime");
    };
    runtime.block_on(async {
        let broker = testkit::Broker::memory().await;
        println!("\nproducer throughput, Nisshi memory://, 1 partition, acks=all, linger 5 ms");
        println!("| records   | size    | codec  | producer                         | records/s  | MB/s    | CPU s/M | errors |");
        println!("|-----------|---------|--------|----------------------------------|------------|---------|---------|--------|");
        for (records, size) in cases {
            for codec in [Codec::None, Codec::Snappy] {
                let args = ProduceArgs {
                    brokers: vec![broker.addr.clone()],
                    topic: format!("ours-{records}-{size}-{codec:?}"),
                    records,
                    record_size: size,
                    codec,
                    partitions: 1,
                    keys: 0,
                    linger_ms: 5,
                    batch_max_bytes: 1 << 20,
                    lone: false,
                };
                let ours = perf::produce::run(&args).await.expect("perf produce");
                assert_eq!(ours.records, records, "every record delivered");
                row("usercenter (ce_* headers)", codec, &ours);
                let topic = format!("rskafka-{records}-{size}-{codec:?}");
                let base = baseline(&broker.addr, &topic, records, size, codec).await;
                row("rskafka BatchProducer (no headers)", codec, &base);
            }
        }
    });
}
