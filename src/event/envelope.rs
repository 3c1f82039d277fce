//! One event with its attributes, and its encoding to and from a Kafka record.
use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use uuid::Uuid;

use super::binding::{self, ContentType, HeaderLookup, Headers, SPEC_VERSION, header};
use super::{DecodeError, EncodeError, EventData, EventType};

/// Version of the data schemas this build writes (and the highest it reads). 2: `user.deleted`
/// carries `email`; 3: `user.updated` carries `previous_email`. Values of versions 1 and 2 still
/// decode (postcard is not self-describing, so the header, not a guess from the bytes, says
/// which layout a value has: a value cut short must stay an error, never pass for the older
/// layout).
pub const DATA_VERSION: u16 = 3;

/// The longest text field an event's data may hold, in bytes: an avatar URL of 2,048
/// characters of 4 bytes. Other writers' events are not checked otherwise, and each such text
/// is copied into the outputs the event causes, escaped in JSON (up to 6 bytes a byte).
pub const MAX_TEXT: usize = 8 * 1024;

/// The longest `ce_requestid`, in bytes (ours are at most 128): it goes into a header of
/// every output.
pub const MAX_REQUEST_ID: usize = 1024;

/// One user event: CloudEvents attributes plus data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Data schema version (`ce_dataversion`).
    pub version: u16,
    /// Event id (`ce_id`), assigned once when the change is committed.
    pub id: Uuid,
    /// The user the event is about (`ce_subject` and the record key).
    pub user_id: Uuid,
    /// When the change happened (`ce_time`), microsecond precision.
    pub occurred_at: DateTime<Utc>,
    /// Request id of the HTTP request that caused it (`ce_requestid`; empty when absent).
    pub request_id: String,
    /// Producer id of the instance that wrote it (`ce_producerid`); 0 for another writer's
    /// event that names none.
    pub producer_id: u64,
    /// Sequence number within that producer (`ce_sequence`); 0 when absent.
    pub sequence: u64,
    /// The event data; its variant is the event type (`ce_type`).
    pub data: EventData,
}

/// An envelope in record form: key, headers and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedRecord {
    /// The user id as text.
    pub key: Vec<u8>,
    /// CloudEvents headers.
    pub headers: Headers,
    /// The event data.
    pub value: Vec<u8>,
}

impl Envelope {
    /// The event type.
    pub fn event_type(&self) -> EventType {
        self.data.event_type()
    }

    /// `ce_source` of events from `producer_id`.
    pub fn source_of(producer_id: u64) -> String {
        format!("/usercenter/{producer_id}")
    }

    /// Truncates a time to the microsecond precision that `ce_time` carries.
    pub fn truncate_time(t: DateTime<Utc>) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
    }

    /// Encodes the envelope as a record with its value in `content_type`.
    pub fn encode(&self, content_type: ContentType) -> Result<EncodedRecord, EncodeError> {
        let ty = self.event_type();
        let value = match &self.data {
            EventData::Registered(d) => content_type.encode(d),
            EventData::LoggedIn(d) => content_type.encode(d),
            EventData::PasswordChanged(d) => content_type.encode(d),
            EventData::StatusChanged(d) => content_type.encode(d),
            EventData::Deleted(d) => content_type.encode(d),
            EventData::Updated(d) => content_type.encode(d),
        }
        .map_err(|reason| EncodeError {
            event_type: ty.as_str(),
            content_type: content_type.mime(),
            reason,
        })?;
        let user = self.user_id.to_string();
        let text = |s: &str| s.as_bytes().to_vec();
        let mut headers: Headers = [
            (header::SPECVERSION, text(SPEC_VERSION)),
            (header::ID, text(&self.id.to_string())),
            (header::SOURCE, text(&Self::source_of(self.producer_id))),
            (header::TYPE, text(ty.as_str())),
            (
                header::TIME,
                text(
                    &self
                        .occurred_at
                        .to_rfc3339_opts(SecondsFormat::Micros, true),
                ),
            ),
            (header::SUBJECT, text(&user)),
            (header::REQUEST_ID, text(&self.request_id)),
            // Always the layout this build writes, whatever version the envelope was read as.
            (header::DATA_VERSION, text(&DATA_VERSION.to_string())),
            (header::CONTENT_TYPE, text(content_type.mime())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        binding::set_identity(&mut headers, self.producer_id, self.sequence);
        Ok(EncodedRecord {
            key: user.into_bytes(),
            headers,
            value,
        })
    }

    /// Decodes a record's headers and value. Never panics; any defect is a [`DecodeError`].
    pub fn decode(headers: &impl HeaderLookup, value: Option<&[u8]>) -> Result<Self, DecodeError> {
        let spec = binding::text(headers, header::SPECVERSION)?;
        if spec != SPEC_VERSION {
            return Err(DecodeError::SpecVersion(spec.to_owned()));
        }
        // The data version before the type and the content type: a type (or an encoding) of a
        // later release, one this build does not know, is that release's event, which the
        // consumer waits on in a rolling upgrade, not a record to dead-letter.
        let version = data_version(headers)?;
        let content_type = content_type(headers)?;
        if version.is_none() && content_type != ContentType::Json {
            return Err(DecodeError::MissingHeader {
                name: header::DATA_VERSION,
            });
        }
        let version = version.unwrap_or(1);
        let ty_text = binding::text(headers, header::TYPE)?;
        let ty = EventType::parse(ty_text)
            .ok_or_else(|| DecodeError::UnknownType(ty_text.to_owned()))?;
        let occurred_at = time(headers)?;
        let bytes = value.ok_or(DecodeError::MissingValue)?;
        let data =
            decode_data(ty, version, content_type, bytes).map_err(|reason| DecodeError::Value {
                event_type: ty.as_str(),
                content_type: content_type.mime(),
                reason,
            })?;
        if let Some((field, text)) = data.texts().into_iter().find(|(_, t)| t.len() > MAX_TEXT) {
            return Err(DecodeError::TooLong {
                field,
                bytes: text.len(),
                most: MAX_TEXT,
            });
        }
        let request_id = request_id(headers)?;
        let id: Uuid = binding::parsed(headers, header::ID)?;
        // The nil (and the max) id is what a writer that never set one writes on every event
        // (Go's zero uuid.UUID): as an identity, every such event would be one event.
        if id.is_nil() || id.is_max() {
            return Err(DecodeError::BadHeader {
                name: header::ID,
                reason: format!("{id} names no event"),
            });
        }
        Ok(Self {
            version,
            id,
            user_id: binding::parsed(headers, header::SUBJECT)?,
            occurred_at,
            request_id: request_id.to_owned(),
            // Ours name their writer; another writer's event (the Go service's) may not, and
            // nothing reads these but the dedupe of a record without `ce_id`, which no event is.
            producer_id: binding::parsed_if_present(headers, header::PRODUCER_ID)?.unwrap_or(0),
            sequence: binding::parsed_if_present(headers, header::SEQUENCE)?.unwrap_or(0),
            data,
        })
    }
}

/// The event's time (`ce_time`), in UTC. RFC 3339 allows offsets up to ±23:59, so a time at
/// the edge of year 0 or 9999 is a year outside them in UTC, which RFC 3339 cannot write:
/// refused, or the time each reaction carries would be one no reader (this one included)
/// takes.
fn time(headers: &impl HeaderLookup) -> Result<DateTime<Utc>, DecodeError> {
    let text = binding::text(headers, header::TIME)?;
    let bad = |reason: String| DecodeError::BadHeader {
        name: header::TIME,
        reason: format!("{text:?}: {reason}"),
    };
    let at = DateTime::parse_from_rfc3339(text)
        .map_err(|e| bad(e.to_string()))?
        .with_timezone(&Utc);
    if !(0..=9999).contains(&at.year()) {
        return Err(bad(format!("year {} in UTC", at.year())));
    }
    Ok(at)
}

/// The event's data version (`ce_dataversion`), one this build reads; `None` when absent. A
/// JSON event may leave it out (the Go service's do): its fields say what they are, read as the
/// first layout's; postcard's bytes do not ([`Envelope::decode`] refuses those).
fn data_version(headers: &impl HeaderLookup) -> Result<Option<u16>, DecodeError> {
    let Some(version) = binding::parsed_if_present::<u16>(headers, header::DATA_VERSION)? else {
        return Ok(None);
    };
    if version == 0 || version > DATA_VERSION {
        return Err(DecodeError::DataVersion {
            found: version,
            supported: DATA_VERSION,
        });
    }
    Ok(Some(version))
}

/// The event's encoding (`content-type`).
fn content_type(headers: &impl HeaderLookup) -> Result<ContentType, DecodeError> {
    let text = binding::text(headers, header::CONTENT_TYPE)?;
    ContentType::parse(text).ok_or_else(|| DecodeError::ContentType(text.to_owned()))
}

/// The event's request id (`ce_requestid`), at most [`MAX_REQUEST_ID`] bytes; empty when
/// absent (another writer's event, the Go service's, may carry none).
fn request_id(headers: &impl HeaderLookup) -> Result<&str, DecodeError> {
    let request_id = binding::text_if_present(headers, header::REQUEST_ID)?.unwrap_or_default();
    if request_id.len() > MAX_REQUEST_ID {
        return Err(DecodeError::TooLong {
            field: header::REQUEST_ID,
            bytes: request_id.len(),
            most: MAX_REQUEST_ID,
        });
    }
    Ok(request_id)
}

fn decode_data(
    ty: EventType,
    version: u16,
    ct: ContentType,
    bytes: &[u8],
) -> Result<EventData, String> {
    Ok(match ty {
        EventType::Registered => EventData::Registered(ct.decode(bytes)?),
        EventType::LoggedIn => EventData::LoggedIn(ct.decode(bytes)?),
        EventType::PasswordChanged => EventData::PasswordChanged(ct.decode(bytes)?),
        EventType::StatusChanged => EventData::StatusChanged(ct.decode(bytes)?),
        // Version 1 postcard has no `email`; JSON defaults the missing field.
        EventType::Deleted if version < 2 && ct == ContentType::Postcard => {
            EventData::Deleted(ct.decode::<super::data::DeletedV1>(bytes)?.into())
        }
        EventType::Deleted => EventData::Deleted(ct.decode(bytes)?),
        // Version 2 postcard has no `previous_email`; JSON defaults the missing field.
        EventType::Updated if version < 3 && ct == ContentType::Postcard => {
            EventData::Updated(ct.decode::<super::data::UpdatedV2>(bytes)?.into())
        }
        EventType::Updated => EventData::Updated(ct.decode(bytes)?),
    })
}
