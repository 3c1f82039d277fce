//! The consumer's path from a Fetch response's record set to an event: our zero-copy batch
//! reader (CRC, codecs, varints), then header lookups and envelope decoding of every record.
#![no_main]
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use usercenter::{event::Envelope, kafka::records};

/// Aborted transactions of producers 0 to 3 from offset 0: the reader's abort bookkeeping runs
/// on every transactional batch of those producers.
const ABORTED: [records::Aborted; 4] = [
    records::Aborted { producer_id: 0, first_offset: 0 },
    records::Aborted { producer_id: 1, first_offset: 0 },
    records::Aborted { producer_id: 2, first_offset: 0 },
    records::Aborted { producer_id: 3, first_offset: 0 },
];

fuzz_target!(|data: &[u8]| {
    let Ok(fetched) = records::read(&Bytes::copy_from_slice(data), 1 << 20, &ABORTED) else { return };
    for r in fetched.records {
        let _ = r.headers.get("ce_id");
        let _ = r.headers.iter().count();
        let _ = Envelope::decode(&r.headers, r.value.as_deref());
    }
});
