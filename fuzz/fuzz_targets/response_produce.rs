//! Produce responses: arbitrary bytes through kafka-protocol's decoder via our adapter, at every
//! version we declare (the first byte picks it), then the answer for one partition (the
//! producer's reading of it). Ok or Err, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use usercenter::kafka::protocol::{Produce, decode_fuzz_input};

fuzz_target!(|data: &[u8]| {
    if let Some((_, Ok(response))) = decode_fuzz_input::<Produce>(data) {
        let asked = Produce {
            topic: "user.events".to_owned(),
            partition: 0,
            batch: bytes::Bytes::new(),
            timeout_ms: 30_000,
        };
        let _ = asked.answer(&response);
    }
});
