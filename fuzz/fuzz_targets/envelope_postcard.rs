//! Bytes as the postcard value of a record whose headers are otherwise valid, for each event type.
#![no_main]
use libfuzzer_sys::fuzz_target;
use usercenter::event::{ContentType, Envelope, EventType, fixtures};

fuzz_target!(|data: &[u8]| {
    let Some((&which, value)) = data.split_first() else { return };
    let ty = EventType::ALL[usize::from(which) % EventType::ALL.len()];
    let rec = fixtures::sample(ty).encode(ContentType::Postcard).expect("the fixture encodes");
    if let Ok(event) = Envelope::decode(&rec.headers, Some(value)) {
        // Whatever decodes re-encodes and decodes to the same event.
        let again = event.encode(ContentType::Postcard).expect("re-encode");
        assert_eq!(Envelope::decode(&again.headers, Some(&again.value)).as_ref(), Ok(&event));
    }
});
