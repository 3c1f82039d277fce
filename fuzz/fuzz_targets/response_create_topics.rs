//! CreateTopics responses: arbitrary bytes through kafka-protocol's decoder via our adapter, at
//! every version we declare (the first byte picks it), then the code for one topic. Ok or Err,
//! never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use usercenter::kafka::protocol::{CreateTopic, decode_fuzz_input};

fuzz_target!(|data: &[u8]| {
    if let Some((_, Ok(response))) = decode_fuzz_input::<CreateTopic>(data) {
        let asked = CreateTopic {
            name: "user.events".to_owned(),
            partitions: 3,
            replication_factor: 1,
            timeout_ms: 30_000,
        };
        let _ = asked.code(&response);
    }
});
