//! A batch's Produce request (records encoded once, by `kafka::records::encode`, with producer
//! id, epoch and base sequence), its records decoded back for a split, and what each answer
//! means for the partition's pipeline.
use chrono::{TimeZone, Utc};
use rskafka::{client::partition::Compression, record::Record};

use crate::kafka::{
    error_code::{ErrorCode, ResponseError},
    protocol::{Produce, ProducerIdentity},
    records::{
        self,
        encode::{self, Stamp},
    },
};

/// The stamp of a batch written by `identity` from `sequence` on: base sequence −1 without a
/// producer id, as Kafka's clients write it.
fn stamp(identity: ProducerIdentity, sequence: i32) -> Stamp {
    Stamp {
        producer_id: identity.id,
        producer_epoch: identity.epoch,
        base_sequence: if identity.is_none() { -1 } else { sequence },
    }
}

/// A Produce request (acks = all) of one batch of `records` to `topic`/`partition`, written by
/// `identity` from `sequence` on. The records are encoded (and compressed) here, once; a resend
/// sends the same bytes.
pub fn produce_request(
    topic: &str,
    partition: i32,
    records: &[Record],
    compression: Compression,
    identity: ProducerIdentity,
    sequence: i32,
    broker_timeout_ms: i32,
) -> std::io::Result<Produce> {
    Ok(Produce {
        topic: topic.to_owned(),
        partition,
        batch: encode::encode_batch(records, compression, stamp(identity, sequence))?,
        timeout_ms: broker_timeout_ms,
    })
}

/// The records of `request` (built by [`produce_request`]), decoded from its batch: a batch the
/// broker refused as too large is split from them (the pipeline keeps no other copy).
/// Timestamps come back at the millisecond precision the batch carries. `None` if the batch
/// does not decode (it is ours, so it always should); the batch then fails rather than split
/// nothing.
pub(super) fn take_records(request: &Produce) -> Option<Vec<Record>> {
    // Our own batch: no cap worth the name on how far it decompresses (a batch of repeated
    // values compresses far beyond any fixed ratio).
    let cap = usize::try_from(u32::MAX).unwrap_or(usize::MAX);
    let fetched = records::read(&request.batch, cap, &[])
        .ok()
        .filter(|set| set.unreadable.is_none())?;
    let records = fetched
        .records
        .into_iter()
        .map(|r| Record {
            key: r.key.map(|k| k.to_vec()),
            value: r.value.map(|v| v.to_vec()),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), v.to_vec()))
                .collect(),
            timestamp: Utc
                .timestamp_millis_opt(r.timestamp_ms)
                .single()
                .unwrap_or_default(),
        })
        .collect();
    Some(records)
}

/// Gives the batch of `request` a new identity and base sequence (after a renewal).
pub(super) fn restamp(request: &mut Produce, identity: ProducerIdentity, sequence: i32) {
    request.batch = encode::restamp(&request.batch, stamp(identity, sequence));
}

/// The sequence after a batch of `count` records from `sequence`; sequences wrap to 0 after
/// `i32::MAX`, as Kafka's do.
pub(super) fn next_sequence(sequence: i32, count: usize) -> i32 {
    let next = (i64::from(sequence) + count as i64) % (i64::from(i32::MAX) + 1);
    i32::try_from(next).unwrap_or(0)
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
    /// Too large for the broker (MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE), not written:
    /// split it, or fail it alone when it holds one record.
    TooLarge(ErrorCode),
    /// The broker found the batch damaged (CORRUPT_MESSAGE), not written: resend it a bounded
    /// number of times, then fail it (and those behind it) with this code.
    Corrupt(ErrorCode),
    /// Fail the batch (and those behind it) with this code.
    Fail(ErrorCode),
}

/// The verdict for error code `code` with base offset `offset`; `behind_failure` says whether
/// an earlier batch of the same round already failed.
/// Retriable codes are Kafka's (its table, through [`ErrorCode::is_retriable`]), each resent to
/// the leader found in fresh metadata; the idempotence codes and the too-large ones are the
/// pipeline's own decisions.
/// CORRUPT_MESSAGE (retriable in Kafka's table, and retried by the Java client) is resent a
/// bounded number of times: the request was damaged on the way (a flipped bit on the network,
/// a faulty proxy), and a resend carries the intact bytes again; but a batch we encoded wrong
/// would be refused every time, byte for byte the same, so it fails after those few resends
/// rather than at its deadline.
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
        Some(E::MessageTooLarge | E::RecordListTooLarge) => Verdict::TooLarge(code),
        Some(E::CorruptMessage) => Verdict::Corrupt(code),
        _ if code.leader_moved() || code.is_retriable() => Verdict::Retry { refresh: true },
        _ => Verdict::Fail(code),
    }
}

#[cfg(test)]
mod tests;
