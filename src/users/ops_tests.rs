use super::*;
use crate::store::RedbStore;

fn users() -> (tempfile::TempDir, Users) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    let users = Users::new(store, 42, "user.events", Duration::from_secs(3600)).unwrap();
    (dir, users)
}

fn ctx() -> RequestCtx {
    RequestCtx {
        request_id: "req-1".into(),
        ip: "10.0.0.1".into(),
        user_agent: "test".into(),
    }
}

fn events(users: &Users) -> Vec<Envelope> {
    users
        .read(|txn| outbox::pending(txn, 0, 1000))
        .unwrap()
        .into_iter()
        .filter(|(_, r)| r.topic == "user.events")
        .map(|(_, r)| Envelope::decode(&r.headers, Some(&r.value)).unwrap())
        .collect()
}

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
    assert!(matches!(
        users.register("x", "x@y.z", "correct horse", &ctx()),
        Err(UserError::Invalid {
            field: "username",
            ..
        })
    ));
}

#[test]
fn login_failures_look_alike_are_recorded_and_throttled() {
    let (_d, users) = users();
    users
        .register("ada", "ada@example.com", "correct horse", &ctx())
        .unwrap();
    assert!(matches!(
        users.login("nobody", "whatever1", &ctx()),
        Err(UserError::Unauthorized)
    ));
    assert!(matches!(
        users.login("ada", "wrong horse", &ctx()),
        Err(UserError::Unauthorized)
    ));
    let (_, token, _) = users
        .login("ada@example.com", "correct horse", &ctx())
        .unwrap();
    assert!(users.authenticate(&token).is_ok());
    let logins: Vec<bool> = events(&users)
        .iter()
        .filter_map(|e| match &e.data {
            EventData::LoggedIn(l) => Some(l.success),
            _ => None,
        })
        .collect();
    assert_eq!(logins, vec![false, true]);
    for _ in 0..5 {
        let _ = users.login("ada", "wrong horse", &ctx());
    }
    assert!(matches!(
        users.login("ada", "correct horse", &ctx()),
        Err(UserError::Throttled)
    ));
}

#[test]
fn password_change_keeps_the_callers_session_only_and_status_and_delete_revoke_all() {
    let (_d, users) = users();
    let (user, t1, _) = users
        .register("ada", "ada@example.com", "correct horse", &ctx())
        .unwrap();
    let (_, t2, _) = users.login("ada", "correct horse", &ctx()).unwrap();
    let caller = users.authenticate(&t1).unwrap();
    users
        .change_password(&caller, user.id, "correct horse", "battery staple", &ctx())
        .unwrap();
    assert!(
        users.authenticate(&t1).is_ok(),
        "the session that changed it stays"
    );
    assert!(
        users.authenticate(&t2).is_err(),
        "other sessions are revoked"
    );
    assert!(users.login("ada", "battery staple", &ctx()).is_ok());

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
    assert!(matches!(
        users.change_status(&caller, admin_user.id, UserStatus::Locked, &ctx()),
        Err(UserError::Forbidden)
    ));
    users
        .change_status(&admin, user.id, UserStatus::Disabled, &ctx())
        .unwrap();
    assert!(
        users.authenticate(&t1).is_err(),
        "disabled: every session revoked"
    );
    assert!(matches!(
        users.login("ada", "battery staple", &ctx()),
        Err(UserError::Forbidden)
    ));
    users.delete(&admin, user.id, &ctx()).unwrap();
    assert!(matches!(
        users.get(&admin, user.id),
        Err(UserError::NotFound)
    ));
    // The name is free again.
    users
        .register("ada", "ada@example.com", "correct horse", &ctx())
        .unwrap();
    let kinds: Vec<_> = events(&users)
        .iter()
        .map(|e| e.event_type().as_str())
        .collect();
    assert!(
        kinds.contains(&"user.password_changed")
            && kinds.contains(&"user.status_changed")
            && kinds.contains(&"user.deleted")
    );
}

#[test]
fn updates_carry_only_changed_fields_and_strangers_are_forbidden() {
    let (_d, users) = users();
    let (ada, t, _) = users
        .register("ada", "ada@example.com", "correct horse", &ctx())
        .unwrap();
    let (bob, tb, _) = users
        .register("bob", "bob@example.com", "correct horse", &ctx())
        .unwrap();
    let caller = users.authenticate(&t).unwrap();
    users
        .update(
            &caller,
            ada.id,
            Some("Ada"),
            Some("ada@example.com"),
            None,
            &ctx(),
        )
        .unwrap();
    let last = events(&users).pop().unwrap();
    assert_eq!(
        last.data,
        EventData::Updated(Updated {
            nickname: Some("Ada".into()),
            email: None,
            avatar_url: None
        })
    );
    let bob_caller = users.authenticate(&tb).unwrap();
    assert!(matches!(
        users.update(&bob_caller, ada.id, Some("x"), None, None, &ctx()),
        Err(UserError::Forbidden)
    ));
    assert!(matches!(
        users.update(&caller, ada.id, None, Some("BOB@example.com"), None, &ctx()),
        Err(UserError::Conflict { field: "email" })
    ));
    assert!(matches!(
        users.get(&caller, bob.id),
        Err(UserError::Forbidden)
    ));
}

#[test]
fn old_password_guesses_are_throttled() {
    let (_d, users) = users();
    let (user, token, _) = users
        .register("ada", "ada@example.com", "correct horse", &ctx())
        .unwrap();
    let caller = users.authenticate(&token).unwrap();
    for _ in 0..5 {
        assert!(matches!(
            users.change_password(&caller, user.id, "guess guess", "battery staple", &ctx()),
            Err(UserError::Invalid {
                field: "old_password",
                ..
            })
        ));
    }
    assert!(matches!(
        users.change_password(&caller, user.id, "correct horse", "battery staple", &ctx()),
        Err(UserError::Throttled)
    ));
}
