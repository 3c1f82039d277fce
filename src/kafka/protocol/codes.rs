//! Kafka error codes that more than one request of the protocol layer acts on.

/// Whether `code` says the partition's leader moved or is being elected
/// (UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER,
/// FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH): ask for the leader again and retry.
pub(super) const fn leader_moved(code: i16) -> bool {
    matches!(code, 3 | 5 | 6 | 74 | 75)
}
