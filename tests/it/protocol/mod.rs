//! Our Kafka protocol layer (`src/kafka/protocol`) against a real broker.
mod answer_order;
mod connections;
mod idempotent_writer;
mod leader_lookups;
mod prompt_fetch;
mod silent_broker;
