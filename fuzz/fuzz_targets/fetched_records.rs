//! The consumer's path from a Fetch response's record set to an event: our zero-copy batch
//! reader (CRC, codecs, varints), then header lookups and envelope decoding of every record.
#![no_main]
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use usercenter::{event::Envelope, kafka::records};

fuzz_target!(|data: &[u8]| {
    let Ok(fetched) = records::read(&Bytes::copy_from_slice(data), 1 << 20) else { return };
    for r in fetched {
        let _ = r.headers.get("ce_id");
        let _ = r.headers.iter().count();
        let _ = Envelope::decode(&r.headers, r.value.as_deref());
    }
});
