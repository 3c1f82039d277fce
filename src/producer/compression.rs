//! The compression ratio metric. rskafka compresses inside `produce` and does not report the
//! compressed size, so every [`SAMPLE_EVERY`]th batch is compressed again here, with the same
//! codec, to estimate the ratio (record keys and values only, the bulk of a batch).
use std::io::Write as _;

use rskafka::record::Record;

use super::Codec;

/// One batch in this many is sampled.
pub const SAMPLE_EVERY: u64 = 32;

/// Uncompressed and compressed bytes of the keys and values of `records` with `codec`.
pub fn sample(codec: Codec, records: &[Record]) -> Option<(usize, usize)> {
    let mut raw = Vec::new();
    for r in records {
        raw.extend_from_slice(r.key.as_deref().unwrap_or_default());
        raw.extend_from_slice(r.value.as_deref().unwrap_or_default());
    }
    let compressed = match codec {
        Codec::None => raw.len(),
        Codec::Snappy => snap::raw::Encoder::new().compress_vec(&raw).ok()?.len(),
        Codec::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&raw).ok()?;
            e.finish().ok()?.len()
        }
        Codec::Lz4 => {
            let mut e = lz4::EncoderBuilder::new().build(Vec::new()).ok()?;
            e.write_all(&raw).ok()?;
            let (out, result) = e.finish();
            result.ok()?;
            out.len()
        }
        Codec::Zstd => zstd::bulk::compress(&raw, 0).ok()?.len(),
    };
    Some((raw.len(), compressed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repetitive_data_compresses_with_every_codec() {
        let records: Vec<Record> = (0..100)
            .map(|i| Record {
                key: Some(format!("user-{i}").into_bytes()),
                value: Some(b"the same value again and again ".repeat(4)),
                headers: Default::default(),
                timestamp: chrono::Utc::now(),
            })
            .collect();
        for codec in [Codec::Snappy, Codec::Gzip, Codec::Lz4, Codec::Zstd] {
            let (raw, compressed) = sample(codec, &records).unwrap();
            assert!(compressed * 3 < raw, "{codec:?}: {compressed} of {raw}");
        }
        let (raw, same) = sample(Codec::None, &records).unwrap();
        assert_eq!(raw, same);
    }
}
