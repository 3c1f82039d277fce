//! Consumer groups: takeover, membership, librdkafka members in our group, operator tooling.
mod consumer_group;
mod fenced;
mod interop;
mod late_assignment;
mod membership;
mod revocation;
mod session;
mod tools;
mod topic_growth;
