//! Our record headers (producer id, sequence, event id, content type, ...): a valid header set
//! with arbitrary replacements and removals, through envelope decoding and the dedupe key.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use usercenter::{
    consumer::process::dedupe_key,
    event::{ContentType, Envelope, EventType, fixtures},
};

#[derive(Debug, Arbitrary)]
struct Input {
    which: u8,
    json: bool,
    set: Vec<(u8, Vec<u8>)>,
    remove: Vec<u8>,
    extra: Vec<(String, Vec<u8>)>,
}

const NAMES: [&str; 11] = [
    "ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject", "ce_requestid",
    "ce_producerid", "ce_sequence", "ce_dataversion", "content-type",
];

fuzz_target!(|input: Input| {
    let ty = EventType::ALL[usize::from(input.which) % EventType::ALL.len()];
    let ct = if input.json { ContentType::Json } else { ContentType::Postcard };
    let mut rec = fixtures::sample(ty).encode(ct).expect("the fixture encodes");
    for (name, value) in input.set {
        rec.headers.insert(NAMES[usize::from(name) % NAMES.len()].to_owned(), value);
    }
    for name in input.remove {
        rec.headers.remove(NAMES[usize::from(name) % NAMES.len()]);
    }
    for (name, value) in input.extra.into_iter().take(64) {
        rec.headers.insert(name, value);
    }
    let _ = dedupe_key(&rec.headers);
    let _ = Envelope::decode(&rec.headers, Some(&rec.value));
});
