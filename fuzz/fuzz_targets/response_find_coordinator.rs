//! FindCoordinator responses: arbitrary bytes through kafka-protocol's decoder via our adapter, at every
//! version we declare (the first byte picks it), then the coordinator in either shape. Ok or Err, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use usercenter::kafka::protocol::{FindCoordinator, decode_fuzz_input};

fuzz_target!(|data: &[u8]| {
    if let Some((version, Ok(response))) = decode_fuzz_input::<FindCoordinator>(data) {
        let _ = FindCoordinator::found(&response, version);
    }
});
