//! InitProducerId responses: arbitrary bytes through kafka-protocol's decoder via our adapter, at every
//! version we declare (the first byte picks it), then the identity in it. Ok or Err, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use usercenter::kafka::protocol::{InitProducerId, decode_fuzz_input};

fuzz_target!(|data: &[u8]| {
    if let Some((_, Ok(response))) = decode_fuzz_input::<InitProducerId>(data) {
        let _ = InitProducerId::identity(&response);
    }
});
