//! Decompressing a batch's records with the codecs Kafka names in the attributes, never past a
//! cap (a small compressed batch can claim or inflate to gigabytes).
use std::io::Read;

use bytes::Bytes;

use super::RecordsError;

/// The framing Java's (xerial) snappy stream starts with.
pub(super) const XERIAL_MAGIC: &[u8] = &[0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];

/// The records of a batch body compressed with `codec`, at most `cap` bytes of them.
pub(super) fn decompress(codec: u8, body: Bytes, cap: usize) -> Result<Bytes, RecordsError> {
    match codec {
        0 => Ok(body),
        1 => bounded(flate2::read::MultiGzDecoder::new(&body[..]), cap),
        2 => snappy(&body, cap).map(Bytes::from),
        3 => bounded(
            lz4::Decoder::new(&body[..]).map_err(RecordsError::Decompress)?,
            cap,
        ),
        4 => bounded(
            zstd::Decoder::new(&body[..]).map_err(RecordsError::Decompress)?,
            cap,
        ),
        other => Err(RecordsError::Codec(other)),
    }
}

/// Reads `reader` to its end, failing once it yields more than `cap` bytes.
fn bounded(reader: impl Read, cap: usize) -> Result<Bytes, RecordsError> {
    let mut out = Vec::new();
    reader
        .take(u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut out)
        .map_err(RecordsError::Decompress)?;
    if out.len() > cap {
        return Err(RecordsError::TooLarge { cap });
    }
    Ok(out.into())
}

/// Raw snappy, or Java's framing of it: a magic, two version words, then length-prefixed raw
/// blocks.
fn snappy(input: &[u8], cap: usize) -> Result<Vec<u8>, RecordsError> {
    let Some(mut rest) = input.strip_prefix(XERIAL_MAGIC) else {
        let mut out = Vec::new();
        raw_snappy(input, cap, &mut out)?;
        return Ok(out);
    };
    let word = |rest: &mut &[u8]| -> Result<u32, RecordsError> {
        let (w, tail) = rest
            .split_first_chunk::<4>()
            .ok_or(RecordsError::Malformed("truncated snappy framing"))?;
        *rest = tail;
        Ok(u32::from_be_bytes(*w))
    };
    if word(&mut rest)? != 1 || word(&mut rest)? != 1 {
        return Err(RecordsError::Malformed("unknown snappy framing version"));
    }
    let mut out = Vec::new();
    while !rest.is_empty() {
        let len = usize::try_from(word(&mut rest)?)
            .map_err(|_| RecordsError::Malformed("snappy chunk length"))?;
        if len > rest.len() {
            return Err(RecordsError::Malformed("snappy chunk beyond the bytes"));
        }
        let (chunk, tail) = rest.split_at(len);
        raw_snappy(chunk, cap, &mut out)?;
        rest = tail;
    }
    Ok(out)
}

/// Appends one raw snappy block to `out`, checking its claimed length against what `cap` leaves.
fn raw_snappy(block: &[u8], cap: usize, out: &mut Vec<u8>) -> Result<(), RecordsError> {
    let snappy_error = |e: snap::Error| RecordsError::Decompress(std::io::Error::other(e));
    let len = snap::raw::decompress_len(block).map_err(snappy_error)?;
    if out.len().saturating_add(len) > cap {
        return Err(RecordsError::TooLarge { cap });
    }
    let start = out.len();
    out.resize(start + len, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(snappy_error)?;
    out.truncate(start + written);
    Ok(())
}
