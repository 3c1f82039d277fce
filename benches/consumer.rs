//! Consumer throughput against a local Nisshi broker this benchmark starts itself: 1,000,000
//! pre-produced 100 B records (with our idempotency headers) read through the full loop (fetch,
//! dedupe, no-op handler, one store transaction with the offset per batch) beside rskafka's own
//! `StreamConsumer` reading the same records, in the same run.
//!
//! `cargo bench --bench consumer`; under `cargo test` a small smoke version runs.

use std::{sync::Arc, time::Instant};

use futures::StreamExt;
use rskafka::client::{
    consumer::{StartOffset, StreamConsumerBuilder},
    partition::UnknownTopicHandling,
};
use usercenter::{
    perf::{
        self,
        consume::{ConsumeArgs, ConsumeSummary},
        produce::ProduceArgs,
    },
    producer::Codec,
};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

async fn stream_consumer(broker: &str, topic: &str, records: u64) -> ConsumeSummary {
    let client = testkit::client(broker).await;
    let partition = Arc::new(
        client
            .partition_client(topic, 0, UnknownTopicHandling::Retry)
            .await
            .expect("partition client"),
    );
    let mut stream = StreamConsumerBuilder::new(partition, StartOffset::Earliest)
        .with_max_batch_size(4 << 20)
        .with_max_wait_ms(100)
        .build();
    let cpu = perf::cpu_seconds();
    let start = Instant::now();
    let mut read = 0;
    while read < records {
        match stream.next().await {
            Some(Ok(_)) => read += 1,
            Some(Err(e)) => panic!("stream consumer: {e}"),
            None => break,
        }
    }
    ConsumeSummary {
        records: read,
        duplicates: 0,
        seconds: start.elapsed().as_secs_f64(),
        cpu_seconds: perf::cpu_seconds() - cpu,
    }
}

fn row(who: &str, s: &ConsumeSummary) {
    println!(
        "| {:>9} | {:<44} | {:>10.0} | {:>7.2} |",
        s.records + s.duplicates,
        who,
        s.records_per_s(),
        s.cpu_per_million()
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let records: u64 = if full { 1_000_000 } else { 20_000 };
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        panic!("tokio runtime");
    };
    runtime.block_on(async {
        let broker = testkit::Broker::memory().await;
        let topic = "consume-bench";
        let produce = ProduceArgs {
            brokers: vec![broker.addr.clone()],
            topic: topic.into(),
            records,
            record_size: 100,
            codec: Codec::Snappy,
            partitions: 1,
            keys: 0,
            linger_ms: 5,
            batch_max_bytes: 1 << 20,
            lone: false,
        };
        let produced = perf::produce::run(&produce).await.expect("pre-produce");
        assert_eq!(produced.records, records);
        println!("\nconsumer throughput, {records} records of 100 B (snappy), Nisshi memory://, 1 partition");
        println!("| records   | reader                                       | records/s  | CPU s/M |");
        println!("|-----------|----------------------------------------------|------------|---------|");
        let args = ConsumeArgs {
            brokers: vec![broker.addr.clone()],
            topic: topic.into(),
            records,
            fetch_max_bytes: 4 << 20,
            idle_secs: 30,
            data_dir: None,
        };
        let ours = perf::consume::run(&args, std::future::pending())
            .await
            .expect("perf consume");
        assert_eq!(ours.records, records, "every record handled once");
        row("usercenter loop (dedupe + durable commits)", &ours);
        let base = stream_consumer(&broker.addr, topic, records).await;
        assert_eq!(base.records, records);
        row("rskafka StreamConsumer (read only)", &base);
    });
}
