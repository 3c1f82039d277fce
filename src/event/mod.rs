//! The six user events and how they travel on Kafka.
//!
//! An [`Envelope`] is one event: its attributes (id, type, user, time, request id, producer id,
//! sequence, data version) and its [`EventData`]. On Kafka it follows the CloudEvents 1.0 Kafka
//! protocol binding in *binary mode* ([`binding`]): the attributes are `ce_*` headers, so any
//! consumer can route a record without decoding its value; the value is the event data alone,
//! in postcard (default) or JSON as the `content-type` header says; the key is the user id.
//!
//! ```text
//! Envelope ──encode──► key = user id
//!                      headers: ce_specversion ce_id ce_source ce_type ce_time ce_subject
//!                               ce_requestid ce_producerid ce_sequence ce_dataversion content-type
//!                      value = postcard | JSON of EventData's inner struct
//! ```
//!
//! Decoding never panics and never trusts a length: every failure is a typed [`DecodeError`].
mod binding;
mod data;
mod envelope;
mod error;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
mod kind;

pub use binding::{ContentType, HeaderLookup, Headers, header, is_binding_header, set_identity};
pub use data::{
    Deleted, EventData, LoggedIn, PasswordChanged, Registered, StatusChanged, Updated, UserStatus,
};
pub use envelope::{DATA_VERSION, EncodedRecord, Envelope, MAX_REQUEST_ID, MAX_TEXT};
pub use error::{DecodeError, EncodeError};
pub use kind::EventType;

#[cfg(test)]
mod tests;
