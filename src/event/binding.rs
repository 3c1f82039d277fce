//! The CloudEvents 1.0 Kafka protocol binding, binary mode: header names, the content types of
//! the value, and the typed reading of headers.
use std::collections::BTreeMap;

use serde::{Serialize, de::DeserializeOwned};

use super::DecodeError;
use crate::kafka::records::RawHeaders;

/// Record headers as rskafka carries them.
pub type Headers = BTreeMap<String, Vec<u8>>;

/// Header names.
pub mod header {
    /// CloudEvents spec version, always `1.0`.
    pub const SPECVERSION: &str = "ce_specversion";
    /// Event id (UUID); stable across retries and replays, the dedupe key of last resort.
    pub const ID: &str = "ce_id";
    /// Producing service instance, `/usercenter/<producer id>`.
    pub const SOURCE: &str = "ce_source";
    /// Event type, such as `user.registered`.
    pub const TYPE: &str = "ce_type";
    /// When the change happened, RFC 3339 in UTC.
    pub const TIME: &str = "ce_time";
    /// The user id (also the record key).
    pub const SUBJECT: &str = "ce_subject";
    /// Request id of the HTTP request that caused the event.
    pub const REQUEST_ID: &str = "ce_requestid";
    /// Producer id, stable across restarts of one instance.
    pub const PRODUCER_ID: &str = "ce_producerid";
    /// Per-producer sequence number.
    pub const SEQUENCE: &str = "ce_sequence";
    /// Version of the data schema (extension attribute).
    pub const DATA_VERSION: &str = "ce_dataversion";
    /// Encoding of the value.
    pub const CONTENT_TYPE: &str = "content-type";
}

/// Sets `ce_producerid` and `ce_sequence`, replacing any there: the record's dedupe key. The
/// one writer of these headers; the sequence must never repeat for `producer_id`.
pub fn set_identity(headers: &mut Headers, producer_id: u64, sequence: u64) {
    headers.insert(
        header::PRODUCER_ID.to_owned(),
        producer_id.to_string().into_bytes(),
    );
    headers.insert(
        header::SEQUENCE.to_owned(),
        sequence.to_string().into_bytes(),
    );
}

/// The CloudEvents spec version we write and accept.
pub const SPEC_VERSION: &str = "1.0";

/// Whether `name` is a header of the binding (`ce_*`, `content-type`), ASCII case ignored:
/// readers differ on which of two such headers counts (the first, here; the last, lower-cased,
/// in the CloudEvents Go SDK), so a record with one twice is no event to either.
pub fn is_binding_header(name: &[u8]) -> bool {
    name.get(..3)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"ce_"))
        || name.eq_ignore_ascii_case(header::CONTENT_TYPE.as_bytes())
}

/// Encoding of the record value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentType {
    /// postcard, compact and fast (default).
    #[default]
    Postcard,
    /// JSON, for consumers without postcard.
    Json,
}

impl ContentType {
    /// The `content-type` header value.
    pub const fn mime(self) -> &'static str {
        match self {
            Self::Postcard => "application/x-postcard",
            Self::Json => "application/json",
        }
    }

    /// Parses a `content-type` value; parameters such as `; charset=utf-8` are ignored.
    pub fn parse(value: &str) -> Option<Self> {
        let essence = value.split(';').next().unwrap_or("").trim();
        [Self::Postcard, Self::Json]
            .into_iter()
            .find(|ct| ct.mime().eq_ignore_ascii_case(essence))
    }

    pub(super) fn encode<T: Serialize>(self, value: &T) -> Result<Vec<u8>, String> {
        match self {
            Self::Postcard => postcard::to_allocvec(value).map_err(|e| e.to_string()),
            Self::Json => serde_json::to_vec(value).map_err(|e| e.to_string()),
        }
    }

    pub(super) fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, String> {
        match self {
            Self::Postcard => match postcard::take_from_bytes(bytes) {
                Ok((value, [])) => Ok(value),
                Ok((_, rest)) => Err(format!("{} trailing bytes", rest.len())),
                Err(e) => Err(e.to_string()),
            },
            Self::Json => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
        }
    }
}

impl std::fmt::Display for ContentType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.mime())
    }
}

/// Header lookup by name: over the [`Headers`] map, and over a fetched record's raw headers
/// (the consumer's, parsed on lookup, so decoding an event needs no map per record).
pub trait HeaderLookup {
    /// The value of the first header named `name`.
    fn header(&self, name: &str) -> Option<&[u8]>;
}

impl HeaderLookup for Headers {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.get(name).map(Vec::as_slice)
    }
}

impl HeaderLookup for RawHeaders {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.get(name)
    }
}

/// A required header as UTF-8 text.
pub(super) fn text<'h>(
    headers: &'h impl HeaderLookup,
    name: &'static str,
) -> Result<&'h str, DecodeError> {
    text_if_present(headers, name)?.ok_or(DecodeError::MissingHeader { name })
}

/// An optional header's text: `None` when absent, an error when present but not UTF-8.
pub(super) fn text_if_present<'h>(
    headers: &'h impl HeaderLookup,
    name: &'static str,
) -> Result<Option<&'h str>, DecodeError> {
    headers
        .header(name)
        .map(|raw| {
            std::str::from_utf8(raw).map_err(|_| DecodeError::BadHeader {
                name,
                reason: "not UTF-8".to_owned(),
            })
        })
        .transpose()
}

/// A required header parsed with `FromStr`.
pub(super) fn parsed<T>(headers: &impl HeaderLookup, name: &'static str) -> Result<T, DecodeError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    parse_as(text(headers, name)?, name)
}

/// An optional header parsed with `FromStr`: `None` when absent, an error when present but not
/// what `T` reads.
pub(super) fn parsed_if_present<T>(
    headers: &impl HeaderLookup,
    name: &'static str,
) -> Result<Option<T>, DecodeError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text_if_present(headers, name)?
        .map(|raw| parse_as(raw, name))
        .transpose()
}

/// Header `name`'s text `raw` parsed with `FromStr`.
fn parse_as<T>(raw: &str, name: &'static str) -> Result<T, DecodeError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    raw.parse().map_err(|e: T::Err| DecodeError::BadHeader {
        name,
        reason: format!("{raw:?}: {e}"),
    })
}
