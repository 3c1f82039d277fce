//! `native-peer consume`: the librdkafka counterpart of `usercenter perf consume`. It reads N
//! records of a topic from the beginning of every partition (assigned, no group), with CRC
//! checks on (ours checks every batch's CRC-32C), and looks up each record's `ce_id` header (ours
//! reads it for its dedupe). Nothing is stored: ours also writes a dedupe mark per record and
//! commits the offsets in one store transaction per fetched batch.
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::args::Args;
use crate::{
    PROGRESS_EVERY, PeerContext, Result, SETUP_TIMEOUT, Summary, client_config, cpu_seconds,
};

/// A poll that returns nothing for this long ends the run: the topic has fewer records.
const IDLE_LIMIT: Duration = Duration::from_secs(30);

/// Reads `args.records` records of `args.topic`.
pub(crate) fn run(args: &Args) -> Result<Summary> {
    let mut config = client_config(&args.brokers);
    config
        .set("group.id", "native-peer")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("check.crcs", "true")
        .set("fetch.wait.max.ms", "100")
        .set("max.partition.fetch.bytes", "4194304")
        // librdkafka fetches ahead only while fewer records than this wait in its queue, then
        // pauses; at its default (100,000) it read 0.2-0.4 M records/s here, at this 1.3 M.
        .set("queued.min.messages", "1000000");
    for (key, value) in &args.settings {
        config.set(key, value);
    }
    let consumer: BaseConsumer<PeerContext> = config.create_with_context(PeerContext::default())?;
    let metadata = consumer
        .client()
        .fetch_metadata(Some(&args.topic), SETUP_TIMEOUT)?;
    let partitions = metadata
        .topics()
        .iter()
        .find(|t| t.name() == args.topic && t.error().is_none())
        .map(|t| t.partitions().len())
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("topic {} does not exist", args.topic))?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        let p = i32::try_from(p)?;
        assignment.add_partition_offset(&args.topic, p, Offset::Beginning)?;
    }

    let cpu_start = cpu_seconds()?;
    let start = Instant::now();
    consumer.assign(&assignment)?;
    let (mut records, mut bytes, mut with_id) = (0u64, 0u64, 0u64);
    let mut last_record = Instant::now();
    let mut last_progress = start;
    while records < args.records {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                records += 1;
                bytes += message.payload_len() as u64;
                let id = message
                    .headers()
                    .and_then(|h| h.iter().find(|h| h.key == "ce_id"))
                    .and_then(|h| h.value);
                with_id += u64::from(id.is_some_and(|v| !v.is_empty()));
                last_record = Instant::now();
            }
            Some(Err(error)) => return Err(format!("consume: {error}").into()),
            None if last_record.elapsed() > IDLE_LIMIT => {
                return Err(format!(
                    "{records} of {} records after {IDLE_LIMIT:?} without one",
                    args.records
                )
                .into());
            }
            None => {}
        }
        if last_progress.elapsed() >= PROGRESS_EVERY {
            last_progress = Instant::now();
            let secs = start.elapsed().as_secs_f64();
            eprintln!(
                "consume: {records}/{} records, {:.0} records/s, {secs:.1} s",
                args.records,
                records as f64 / secs.max(1e-9),
            );
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu_seconds = cpu_seconds()? - cpu_start;
    if with_id < records {
        eprintln!(
            "note: {} of {records} records had no ce_id",
            records - with_id
        );
    }
    Ok(Summary {
        records,
        errors: 0,
        seconds,
        cpu_seconds,
        record_size: usize::try_from(bytes / records.max(1))?,
    })
}
