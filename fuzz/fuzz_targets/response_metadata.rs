//! Metadata responses: arbitrary bytes through kafka-protocol's decoder via our adapter, at
//! every version we declare (the first byte picks it). Ok or Err, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use usercenter::kafka::protocol::{Metadata, decode_fuzz_input};

fuzz_target!(|data: &[u8]| {
    let _ = decode_fuzz_input::<Metadata>(data);
});
