//! Consumer groups: takeover, membership, librdkafka members in our group, operator tooling.
mod consumer_group;
mod interop;
mod membership;
mod session;
mod tools;
