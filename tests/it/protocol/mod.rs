//! Our Kafka protocol layer (`src/kafka/protocol`) against a real broker.
mod connections;
mod idempotent_writer;
mod prompt_fetch;
