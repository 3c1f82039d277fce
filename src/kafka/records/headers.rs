//! A record's headers as they came over the wire, parsed only when looked up.
use bytes::Bytes;

use super::wire::{self, Cursor};

/// The headers of a record as they came over the wire: a count and the encoded pairs. Their
/// lengths were checked when the record was read, so lookups cannot fail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawHeaders {
    pub(super) count: usize,
    pub(super) raw: Bytes,
}

impl RawHeaders {
    /// Encodes `pairs` (for tests and tools that build records by hand).
    pub fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Self {
        let mut raw = Vec::new();
        let mut count = 0;
        for (name, value) in pairs {
            wire::put_varint(&mut raw, name.len() as i64);
            raw.extend_from_slice(name.as_bytes());
            wire::put_varint(&mut raw, value.len() as i64);
            raw.extend_from_slice(value);
            count += 1;
        }
        Self {
            count,
            raw: raw.into(),
        }
    }

    /// The number of headers.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The value of the first header named `name` (a null value reads as empty).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(n, _)| *n == name.as_bytes())
            .map(|(_, v)| v)
    }

    /// The headers in wire order: name bytes and value bytes.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let mut cursor = Cursor::new(&self.raw);
        (0..self.count).map_while(move |_| wire::header(&mut cursor).ok())
    }

    /// The first name, lower-cased, of those `counted` picks that appears more than once,
    /// ASCII case ignored.
    pub fn repeated(&self, counted: impl Fn(&[u8]) -> bool) -> Option<String> {
        let mut seen = std::collections::HashSet::new();
        self.iter()
            .filter(|(name, _)| counted(name))
            .map(|(name, _)| name.to_ascii_lowercase())
            .find(|name| !seen.insert(name.clone()))
            .map(|name| String::from_utf8_lossy(&name).into_owned())
    }

    /// The headers as the event layer's map (names that are not UTF-8 are dropped).
    pub fn to_map(&self) -> std::collections::BTreeMap<String, Vec<u8>> {
        self.iter()
            .filter_map(|(n, v)| Some((std::str::from_utf8(n).ok()?.to_owned(), v.to_vec())))
            .collect()
    }
}
