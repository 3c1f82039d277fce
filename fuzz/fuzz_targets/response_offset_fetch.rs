//! OffsetFetch responses: arbitrary bytes through kafka-protocol's decoder via our adapter, at every
//! version we declare (the first byte picks it), then the offsets in either shape. Ok or Err, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use usercenter::kafka::protocol::{OffsetFetch, decode_fuzz_input};

fuzz_target!(|data: &[u8]| {
    if let Some((version, Ok(response))) = decode_fuzz_input::<OffsetFetch>(data) {
        let _ = OffsetFetch::offsets(&response, version);
    }
});
