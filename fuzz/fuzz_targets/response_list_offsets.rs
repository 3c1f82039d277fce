//! ListOffsets responses: arbitrary bytes through kafka-protocol's decoder via our adapter, at
//! every version we declare (the first byte picks it), then the offset of one partition. Ok or
//! Err, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use usercenter::kafka::protocol::{ListOffset, OffsetQuery, decode_fuzz_input};

fuzz_target!(|data: &[u8]| {
    if let Some((_, Ok(response))) = decode_fuzz_input::<ListOffset>(data) {
        let asked = ListOffset {
            topic: "user.events".to_owned(),
            partition: 0,
            query: OffsetQuery::HighWatermark,
        };
        let _ = asked.offset(&response);
    }
});
