//! Fixtures shared by the tests of the user operations.
use std::{sync::Arc, time::Duration};

use super::{Caller, RequestCtx, User, Users};
use crate::{
    event::Envelope,
    outbox,
    store::{RedbStore, Store},
};

/// A service over a fresh store (keep the directory alive as long as the service).
pub(super) fn users() -> (tempfile::TempDir, Users) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    let users = Users::new(store, 42, "user.events", Duration::from_secs(3600)).unwrap();
    (dir, users)
}

pub(super) fn ctx() -> RequestCtx {
    RequestCtx {
        request_id: "req-1".into(),
        ip: "10.0.0.1".into(),
        user_agent: "test".into(),
        ..RequestCtx::default()
    }
}

/// Registers `name` (`name@example.com`, password "correct horse"); the user, its caller and
/// its token.
pub(super) fn register(users: &Users, name: &str) -> (User, Caller, String) {
    let (user, token, _) = users
        .register(
            name,
            &format!("{name}@example.com"),
            "correct horse",
            &ctx(),
        )
        .unwrap();
    let caller = users.authenticate(&token).unwrap();
    (user, caller, token)
}

/// The user events in the outbox, oldest first.
pub(super) fn events(users: &Users) -> Vec<Envelope> {
    users
        .read(|txn| Ok(outbox::pending(txn, 0, 1000)?))
        .unwrap()
        .into_iter()
        .filter(|(_, r)| r.topic == "user.events")
        .map(|(_, r)| Envelope::decode(&r.headers, Some(&r.value)).unwrap())
        .collect()
}
