//! Fetch responses, the consumer's busiest decoder: arbitrary bytes through kafka-protocol's
//! decoder via our adapter at every version we declare (the first byte picks it), then the
//! answer split by partition and every partition's record set read as the consumer reads it
//! (`read_partition`: error codes, offsets, aborted transactions, our batch reader). Ok or Err,
//! never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use usercenter::kafka::protocol::{Fetch, decode_fuzz_input, read_partition, split_answer};

fuzz_target!(|data: &[u8]| {
    let Some((_, Ok(response))) = decode_fuzz_input::<Fetch>(data) else { return };
    let Ok(partitions) = split_answer(response) else { return };
    for (_, partition) in partitions {
        let _ = read_partition(partition, 0, 1 << 16);
    }
});
