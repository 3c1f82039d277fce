use super::*;
use crate::users::testing::{ctx, events, register, users};

#[test]
fn password_change_keeps_the_callers_session_only() {
    let (_d, users) = users();
    let (user, caller, t1) = register(&users, "ada");
    let (_, t2, _) = users.login("ada", "correct horse", &ctx()).unwrap();
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
    assert!(matches!(
        users.login("ada", "correct horse", &ctx()),
        Err(UserError::Unauthorized)
    ));
    let changed = events(&users)
        .into_iter()
        .find(|e| e.event_type().as_str() == "user.password_changed")
        .unwrap();
    assert_eq!(
        changed.data,
        EventData::PasswordChanged(PasswordChanged {
            changed_by: user.id,
            ip: "10.0.0.1".into(),
        })
    );
}

#[test]
fn updates_carry_only_changed_fields_and_strangers_are_forbidden() {
    let (_d, users) = users();
    let (ada, caller, _) = register(&users, "ada");
    let (bob, bob_caller, _) = register(&users, "bob");
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
    let before = events(&users).len();
    let same = users
        .update(&caller, ada.id, Some("Ada"), None, None, &ctx())
        .unwrap();
    assert_eq!(same.nickname.as_deref(), Some("Ada"));
    assert_eq!(events(&users).len(), before, "no change, no event");
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
    let (user, caller, _) = register(&users, "ada");
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
