//! The dead letters a batch writes: of a record that is poison or whose handler was given up
//! on (its key, value and headers), and of a batch that cannot be read (its bytes, up to 512 KiB), each
//! with headers that name the error and the source.
use std::collections::{BTreeMap, btree_map::Entry};

use super::{BatchInput, MAX_HEADERS};
use crate::{
    event::header,
    kafka::records::{FetchedRecord, Unreadable},
    outbox::OutboxRecord,
};

/// The header that carries the dead-lettered record's `ce_id`.
const SOURCE_ID: &str = "dlq_source_ce_id";
/// The header that counts the record's headers left out because an earlier one had their name.
const REPEATED: &str = "dlq_repeated_headers_left_out";
/// The headers the stamp gives a dead letter: its identity as a record of ours.
const STAMPED: [&str; 4] = [
    header::ID,
    header::SOURCE,
    header::PRODUCER_ID,
    header::SEQUENCE,
];
/// The longest `ce_id` a dead letter names (added past the bound of [`bounded`], as its other
/// `dlq_` headers are); ours are 36 bytes.
const MAX_SOURCE_ID: usize = 256;

/// The dead letter of `r`: its key, value and headers, plus headers naming the error and source.
/// A dead letter is a new record: its identity headers are replaced when it is stamped, and
/// `r`'s `ce_id` (up to 256 bytes) goes as `dlq_source_ce_id`, so that the dead letter gets
/// one of its own (each partition's copy of one poison record, a forged copy of an event, and
/// the event's own dead letter are records apart to a reader that dedupes on `ce_id`).
/// Its parts past [`MAX_BATCH_VALUE`] are left out, as [`bounded`] says. A header's name that
/// is not UTF-8 is written lossily, and a NUL in it becomes U+FFFD, which PostgreSQL's text
/// can hold. Of headers that share a name the first is kept, the one that dedupe and decoding
/// read (so `dlq_source_ce_id` names the id the record was marked under), and
/// `dlq_repeated_headers_left_out` counts the others.
///
/// A record with more than [`MAX_HEADERS`] headers has them all left out, unread, and counted
/// in `dlq_headers_left_out`.
pub(super) fn of_record(r: &FetchedRecord, input: &BatchInput<'_>, error: &str) -> OutboxRecord {
    if r.headers.len() > MAX_HEADERS {
        return of_record_without_headers(r, input, error);
    }
    let mut headers: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut repeated = 0usize;
    for (name, value) in r.headers.iter() {
        let name = String::from_utf8_lossy(name).replace('\0', "\u{FFFD}");
        match headers.entry(name) {
            Entry::Vacant(entry) => {
                entry.insert(value.to_vec());
            }
            Entry::Occupied(_) => repeated += 1,
        }
    }
    // The record's own `dlq_` headers, if it has any, are not taken for ours, nor, in another
    // case, the identity headers the stamp gives the letter: a reader that ignores ASCII case
    // (as the binding's readers do) would find each twice.
    headers.retain(|name, _| {
        let lower = name.to_ascii_lowercase();
        !lower.starts_with("dlq_") && (*name == lower || !STAMPED.contains(&lower.as_str()))
    });
    let source_id = headers
        .remove(header::ID)
        .filter(|id| id.len() <= MAX_SOURCE_ID);
    let letter = OutboxRecord {
        topic: input.dlq_topic.to_owned(),
        key: r.key.as_deref().map(<[u8]>::to_vec),
        value: r.value.as_deref().map(<[u8]>::to_vec).unwrap_or_default(),
        headers,
        created_ms: input.now_ms,
    };
    let mut letter = bounded(letter);
    letter
        .headers
        .extend(source_headers(input, r.offset, error));
    if let Some(id) = source_id {
        letter.headers.insert(SOURCE_ID.to_owned(), id);
    }
    if repeated > 0 {
        let count = repeated.to_string().into_bytes();
        letter.headers.insert(REPEATED.to_owned(), count);
    }
    letter
}

/// The dead letter of `r`, a record of more than [`MAX_HEADERS`] headers: its key and value
/// (as [`bounded`] leaves them), none of its headers (`dlq_headers_left_out` counts them), and
/// its first `ce_id` as `dlq_source_ce_id` (read for the dead letter only: dedupe reads no
/// identity of such a record).
fn of_record_without_headers(
    r: &FetchedRecord,
    input: &BatchInput<'_>,
    error: &str,
) -> OutboxRecord {
    let letter = OutboxRecord {
        topic: input.dlq_topic.to_owned(),
        key: r.key.as_deref().map(<[u8]>::to_vec),
        value: r.value.as_deref().map(<[u8]>::to_vec).unwrap_or_default(),
        headers: BTreeMap::new(),
        created_ms: input.now_ms,
    };
    let mut letter = bounded(letter);
    letter
        .headers
        .extend(source_headers(input, r.offset, error));
    let left_out = r.headers.len().to_string().into_bytes();
    letter
        .headers
        .insert("dlq_headers_left_out".into(), left_out);
    if let Some(id) = r
        .headers
        .get(header::ID)
        .filter(|id| id.len() <= MAX_SOURCE_ID)
    {
        letter.headers.insert(SOURCE_ID.to_owned(), id.to_vec());
    }
    letter
}

/// The bytes of `r`'s value, headers and key.
fn sizes(r: &OutboxRecord) -> (usize, usize, usize) {
    let headers = r.headers.iter().map(|(n, v)| n.len() + v.len()).sum();
    (r.value.len(), headers, r.key.as_ref().map_or(0, Vec::len))
}

/// `letter` within [`MAX_BATCH_VALUE`]: a record can be as large as its topic allows, and with
/// the dead letter's own headers it would not fit the dead-letter topic (the relay would park
/// it). Its largest part goes first, then the next while it is still too large: its value
/// (`dlq_value_bytes` says how long it was), its headers (`dlq_headers_left_out` says how
/// many), its key (`dlq_key_bytes`).
fn bounded(mut letter: OutboxRecord) -> OutboxRecord {
    let mut said = Vec::new();
    loop {
        let (value, headers, key) = sizes(&letter);
        if value + headers + key <= MAX_BATCH_VALUE {
            break;
        }
        if value >= headers.max(key) {
            said.push(("dlq_value_bytes", std::mem::take(&mut letter.value).len()));
        } else if headers >= key {
            said.push((
                "dlq_headers_left_out",
                std::mem::take(&mut letter.headers).len(),
            ));
        } else {
            said.push(("dlq_key_bytes", key));
            letter.key = None;
        }
    }
    for (name, n) in said {
        letter
            .headers
            .insert(name.into(), n.to_string().into_bytes());
    }
    letter
}

/// The most bytes of a source record or batch a dead letter carries: either can be as large as
/// the source topic allows (about 1 MiB by default), and with the dead letter's headers it
/// would not fit the dead-letter topic's records (`producer.max_message_bytes`), so the relay
/// would park it.
const MAX_BATCH_VALUE: usize = 512 * 1024;

/// The dead letter of the batch `bad`: its bytes as fetched (none past [`MAX_BATCH_VALUE`]: it
/// stays in the source topic), no key, and headers naming the error, its first and last offsets
/// and its size.
pub(super) fn of_batch(bad: &Unreadable, input: &BatchInput<'_>, error: &str) -> OutboxRecord {
    let mut headers = source_headers(input, bad.base_offset, error);
    headers.insert(
        "dlq_source_last_offset".into(),
        bad.last_offset.to_string().into_bytes(),
    );
    headers.insert(
        "dlq_batch_bytes".into(),
        bad.raw.len().to_string().into_bytes(),
    );
    let value = if bad.raw.len() <= MAX_BATCH_VALUE {
        bad.raw.to_vec()
    } else {
        Vec::new()
    };
    OutboxRecord {
        topic: input.dlq_topic.to_owned(),
        key: None,
        value,
        headers,
        created_ms: input.now_ms,
    }
}

/// The most of an error a dead letter and its log line carry, in bytes: a decoding error may
/// quote what the record's writer sent (a header of 600 KB would otherwise make the dead letter
/// too large to publish, and the log line as large).
const MAX_ERROR: usize = 512;

/// `error` with its control characters escaped, cut to [`MAX_ERROR`] bytes (on a character
/// boundary), saying how long it was.
pub(super) fn clamped(error: String) -> String {
    // The error may quote the record (serde names an unknown variant as written): its control
    // and direction-changing characters escaped, so that a reader printing the header sees
    // the text as it is, not terminal codes or text reordered.
    let hidden = |c: char| {
        c.is_control()
            || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    };
    let mut error = if error.contains(hidden) {
        error
            .chars()
            .map(|c| match c {
                c if hidden(c) => c.escape_default().to_string(),
                c => c.to_string(),
            })
            .collect()
    } else {
        error
    };
    if error.len() > MAX_ERROR {
        let total = error.len();
        let cut = (0..=MAX_ERROR)
            .rev()
            .find(|&i| error.is_char_boundary(i))
            .unwrap_or(0);
        error.truncate(cut);
        error.push_str(&format!("… ({total} bytes in all)"));
    }
    error
}

/// The headers a dead letter names its error and source with (the record or batch at
/// `offset` of the input's partition).
fn source_headers(input: &BatchInput<'_>, offset: i64, error: &str) -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([
        ("dlq_error".into(), error.as_bytes().to_vec()),
        ("dlq_source_topic".into(), input.topic.as_bytes().to_vec()),
        (
            "dlq_source_partition".into(),
            input.partition.to_string().into_bytes(),
        ),
        ("dlq_source_offset".into(), offset.to_string().into_bytes()),
    ])
}
