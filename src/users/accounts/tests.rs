use std::{sync::Arc, time::Duration};

use super::*;
use crate::{
    store::{RedbStore, Store, StoreError, StoreExt, Table, intercepted::Intercepted},
    users::testing::{ctx, events, register, users},
};

#[test]
fn register_writes_the_user_a_session_and_the_event_together() {
    let (_d, users) = users();
    let (user, token, _) = users
        .register("ada", "ada@example.com", "correct horse", &ctx())
        .unwrap();
    let caller = users.authenticate(&token).unwrap();
    assert_eq!(caller.user.id, user.id);
    let evs = events(&users);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].user_id, user.id);
    assert_eq!(evs[0].request_id, "req-1");
    assert_eq!(evs[0].producer_id, 42);
    assert!(matches!(
        users.register("ADA", "other@example.com", "correct horse", &ctx()),
        Err(UserError::Conflict { field: "username" })
    ));
    assert!(matches!(
        users.register("bob", "Ada@Example.com", "correct horse", &ctx()),
        Err(UserError::Conflict { field: "email" })
    ));
    // Both taken: the name is the one reported (PostgreSQL's test expects the same).
    assert!(matches!(
        users.register("Ada", "ADA@example.com", "correct horse", &ctx()),
        Err(UserError::Conflict { field: "username" })
    ));
    assert!(matches!(
        users.register("x", "x@y.z", "correct horse", &ctx()),
        Err(UserError::Invalid {
            field: "username",
            ..
        })
    ));
    assert_eq!(
        events(&users).len(),
        1,
        "a refused registration emits nothing"
    );
}

#[test]
fn delete_revokes_sessions_and_frees_the_name() {
    let (_d, users) = users();
    let (user, _, token) = register(&users, "ada");
    let (_, bob, _) = register(&users, "bob");
    assert!(matches!(
        users.delete(&bob, user.id, &ctx()),
        Err(UserError::Forbidden)
    ));
    let (admin_user, admin_token, _) = users
        .create(
            "root",
            "root@example.com",
            "admin password",
            Role::Admin,
            &ctx(),
        )
        .unwrap();
    let admin = users.authenticate(&admin_token).unwrap();
    users.delete(&admin, user.id, &ctx()).unwrap();
    assert!(users.authenticate(&token).is_err(), "sessions revoked");
    assert!(matches!(
        users.get(&admin, user.id),
        Err(UserError::NotFound)
    ));
    assert!(matches!(
        users.delete(&admin, user.id, &ctx()),
        Err(UserError::NotFound)
    ));
    // The name is free again.
    users
        .register("ada", "ada@example.com", "correct horse", &ctx())
        .unwrap();
    let last_deleted = events(&users)
        .into_iter()
        .rfind(|e| e.event_type().as_str() == "user.deleted")
        .unwrap();
    assert_eq!(last_deleted.user_id, user.id);
    assert_eq!(
        last_deleted.data,
        EventData::Deleted(Deleted {
            deleted_by: admin_user.id,
            email: Some("ada@example.com".into()),
        })
    );
}

#[test]
fn a_taken_name_or_address_is_refused_before_the_password_is_hashed() {
    let (_d, users) = users();
    register(&users, "ada");
    // A client already gone: a hash queued for it is skipped and the request fails as
    // cancelled, so a conflict answered here was found before any hash was asked for.
    let gone = ctx();
    drop(gone.client_gone.set_on_drop());
    for (name, email, field) in [
        ("ADA", "other@example.com", "username"),
        ("bob", "Ada@Example.com", "email"),
    ] {
        let refused = users.register(name, email, "correct horse", &gone);
        assert!(
            matches!(refused, Err(UserError::Conflict { field: f }) if f == field),
            "{name} {email}: {refused:?}"
        );
    }
    let free = users.register("bob", "bob@example.com", "correct horse", &gone);
    assert!(
        !matches!(free, Ok(_) | Err(UserError::Conflict { .. })),
        "a free name goes on to the hash, which the gone client cancels: {free:?}"
    );
}

/// A registration whose event cannot be written leaves nothing: no user, no session, no name
/// taken. The user and the event are one transaction (invariant 1), not two.
#[test]
fn a_registration_whose_event_fails_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Its write transactions fail, rolled back, when they appended to the outbox: what was
    // written with the event in the same transaction goes with it.
    let inner = Arc::new(RedbStore::open(dir.path()).unwrap());
    let failing = Arc::new(Intercepted::new(inner, |inner, f| {
        inner.write(&mut |txn| {
            let before = txn.count(Table::Outbox)?;
            f(txn)?;
            if txn.count(Table::Outbox)? > before {
                return Err(StoreError::NotFound("the test's failing event"));
            }
            Ok(())
        })
    }));
    let users = Users::new(failing, 42, "user.events", Duration::from_secs(3600)).unwrap();
    assert!(
        users
            .register("ada", "ada@example.com", "correct horse", &ctx())
            .is_err()
    );
    drop(users);
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    let counts = store
        .read_with(|txn| {
            Ok::<_, StoreError>((txn.count(Table::Users)?, txn.count(Table::Sessions)?))
        })
        .unwrap();
    assert_eq!(
        counts,
        (0, 0),
        "users and sessions written without the event"
    );
    let users = Users::new(store, 42, "user.events", Duration::from_secs(3600)).unwrap();
    users
        .register("ada", "ada@example.com", "correct horse", &ctx())
        .expect("the name and address are free");
}
