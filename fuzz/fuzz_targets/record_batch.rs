//! The path from the wire to an event: bytes, rskafka's record batch decoding (its
//! `unstable-fuzzing` feature exposes it), then our envelope decoding of every record.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rskafka::protocol::{record::{ControlBatchOrRecords, RecordBatch}, traits::ReadType};
use usercenter::{consumer::process::dedupe_key, event::{Envelope, Headers}};

fuzz_target!(|data: &[u8]| {
    let mut cursor = std::io::Cursor::new(data);
    let Ok(batch) = RecordBatch::read(&mut cursor) else { return };
    if let ControlBatchOrRecords::Records(records) = batch.records {
        for r in records {
            let headers: Headers = r.headers.into_iter().map(|h| (h.key, h.value)).collect();
            let _ = dedupe_key(&headers);
            let _ = Envelope::decode(&headers, r.value.as_deref());
        }
    }
});
