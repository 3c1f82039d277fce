//! The consumer's path from a Fetch response's record set to an event: our zero-copy batch
//! reader (CRC, codecs, varints, the set's decompression budget, unreadable batches), then
//! header lookups, the dedupe key and envelope decoding of every record. Each input is read twice: as it is,
//! and with the CRC of every complete batch made to match, so that mutations behind the CRC
//! check reach the codecs, the varints and the headers rather than stopping at the CRC.
#![no_main]
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use usercenter::{
    consumer::process::Key,
    event::{Envelope, is_binding_header},
    kafka::records::{self, encode::Stamp},
};

/// Aborted transactions of producers 0 to 3 from offset 0: the reader's abort bookkeeping runs
/// on every transactional batch of those producers.
const ABORTED: [records::Aborted; 4] = [
    records::Aborted { producer_id: 0, first_offset: 0 },
    records::Aborted { producer_id: 1, first_offset: 0 },
    records::Aborted { producer_id: 2, first_offset: 0 },
    records::Aborted { producer_id: 3, first_offset: 0 },
];

/// The smallest batch: the header up to the record count.
const BATCH_HEADER: usize = 61;

/// `data` with every complete batch frame's CRC recomputed (its writer fields kept as they are).
fn resealed(data: &[u8]) -> Vec<u8> {
    let be = |at: usize, n: usize| data[at..at + n].iter().fold(0i64, |v, b| v << 8 | i64::from(*b));
    let mut out = Vec::with_capacity(data.len());
    let mut at = 0;
    while data.len() - at >= BATCH_HEADER {
        let length = be(at + 8, 4) as i32;
        let Some(end) = usize::try_from(length)
            .ok()
            .map(|l| at + l + 12)
            .filter(|&end| end <= data.len() && end >= at + BATCH_HEADER)
        else {
            break;
        };
        let stamp = Stamp {
            producer_id: be(at + 43, 8),
            producer_epoch: be(at + 51, 2) as i16,
            base_sequence: be(at + 53, 4) as i32,
        };
        let batch = Bytes::copy_from_slice(&data[at..end]);
        out.extend_from_slice(&records::encode::restamp(&batch, stamp));
        at = end;
    }
    out.extend_from_slice(&data[at..]);
    out
}

fn read(data: Vec<u8>) {
    let Ok(fetched) = records::read(&Bytes::from(data), 1 << 20, &ABORTED) else { return };
    for r in fetched.records {
        let _ = r.headers.get("ce_id");
        let _ = r.headers.iter().count();
        // What the consumer reads before the handler: the dedupe key, and the search for a
        // CloudEvents header given twice; and what a dead letter copies.
        let _ = Key::of(&r.headers);
        let _ = r.headers.repeated(is_binding_header);
        let _ = r.headers.to_map();
        let _ = Envelope::decode(&r.headers, r.value.as_deref());
    }
}

fuzz_target!(|data: &[u8]| {
    read(data.to_vec());
    read(resealed(data));
});
