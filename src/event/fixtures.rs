//! Valid sample events, one per type: seeds for fuzzing, benchmarks and tests. Compiled only
//! for tests and with the `fixtures` feature (dev builds and fuzz/), never into the service.
use uuid::Uuid;

use super::{
    DATA_VERSION, Deleted, Envelope, EventData, EventType, LoggedIn, PasswordChanged, Registered,
    StatusChanged, Updated, UserStatus,
};

/// A valid event of type `ty`.
pub fn sample(ty: EventType) -> Envelope {
    let who = Uuid::from_u128(0x5eed);
    let data = match ty {
        EventType::Registered => EventData::Registered(Registered {
            username: "ada".into(),
            email: "ada@example.com".into(),
        }),
        EventType::LoggedIn => EventData::LoggedIn(LoggedIn {
            ip: "192.0.2.1".into(),
            user_agent: "curl/8".into(),
            success: true,
        }),
        EventType::PasswordChanged => EventData::PasswordChanged(PasswordChanged {
            changed_by: who,
            ip: "192.0.2.1".into(),
        }),
        EventType::StatusChanged => EventData::StatusChanged(StatusChanged {
            from: UserStatus::Active,
            to: UserStatus::Locked,
            changed_by: who,
        }),
        EventType::Deleted => EventData::Deleted(Deleted {
            deleted_by: who,
            email: Some("gone@example.com".into()),
        }),
        EventType::Updated => EventData::Updated(Updated {
            nickname: Some("Ada".into()),
            email: None,
            avatar_url: Some("https://example.com/a.png".into()),
            previous_email: None,
        }),
    };
    Envelope {
        version: DATA_VERSION,
        id: Uuid::from_u128(0xe1),
        user_id: who,
        occurred_at: chrono::DateTime::from_timestamp_micros(1_700_000_000_000_000)
            .unwrap_or_default(),
        request_id: "seed".into(),
        producer_id: 1,
        sequence: 1,
        data,
    }
}
