//! The producer against a real broker: delivery, partitioning, exactly-once under faults, the
//! event contract as librdkafka reads it, and per-key order through outages.
mod delivery;
mod event_contract;
mod idempotence;
mod outage_order;
mod partitioner;
