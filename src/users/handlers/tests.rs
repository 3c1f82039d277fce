//! The handlers' state against events of other writers: bounded whatever the events say.
use chrono::{Duration as Span, Utc};

use super::*;
use crate::{
    consumer::Effects,
    event::{EventData, EventType, fixtures::sample, header},
    store::{RedbStore, Store, StoreExt},
};

fn handler() -> UserEventHandler {
    UserEventHandler {
        notifications: "user.notifications".into(),
        analytics: "user.analytics".into(),
    }
}

/// Handles a login of `user` (`ip`, `success`, at `at_ms` from now) and applies its writes;
/// the notifications it made.
fn login(
    store: &RedbStore,
    ip: &str,
    success: bool,
    at_ms: i64,
) -> Vec<crate::outbox::OutboxRecord> {
    let mut e = sample(EventType::LoggedIn);
    e.id = Uuid::now_v7();
    e.occurred_at = Utc::now() + Span::milliseconds(at_ms);
    let EventData::LoggedIn(mut d) = e.data.clone() else {
        unreachable!("a login sample")
    };
    d.ip = ip.to_owned();
    d.success = success;
    let effects = store
        .read_with(|view| handler().logged_in(&e, &d, view))
        .unwrap();
    apply(store, effects)
}

/// Applies `effects`' writes (puts only: the handlers tested here delete nothing); its
/// records.
fn apply(store: &RedbStore, effects: Effects) -> Vec<crate::outbox::OutboxRecord> {
    store
        .write(&mut |txn| {
            for w in &effects.writes {
                if let Write::Put { table, key, value } = w {
                    txn.put(*table, key, value)?;
                }
            }
            Ok(())
        })
        .unwrap();
    effects.outputs
}

/// Handles `e`, a registration, and applies its writes; its records' `ce_type`s.
fn register(store: &RedbStore, e: &Envelope) -> Vec<String> {
    let EventData::Registered(d) = &e.data else {
        unreachable!("a registration sample")
    };
    let effects = store
        .read_with(|view| handler().registered(e, d, view))
        .unwrap();
    let ce_type = |r: &crate::outbox::OutboxRecord| {
        let (_, v) = r
            .headers
            .iter()
            .find(|(k, _)| k.as_str() == header::TYPE)
            .unwrap();
        String::from_utf8(v.clone()).unwrap()
    };
    apply(store, effects).iter().map(ce_type).collect()
}

fn state(store: &RedbStore) -> UserState {
    let user = sample(EventType::LoggedIn).user_id;
    store.read_with(|view| load_state(view, user)).unwrap()
}

/// The registration `e` under another id, naming another address.
fn another_registration(e: &Envelope) -> Envelope {
    let mut another = e.clone();
    another.id = Uuid::now_v7();
    let EventData::Registered(d) = &mut another.data else {
        unreachable!("a registration sample")
    };
    d.email = "someone.else@example.com".into();
    another
}

/// The address of the welcome among `records`, if any.
fn welcome_address(records: &[crate::outbox::OutboxRecord]) -> Option<String> {
    let welcome = records.iter().find(|r| r.topic == "user.notifications")?;
    let value: serde_json::Value = serde_json::from_slice(&welcome.value).unwrap();
    value["email"].as_str().map(str::to_owned)
}

#[test]
fn a_second_registration_of_a_registered_user_sends_no_welcome_and_a_replay_does() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let first = sample(EventType::Registered);
    let reacted = ["user.notification.welcome", "user.analytics.registered"];
    assert_eq!(register(&store, &first), reacted);
    let settings = store
        .read_with(|view| load_state(view, first.user_id))
        .unwrap()
        .settings;
    assert!(!settings.is_empty());

    // Another writer's event (or a forgery) registering the same user under a new id.
    let another = another_registration(&first);
    assert!(register(&store, &another).is_empty(), "a second welcome");
    let s = store
        .read_with(|view| load_state(view, first.user_id))
        .unwrap();
    assert_eq!(s.settings, settings);
    assert!(
        s.security_log
            .iter()
            .any(|(_, what)| what.contains(&another.id.to_string())),
        "{:?}",
        s.security_log
    );
    // Handed over again (`group reset-offsets --replay` forgets dedupe marks, not the event
    // log): still nothing.
    assert!(register(&store, &another).is_empty(), "a welcome on replay");

    // The first event again, as `--replay` hands it over: the same reaction (the welcome's
    // ce_id derives from the event's, so its readers dedupe it).
    assert_eq!(register(&store, &first), reacted);
}

/// A store where a user was registered, then the `Meta` row `key` gives for the user deleted;
/// the registration.
fn registered_then_forgotten(key: fn(Uuid) -> Vec<u8>) -> (tempfile::TempDir, RedbStore, Envelope) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let first = sample(EventType::Registered);
    register(&store, &first);
    store
        .write(&mut |txn| {
            txn.delete(Table::Meta, &key(first.user_id))?;
            Ok(())
        })
        .unwrap();
    (dir, store, first)
}

/// A user registered before the registering event's id was noted (their settings exist, the
/// note does not): another registration is ignored, and so is its replay.
#[test]
fn a_user_registered_before_ids_were_noted_is_not_welcomed_twice() {
    let (_dir, store, first) = registered_then_forgotten(registered_key);
    let another = another_registration(&first);
    assert!(register(&store, &another).is_empty(), "a second welcome");
    assert!(register(&store, &another).is_empty(), "a welcome on replay");
    // An event whose id is the nil id, which the note above stands for, is not the one.
    let mut nil = another_registration(&first);
    nil.id = Uuid::nil();
    assert!(
        register(&store, &nil).is_empty(),
        "a welcome for the nil id"
    );
    assert!(
        register(&store, &nil).is_empty(),
        "a welcome for the nil id on replay"
    );
}

/// A deleted user's registration under another id: no welcome, and no state made again.
#[test]
fn a_deleted_user_gets_no_welcome_and_no_state_back() {
    // What `user.deleted` does to the handlers' state.
    let (_dir, store, first) = registered_then_forgotten(state_key);
    assert!(register(&store, &another_registration(&first)).is_empty());
    let left: Option<UserState> = store
        .read_with(|view| store::get(view, Table::Meta, &state_key(first.user_id)))
        .unwrap();
    assert_eq!(left, None);
}

/// The welcome goes to the address this store has for the user and names their stored
/// username, whatever the event says; the event's for a user it does not have (another
/// service's, in a migration).
#[test]
fn the_welcome_goes_to_the_stored_address() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let e = another_registration(&sample(EventType::Registered));
    let EventData::Registered(d) = &e.data else {
        unreachable!("a registration sample")
    };
    let welcome = |store: &RedbStore| {
        let effects = store
            .read_with(|view| handler().registered(&e, d, view))
            .unwrap();
        let welcome = effects
            .outputs
            .iter()
            .find(|r| r.topic == "user.notifications");
        let value: serde_json::Value = serde_json::from_slice(&welcome.unwrap().value).unwrap();
        let username = value["details"]["username"].as_str().map(str::to_owned);
        (welcome_address(&effects.outputs), username)
    };
    let event_named = (
        Some("someone.else@example.com".to_owned()),
        Some(d.username.clone()),
    );
    assert_eq!(welcome(&store), event_named);
    put_user(&store, e.user_id, "owner@example.com");
    let stored = (
        Some("owner@example.com".to_owned()),
        Some("someone".to_owned()),
    );
    assert_ne!(d.username, "someone");
    assert_eq!(welcome(&store), stored);
}

/// A welcome to a user this store does not have goes to the address the event names only
/// when it is one address: a list or header lines go as none.
#[test]
fn a_welcome_names_no_address_that_is_not_one() {
    for (named, sent) in [
        ("ada@example.com", Some("ada@example.com")),
        ("bob@localhost", Some("bob@localhost")),
        ("a@b.example,c@d.example", None),
        ("a@b.example\r\nBcc: c@d.example", None),
        ("", None),
    ] {
        let mut e = sample(EventType::Registered);
        let EventData::Registered(d) = &mut e.data else {
            unreachable!("a registration sample")
        };
        d.email = named.to_owned();
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path()).unwrap();
        let EventData::Registered(d) = &e.data else {
            unreachable!("a registration sample")
        };
        let effects = store
            .read_with(|view| handler().registered(&e, d, view))
            .unwrap();
        assert_eq!(
            welcome_address(&effects.outputs).as_deref(),
            sent,
            "{named:?}"
        );
    }
}

/// Writes the row of a user `id` with address `email`, as a registration does.
fn put_user(store: &RedbStore, id: Uuid, email: &str) {
    let user = User {
        id,
        username: "someone".into(),
        email: email.into(),
        nickname: None,
        avatar_url: None,
        status: crate::event::UserStatus::Active,
        role: super::super::Role::User,
        password_hash: String::new(),
        created_ms: 0,
        updated_ms: 0,
        last_login_ms: None,
    };
    let row = postcard::to_allocvec(&user).unwrap();
    store
        .write(&mut |txn| txn.put(Table::Users, id.as_bytes(), &row))
        .unwrap();
}

/// A deletion of a user this store still has is not ours (a delete removes the row with the
/// event's write): it removes nothing, sends nothing, and leaves a line in the security log.
/// Once the row is gone, a deletion removes the state and confirms to the event's address.
#[test]
fn a_deletion_of_a_user_this_store_has_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let registration = sample(EventType::Registered);
    register(&store, &registration);
    let user = registration.user_id;
    put_user(&store, user, "owner@example.com");
    let mut e = sample(EventType::Deleted);
    e.user_id = user;
    let EventData::Deleted(d) = e.data.clone() else {
        unreachable!("a deletion sample")
    };
    let effects = store
        .read_with(|view| handler().deleted(&e, &d, view))
        .unwrap();
    assert!(effects.outputs.is_empty(), "{:?}", effects.outputs);
    assert!(
        !effects
            .writes
            .iter()
            .any(|w| matches!(w, Write::Delete { .. })),
        "{:?}",
        effects.writes
    );
    apply(&store, effects);
    let kept = state(&store);
    assert!(!kept.settings.is_empty(), "the state stays");
    assert!(
        kept.security_log
            .last()
            .is_some_and(|(_, line)| line.contains("for an existing user ignored")),
        "{:?}",
        kept.security_log
    );
    store
        .write(&mut |txn| txn.delete(Table::Users, user.as_bytes()).map(|_| ()))
        .unwrap();
    let effects = store
        .read_with(|view| handler().deleted(&e, &d, view))
        .unwrap();
    assert!(effects.writes.iter().any(|w| matches!(
        w,
        Write::Delete { table: Table::Meta, key } if *key == state_key(user)
    )));
    assert_eq!(
        effects.outputs.len(),
        2,
        "the confirmation and the analytics record"
    );
}

/// However many IPs a user logs in from, 32 are kept, the latest; however many lines the
/// events add to the security log, 64 are kept, the latest.
#[test]
fn known_ips_and_the_security_log_are_capped_keeping_the_latest() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    for i in 0..100 {
        login(&store, &format!("192.0.2.{i}"), true, i);
    }
    let kept = state(&store);
    assert_eq!(kept.known_ips.len(), KNOWN_IPS);
    assert_eq!(
        kept.known_ips.last().map(String::as_str),
        Some("192.0.2.99")
    );
    assert_eq!(
        kept.known_ips.first().map(String::as_str),
        Some("192.0.2.68")
    );
    // Every login after the first was from a new IP: a line each, the latest kept.
    assert_eq!(kept.security_log.len(), SECURITY_LOG);
    assert!(
        kept.security_log
            .last()
            .is_some_and(|(_, line)| line.ends_with("192.0.2.99")),
        "{:?}",
        kept.security_log.last()
    );
}

#[test]
fn an_ip_of_a_megabyte_is_kept_as_its_first_64_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    login(&store, "192.0.2.1", true, 0);
    let huge = "é".repeat(500_000);
    let notes = login(&store, &huge, true, 0);
    let s = state(&store);
    assert!(
        s.known_ips.iter().all(|ip| ip.len() <= MAX_IP),
        "{:?}",
        s.known_ips.iter().map(String::len).collect::<Vec<_>>()
    );
    // Its first bytes, cut at a character's boundary: a prefix of what was sent.
    assert!(
        s.last_login.as_ref().is_some_and(|(_, ip)| !ip.is_empty()
            && ip.len() <= MAX_IP
            && huge.starts_with(ip.as_str())),
        "{:?}",
        s.last_login
    );
    assert!(
        s.security_log
            .iter()
            .all(|(_, what)| what.len() < 2 * MAX_IP)
    );
    assert_eq!(notes.len(), 1, "the new-IP alert");
    assert!(notes[0].value.len() < 1_000, "{}", notes[0].value.len());
}

#[test]
fn failed_logins_kept_are_bounded_and_those_stamped_far_ahead_age_out() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let mut alerts = 0;
    // Forged failures, all stamped a year ahead: at most FAILURES_KEPT are kept.
    for _ in 0..100 {
        alerts += login(&store, "192.0.2.9", false, 365 * 86_400_000).len();
    }
    assert_eq!(state(&store).failures.len(), FAILURES_KEPT);
    assert_eq!(alerts, 1, "one burst alerts once");
    // Genuine failures now: the forged ones are outside the window and go; a burst alerts.
    let mut now_alerts = 0;
    for _ in 0..FAILURE_BURST {
        now_alerts += login(&store, "192.0.2.9", false, 0).len();
    }
    assert_eq!(state(&store).failures.len(), FAILURE_BURST);
    assert_eq!(now_alerts, 1, "the genuine burst alerts");
}

mod address_change;
