//! Produce requests with producer id, epoch and base sequence (rskafka's `PartitionClient`
//! always writes −1 there), and what each answer means for the writer.
use chrono::{TimeZone, Utc};
use rskafka::{
    client::partition::Compression,
    protocol::{
        messages::{
            ProduceRequest, ProduceRequestPartitionData, ProduceRequestTopicData, ProduceResponse,
        },
        primitives::{Int16, Int32, NullableString, Records, String_},
        record::{
            ControlBatchOrRecords, Record as ProtocolRecord, RecordBatch, RecordBatchCompression,
            RecordBatchTimestampType, RecordHeader,
        },
    },
    record::Record,
};

use crate::kafka::{
    error_code::{ErrorCode, ResponseError},
    protocol::ProducerIdentity,
};

/// A ProduceRequest (acks = all) of one batch of `records` to `topic`/`partition`, written by
/// `identity` from `sequence` on.
pub fn produce_request(
    topic: &str,
    partition: i32,
    records: Vec<Record>,
    compression: Compression,
    identity: ProducerIdentity,
    sequence: i32,
    broker_timeout_ms: i32,
) -> ProduceRequest {
    let first_timestamp = records.first().map(|r| r.timestamp).unwrap_or_default();
    let max_timestamp = records
        .iter()
        .map(|r| r.timestamp)
        .max()
        .unwrap_or(first_timestamp);
    let last_offset_delta = i32::try_from(records.len().saturating_sub(1)).unwrap_or(i32::MAX);
    let records = records
        .into_iter()
        .enumerate()
        .map(|(delta, r)| ProtocolRecord {
            key: r.key,
            value: r.value,
            timestamp_delta: (r.timestamp - first_timestamp).num_milliseconds(),
            offset_delta: i32::try_from(delta).unwrap_or(i32::MAX),
            headers: r
                .headers
                .into_iter()
                .map(|(key, value)| RecordHeader { key, value })
                .collect(),
        })
        .collect();
    let batch = RecordBatch {
        base_offset: 0,
        partition_leader_epoch: -1,
        last_offset_delta,
        first_timestamp: first_timestamp.timestamp_millis(),
        max_timestamp: max_timestamp.timestamp_millis(),
        producer_id: identity.id,
        producer_epoch: identity.epoch,
        base_sequence: base_sequence(identity, sequence),
        records: ControlBatchOrRecords::Records(records),
        compression: batch_compression(compression),
        is_transactional: false,
        timestamp_type: RecordBatchTimestampType::CreateTime,
    };
    ProduceRequest {
        transactional_id: NullableString(None),
        acks: Int16(-1),
        timeout_ms: Int32(broker_timeout_ms),
        topic_data: vec![ProduceRequestTopicData {
            name: String_(topic.to_owned()),
            partition_data: vec![ProduceRequestPartitionData {
                index: Int32(partition),
                records: Records(vec![batch]),
            }],
        }],
    }
}

/// The base sequence a batch carries: −1 without a producer id, as Kafka's clients write it.
fn base_sequence(identity: ProducerIdentity, sequence: i32) -> i32 {
    if identity.is_none() { -1 } else { sequence }
}

fn batch_compression(compression: Compression) -> RecordBatchCompression {
    match compression {
        Compression::NoCompression => RecordBatchCompression::NoCompression,
        Compression::Gzip => RecordBatchCompression::Gzip,
        Compression::Lz4 => RecordBatchCompression::Lz4,
        Compression::Snappy => RecordBatchCompression::Snappy,
        Compression::Zstd => RecordBatchCompression::Zstd,
    }
}

/// The records of `request` (built by [`produce_request`]) as they were submitted, moved out
/// rather than copied: a batch the broker rejected goes back to its submitter, which may split
/// it. Timestamps come back at the millisecond precision the batch carries.
pub(super) fn take_records(request: ProduceRequest) -> Vec<Record> {
    let batches = request
        .topic_data
        .into_iter()
        .flat_map(|t| t.partition_data)
        .flat_map(|p| p.records.0);
    let mut out = Vec::new();
    for batch in batches {
        let ControlBatchOrRecords::Records(records) = batch.records else {
            continue;
        };
        out.extend(records.into_iter().map(|r| {
            Record {
                key: r.key,
                value: r.value,
                headers: r.headers.into_iter().map(|h| (h.key, h.value)).collect(),
                timestamp: Utc
                    .timestamp_millis_opt(batch.first_timestamp.saturating_add(r.timestamp_delta))
                    .single()
                    .unwrap_or_default(),
            }
        }));
    }
    out
}

/// Gives the batch of `request` a new identity and base sequence (after a renewal).
pub(super) fn restamp(request: &mut ProduceRequest, identity: ProducerIdentity, sequence: i32) {
    for topic in &mut request.topic_data {
        for partition in &mut topic.partition_data {
            for batch in &mut partition.records.0 {
                batch.producer_id = identity.id;
                batch.producer_epoch = identity.epoch;
                batch.base_sequence = base_sequence(identity, sequence);
            }
        }
    }
}

/// The sequence after a batch of `count` records from `sequence`; sequences wrap to 0 after
/// `i32::MAX`, as Kafka's do.
pub(super) fn next_sequence(sequence: i32, count: usize) -> i32 {
    let next = (i64::from(sequence) + count as i64) % (i64::from(i32::MAX) + 1);
    i32::try_from(next).unwrap_or(0)
}

/// The error code (NONE: success) and base offset the broker answered for
/// `topic`/`partition`; `None` when the answer does not mention the partition.
pub fn response_error(
    response: &ProduceResponse,
    topic: &str,
    partition: i32,
) -> Option<(ErrorCode, i64)> {
    response
        .responses
        .iter()
        .filter(|t| t.name.0 == topic)
        .flat_map(|t| &t.partition_responses)
        .find(|p| p.index.0 == partition)
        .map(|p| {
            let code = p.error.as_ref().map_or(ErrorCode::NONE, ErrorCode::from);
            (code, p.base_offset.0)
        })
}

/// What an answer means for the batch it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Written now (with its base offset) or before (`None`: DUPLICATE_SEQUENCE_NUMBER).
    Delivered(Option<i64>),
    /// Resend unchanged; `refresh`: look the leader up again first.
    Retry { refresh: bool },
    /// Renew the producer identity and renumber.
    Renew,
    /// Fail the batch (and those behind it) with this code.
    Fail(ErrorCode),
}

/// The verdict for error code `code` with base offset `offset`; `behind_failure` says whether
/// an earlier batch of the same round already failed.
/// Retriable codes are Kafka's (its table, through [`ErrorCode::is_retriable`]), each resent to
/// the leader found in fresh metadata; the idempotence codes are this writer's own decisions.
/// CORRUPT_MESSAGE, retriable in Kafka's table, fails here: the batch is resent byte for byte,
/// so a batch the broker found corrupt would only be refused again until the deadline.
pub(super) fn classify(code: ErrorCode, offset: i64, behind_failure: bool) -> Verdict {
    use ResponseError as E;
    match code.error() {
        None => Verdict::Delivered(Some(offset)),
        Some(E::DuplicateSequenceNumber) => Verdict::Delivered(None),
        // The gap is an earlier batch's when one failed.
        Some(E::OutOfOrderSequenceNumber) if behind_failure => Verdict::Retry { refresh: false },
        Some(
            E::OutOfOrderSequenceNumber
            | E::InvalidProducerEpoch
            | E::UnknownProducerId
            | E::ProducerFenced,
        ) => Verdict::Renew,
        Some(E::CorruptMessage) => Verdict::Fail(code),
        _ if code.leader_moved() || code.is_retriable() => Verdict::Retry { refresh: true },
        _ => Verdict::Fail(code),
    }
}
