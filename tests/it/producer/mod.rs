//! The producer against a real broker: delivery, partitioning, exactly-once under faults, the
//! event contract as librdkafka reads it, per-key order through outages, and batches of several
//! partitions in one request; the producer id asked for again while its answers are lost; a
//! connection the broker hung up replaced before a record fails on it; a row whose timestamp the
//! broker refuses sent again without one.
mod delivery;
mod event_contract;
mod gathered_requests;
mod hung_up;
mod idempotence;
mod outage_order;
mod partitioner;
mod producer_id;
mod refused_timestamp;
