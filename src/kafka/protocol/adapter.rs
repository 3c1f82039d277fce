//! The bridge between `kafka-protocol` messages and rskafka's messenger.
//!
//! rskafka's [`Messenger::request`](rskafka::messenger::Messenger::request) takes any type with
//! its `RequestBody` (API key, version range, first flexible version) and
//! `WriteVersionedType` traits, picks the highest version both we and the broker support, writes
//! the header, and reads the answer with `ReadVersionedType` at that version. [`Adapted`] gives
//! those traits to every [`Call`]: the encoding is kafka-protocol's, for the version the messenger
//! chose, and [`Answer`] decodes the response with kafka-protocol and remembers that version.
//!
//! A [`Call`] builds its kafka-protocol message per version because kafka-protocol's encoder
//! refuses a field set to a non-default value in a version that lacks it.
//!
//! # Hostile array counts
//! kafka-protocol 0.18 as published decodes an array with `Vec::with_capacity(count)` before
//! checking that the bytes hold `count` elements: a 4-byte count of 2^30 in a corrupted
//! Produce answer asks the allocator for 51 GB, and an allocator that refuses (the system one,
//! or mimalloc on a host without overcommit) aborts the process. The build uses a patched copy
//! (`vendor/kafka-protocol/PATCHED.md`) whose decoders refuse a count beyond the bytes left, so
//! such an answer is a decoding error like any other (`tests/decode_allocation.rs`).
use std::{io::Cursor, sync::Arc};

use kafka_protocol::protocol::{Decodable, Encodable};
use rskafka::{
    messenger::RequestError,
    protocol::{
        api_key::ApiKey,
        api_version::{ApiVersion, ApiVersionRange},
        messages::{
            ReadVersionedError, ReadVersionedType, RequestBody, WriteVersionedError,
            WriteVersionedType,
        },
        primitives::Int16,
        traits::{ReadError, WriteError},
    },
};

/// A request we send with a kafka-protocol message type.
pub trait Call: Send + Sync {
    /// The kafka-protocol request message.
    type Request: Encodable;
    /// The kafka-protocol response message.
    type Response: Decodable + Send;
    /// The API key, as rskafka names it (the messenger looks up the broker's range by it).
    const KEY: ApiKey;
    /// The versions we build, lowest and highest: the shapes [`Call::build`] knows.
    const VERSIONS: (i16, i16);
    /// The first version with tagged fields (request header v2, response header v1).
    const FIRST_FLEXIBLE: i16;
    /// The first version whose quota throttle the client waits out itself (KIP-219): from it
    /// on a broker answers at once and mutes the connection for the throttle time; before it,
    /// the broker held the answer back that long already ([`super::throttle`]).
    const CLIENT_THROTTLES_FROM: i16;

    /// The throttle time the broker answered with, in ms (0: none).
    fn throttle_ms(response: &Self::Response) -> i32;

    /// The message for `version` (within [`Call::VERSIONS`]).
    fn build(&self, version: i16) -> Self::Request;
}

/// A decoded response and the version it was decoded at.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer<R> {
    /// The negotiated version of the request and of this response.
    pub version: i16,
    /// The response.
    pub body: R,
}

/// A request that could not be carried out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The broker supports none of the versions we build.
    #[error("the broker supports no version {min}..={max} of {api:?}")]
    Unsupported {
        /// The API.
        api: ApiKey,
        /// Our lowest version.
        min: i16,
        /// Our highest version.
        max: i16,
    },
    /// The request failed on the wire or in encoding/decoding (rskafka's error, whose source is
    /// kafka-protocol's when encoding or decoding failed).
    #[error("{api:?} request failed")]
    Request {
        /// The API.
        api: ApiKey,
        /// rskafka's error.
        #[source]
        source: RequestError,
    },
    /// No answer within the request timeout.
    #[error("{api:?} request timed out after {after:?}")]
    Timeout {
        /// The API.
        api: ApiKey,
        /// The timeout.
        after: std::time::Duration,
    },
    /// The broker throttles the connection (a quota) past the time the request had to be
    /// written by: it was not written. The connection is fine.
    #[error("{api:?} request not written: the broker throttles the connection past its time")]
    Throttled {
        /// The API.
        api: ApiKey,
    },
    /// The request was dropped before it was written: its caller's deadline, or the time it
    /// had to be written by, passed while it waited for its turn on the connection (a Produce
    /// lane's queue). The connection is fine.
    #[error("{api:?} request not written: its time passed while it waited for its turn")]
    NotWritten {
        /// The API.
        api: ApiKey,
    },
    /// A request that carried several callers' parts (one Produce for several partitions)
    /// failed on the wire or in decoding: every caller gets the one error.
    #[error("{api:?} request failed")]
    Shared {
        /// The API.
        api: ApiKey,
        /// rskafka's error, shared.
        #[source]
        source: Arc<RequestError>,
    },
}

impl CallError {
    pub(crate) fn from_request(api: ApiKey, versions: (i16, i16), source: RequestError) -> Self {
        match source {
            RequestError::NoVersionMatch { .. } => Self::Unsupported {
                api,
                min: versions.0,
                max: versions.1,
            },
            source => Self::Request { api, source },
        }
    }

    /// Whether the connection is broken (every later request on it fails too).
    pub fn is_connection_lost(&self) -> bool {
        let lost = |e: &RequestError| matches!(e, RequestError::Poisoned(_) | RequestError::IO(_));
        match self {
            Self::Request { source, .. } => lost(source),
            Self::Shared { source, .. } => lost(source),
            Self::Timeout { .. } => true,
            Self::Unsupported { .. } | Self::Throttled { .. } | Self::NotWritten { .. } => false,
        }
    }

    /// The same error `n` times, for the `n` callers whose parts travelled in the failed
    /// request: the same variant, except that rskafka's error (not `Clone`) is shared.
    pub fn share(self, n: usize) -> Vec<Self> {
        match self {
            Self::Request { api, source } => {
                let source = Arc::new(source);
                let one = || Self::Shared {
                    api,
                    source: Arc::clone(&source),
                };
                (0..n).map(|_| one()).collect()
            }
            Self::Shared { api, source } => (0..n)
                .map(|_| Self::Shared {
                    api,
                    source: Arc::clone(&source),
                })
                .collect(),
            Self::Unsupported { api, min, max } => (0..n)
                .map(|_| Self::Unsupported { api, min, max })
                .collect(),
            Self::Timeout { api, after } => (0..n).map(|_| Self::Timeout { api, after }).collect(),
            Self::Throttled { api } => (0..n).map(|_| Self::Throttled { api }).collect(),
            Self::NotWritten { api } => (0..n).map(|_| Self::NotWritten { api }).collect(),
        }
    }
}

/// A [`Call`] as rskafka's messenger wants a request.
#[derive(Debug)]
pub struct Adapted<'a, C>(pub &'a C);

impl<C: Call> RequestBody for Adapted<'_, C> {
    type ResponseBody = Answer<C::Response>;
    const API_KEY: ApiKey = C::KEY;
    const API_VERSION_RANGE: ApiVersionRange = ApiVersionRange::new(
        ApiVersion(Int16(C::VERSIONS.0)),
        ApiVersion(Int16(C::VERSIONS.1)),
    );
    const FIRST_TAGGED_FIELD_IN_REQUEST_VERSION: ApiVersion = ApiVersion(Int16(C::FIRST_FLEXIBLE));
}

impl<C: Call> WriteVersionedType<Vec<u8>> for Adapted<'_, C> {
    fn write_versioned(
        &self,
        writer: &mut Vec<u8>,
        version: ApiVersion,
    ) -> Result<(), WriteVersionedError> {
        let version = version.0.0;
        self.0
            .build(version)
            .encode(writer, version)
            // kafka-protocol's `anyhow::Error` becomes the boxed std error rskafka carries.
            .map_err(|e| WriteError::Malformed(e.into()).into())
    }
}

impl<R: Decodable> ReadVersionedType<Cursor<Vec<u8>>> for Answer<R> {
    fn read_versioned(
        reader: &mut Cursor<Vec<u8>>,
        version: ApiVersion,
    ) -> Result<Self, ReadVersionedError> {
        let version = version.0.0;
        let body = R::decode(reader, version).map_err(|e| ReadError::Malformed(e.into()))?;
        Ok(Self { version, body })
    }
}

/// Decodes `bytes` as the response of `C` at `version`, as a connection would (the fuzz targets'
/// entry point); `Err` for anything malformed, including trailing bytes.
pub fn decode_response<C: Call>(bytes: &[u8], version: i16) -> Result<C::Response, String> {
    let mut cursor = Cursor::new(bytes.to_vec());
    let answer = Answer::<C::Response>::read_versioned(&mut cursor, ApiVersion(Int16(version)))
        .map_err(|e| e.to_string())?;
    if cursor.position() != bytes.len() as u64 {
        return Err("trailing bytes".to_owned());
    }
    Ok(answer.body)
}

/// The fuzz targets' entry point: the first byte picks a version within `C`'s range, the rest
/// is decoded as `C`'s response at that version.
pub fn decode_fuzz_input<C: Call>(data: &[u8]) -> Option<(i16, Result<C::Response, String>)> {
    let (&pick, bytes) = data.split_first()?;
    let (min, max) = C::VERSIONS;
    let version = min + i16::from(pick) % (max - min + 1);
    Some((version, decode_response::<C>(bytes, version)))
}

#[cfg(test)]
mod tests;

/// Test helpers shared by the request modules' tests.
#[cfg(test)]
pub(super) mod testing;
