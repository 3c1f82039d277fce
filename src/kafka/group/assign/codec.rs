//! The consumer protocol's wire format for subscriptions (JoinGroup metadata) and assignments
//! (SyncGroup), through `kafka-protocol`'s generated types. Each value starts with its version
//! (i16), as in every Kafka client.
use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::{
    messages::{
        TopicName, consumer_protocol_assignment::ConsumerProtocolAssignment,
        consumer_protocol_assignment::TopicPartition as AssignedPartitions,
        consumer_protocol_subscription::ConsumerProtocolSubscription,
        consumer_protocol_subscription::TopicPartition as OwnedPartitions,
    },
    protocol::{Decodable, Encodable, StrBytes},
};

use super::{Assignment, RebalanceProtocol, Subscription};

/// The subscription version we write for a cooperative assignor: 1 carries owned partitions
/// (KIP-429); 2 adds the generation. Brokers never read it, and librdkafka and the Java client
/// read up to 3.
const COOPERATIVE_SUBSCRIPTION_VERSION: i16 = 2;
/// The subscription version we write for an eager assignor, which needs nothing past the topics
/// and user data: the version every Kafka client reads, older ones (IBM Sarama 1.22, the Go
/// service's) included, which refuse the longer versions with "invalid length".
const EAGER_SUBSCRIPTION_VERSION: i16 = 0;
/// The assignment version we write.
const ASSIGNMENT_VERSION: i16 = 1;

/// Bytes that are not a subscription or assignment.
#[derive(Debug, thiserror::Error)]
#[error("consumer protocol {what}: {reason}")]
pub struct CodecError {
    what: &'static str,
    reason: String,
}

fn codec_error(what: &'static str, reason: impl std::fmt::Display) -> CodecError {
    CodecError {
        what,
        reason: reason.to_string(),
    }
}

fn topic_name(t: &str) -> TopicName {
    TopicName(StrBytes::from_string(t.to_owned()))
}

/// Reads the version prefix; versions newer than the crate knows are read as its newest (the
/// format only ever appends fields, and the Java client does the same).
fn version(bytes: &mut Bytes, what: &'static str, max: i16) -> Result<i16, CodecError> {
    if bytes.remaining() < 2 {
        return Err(codec_error(what, "shorter than its version"));
    }
    let v = bytes.get_i16();
    if v < 0 {
        return Err(codec_error(what, format!("version {v}")));
    }
    Ok(v.min(max))
}

/// Encodes a subscription as JoinGroup protocol metadata for an assignor of `protocol`: version 0
/// for an eager one (owned partitions and generation are left out), 2 for a cooperative one.
pub fn encode_subscription(
    s: &Subscription,
    protocol: RebalanceProtocol,
) -> Result<Bytes, CodecError> {
    let version = match protocol {
        RebalanceProtocol::Eager => EAGER_SUBSCRIPTION_VERSION,
        RebalanceProtocol::Cooperative => COOPERATIVE_SUBSCRIPTION_VERSION,
    };
    let msg = ConsumerProtocolSubscription::default()
        .with_topics(
            s.topics
                .iter()
                .map(|t| StrBytes::from_string(t.clone()))
                .collect(),
        )
        .with_user_data(s.user_data.clone())
        .with_owned_partitions(
            s.owned
                .iter()
                .map(|(t, p)| {
                    OwnedPartitions::default()
                        .with_topic(topic_name(t))
                        .with_partitions(p.clone())
                })
                .collect(),
        )
        .with_generation_id(s.generation);
    let mut out = BytesMut::new();
    out.extend_from_slice(&version.to_be_bytes());
    msg.encode(&mut out, version)
        .map_err(|e| codec_error("subscription", e))?;
    Ok(out.freeze())
}

/// Decodes JoinGroup protocol metadata (any version a Kafka client writes).
pub fn decode_subscription(bytes: &[u8]) -> Result<Subscription, CodecError> {
    let mut buf = Bytes::copy_from_slice(bytes);
    let v = version(&mut buf, "subscription", 3)?;
    let msg = ConsumerProtocolSubscription::decode(&mut buf, v)
        .map_err(|e| codec_error("subscription", e))?;
    let mut topics: Vec<String> = msg.topics.iter().map(|t| t.to_string()).collect();
    topics.sort();
    topics.dedup();
    let mut owned = Assignment::new();
    for tp in msg.owned_partitions {
        owned
            .entry(tp.topic.0.to_string())
            .or_default()
            .extend(tp.partitions);
    }
    sort_each(&mut owned);
    Ok(Subscription {
        topics,
        owned,
        generation: if v >= 2 { msg.generation_id } else { -1 },
        user_data: msg.user_data,
    })
}

/// Encodes a member's assignment for SyncGroup.
pub fn encode_assignment(a: &Assignment) -> Result<Bytes, CodecError> {
    encode_assignment_noting(a, None)
}

/// [`encode_assignment`] with the leader's `note` as the assignment's user data, which every
/// member gets with its share (clients that do not know it ignore it).
pub fn encode_assignment_noting(a: &Assignment, note: Option<&[u8]>) -> Result<Bytes, CodecError> {
    let msg = ConsumerProtocolAssignment::default()
        .with_user_data(note.map(Bytes::copy_from_slice))
        .with_assigned_partitions(
            a.iter()
                .map(|(t, p)| {
                    AssignedPartitions::default()
                        .with_topic(topic_name(t))
                        .with_partitions(p.clone())
                })
                .collect(),
        );
    let mut out = BytesMut::new();
    out.extend_from_slice(&ASSIGNMENT_VERSION.to_be_bytes());
    msg.encode(&mut out, ASSIGNMENT_VERSION)
        .map_err(|e| codec_error("assignment", e))?;
    Ok(out.freeze())
}

/// The user data of a SyncGroup assignment (the leader's note), when it has some and decodes.
pub fn assignment_note(bytes: &[u8]) -> Option<Bytes> {
    if bytes.is_empty() {
        return None;
    }
    let mut buf = Bytes::copy_from_slice(bytes);
    let v = version(&mut buf, "assignment", 3).ok()?;
    ConsumerProtocolAssignment::decode(&mut buf, v)
        .ok()?
        .user_data
}

/// Decodes a SyncGroup assignment. Empty bytes are an empty assignment (the coordinator sends
/// them to a member the leader left out).
pub fn decode_assignment(bytes: &[u8]) -> Result<Assignment, CodecError> {
    if bytes.is_empty() {
        return Ok(Assignment::new());
    }
    let mut buf = Bytes::copy_from_slice(bytes);
    let v = version(&mut buf, "assignment", 3)?;
    let msg = ConsumerProtocolAssignment::decode(&mut buf, v)
        .map_err(|e| codec_error("assignment", e))?;
    let mut out = Assignment::new();
    for tp in msg.assigned_partitions {
        out.entry(tp.topic.0.to_string())
            .or_default()
            .extend(tp.partitions);
    }
    sort_each(&mut out);
    Ok(out)
}

/// Sorts each topic's partitions and drops repeats, once all are in (a member may list a topic
/// many times: sorting after each entry would cost the square of their number).
fn sort_each(assignment: &mut Assignment) {
    for parts in assignment.values_mut() {
        parts.sort_unstable();
        parts.dedup();
    }
}
