use super::*;

mod disabled_mid_write;
use crate::users::core::ADDRESS_CHANGES_PER_DAY;
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
            avatar_url: None,
            previous_email: None,
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

/// One's address in another spelling of its case keeps its key (no conflict with oneself),
/// and the new spelling is stored and sent.
#[test]
fn an_address_changed_in_case_only_is_stored_in_the_new_spelling() {
    let (_d, users) = users();
    let (ada, caller, _) = register(&users, "ada");
    let user = users
        .update(&caller, ada.id, None, Some("Ada@Example.com"), None, &ctx())
        .unwrap();
    assert_eq!(user.email, "Ada@Example.com");
    assert_eq!(users.get(&caller, ada.id).unwrap().email, "Ada@Example.com");
    let last = events(&users).pop().unwrap();
    assert_eq!(
        last.data,
        EventData::Updated(Updated {
            nickname: None,
            email: Some("Ada@Example.com".into()),
            avatar_url: None,
            previous_email: Some("ada@example.com".into()),
        })
    );
    // Still found by its key, and still taken for others.
    let (_bob, bob_caller, _) = register(&users, "bob");
    assert!(matches!(
        users.update(
            &bob_caller,
            _bob.id,
            None,
            Some("ADA@example.com"),
            None,
            &ctx()
        ),
        Err(UserError::Conflict { field: "email" })
    ));
    users
        .login("ada@example.com", "correct horse", &ctx())
        .unwrap();
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
    // Per session: guesses made with a stolen token do not lock the owner's other session out.
    let (_, token, _) = users.login("ada", "correct horse", &ctx()).unwrap();
    let owner = users.authenticate(&token).unwrap();
    users
        .change_password(&owner, user.id, "correct horse", "battery staple", &ctx())
        .unwrap();
}

/// An admin's guesses at another account's old password count per account: a new session
/// (another login with the admin's password) brings no new guesses.
#[test]
fn an_admins_guesses_at_another_accounts_password_count_across_sessions() {
    let (_d, users) = users();
    let (ada, _, _) = register(&users, "ada");
    users
        .ensure_admin("root", "root@example.com", "admin password")
        .unwrap();
    let admin = || {
        let (_, token, _) = users.login("root", "admin password", &ctx()).unwrap();
        users.authenticate(&token).unwrap()
    };
    let first = admin();
    for _ in 0..5 {
        assert!(matches!(
            users.change_password(&first, ada.id, "guess guess", "battery staple", &ctx()),
            Err(UserError::Invalid {
                field: "old_password",
                ..
            })
        ));
    }
    assert!(matches!(
        users.change_password(&admin(), ada.id, "correct horse", "battery staple", &ctx()),
        Err(UserError::Throttled)
    ));
}

#[test]
fn of_concurrent_password_changes_with_one_old_password_one_succeeds() {
    let (_d, users) = users();
    let (user, caller, _) = register(&users, "ada");
    let users = std::sync::Arc::new(users);
    let start = std::sync::Arc::new(std::sync::Barrier::new(5));
    let threads: Vec<_> = (0..5)
        .map(|n| {
            let (users, caller, start) = (users.clone(), caller.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let new = format!("new password {n}");
                users.change_password(&caller, user.id, "correct horse", &new, &ctx())
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "{results:?}");
    assert!(results.iter().all(|r| matches!(
        r,
        Ok(())
            | Err(UserError::Invalid {
                field: "old_password",
                ..
            })
    )));
    let works = (0..5)
        .filter(|n| {
            users
                .login("ada", &format!("new password {n}"), &ctx())
                .is_ok()
        })
        .count();
    assert_eq!(works, 1);
}

/// The first admin, `root`, logged in.
fn an_admin(users: &Users) -> Caller {
    users
        .ensure_admin("root", "root@example.com", "admin password")
        .unwrap();
    let (_, root, _) = users.login("root", "admin password", &ctx()).unwrap();
    users.authenticate(&root).unwrap()
}

#[test]
fn a_caller_disabled_mid_request_can_no_longer_write() {
    let (_d, users) = users();
    let (user, caller, _) = register(&users, "ada");
    let admin = an_admin(&users);
    // `caller` was authenticated before the admin's change committed.
    users
        .change_status(&admin, user.id, crate::event::UserStatus::Disabled, &ctx())
        .unwrap();
    let unauthorized = |r: Result<()>| matches!(r, Err(UserError::Unauthorized));
    assert!(unauthorized(users.change_password(
        &caller,
        user.id,
        "correct horse",
        "battery staple",
        &ctx()
    )));
    assert!(unauthorized(
        users
            .update(&caller, user.id, Some("x"), None, None, &ctx())
            .map(|_| ())
    ));
    assert!(unauthorized(users.delete(&caller, user.id, &ctx())));
    // An admin whose session was revoked cannot change statuses either.
    users
        .write(|txn| Ok(txn.delete(Table::Sessions, &admin.session).map(|_| ())?))
        .unwrap();
    assert!(unauthorized(
        users
            .change_status(&admin, user.id, crate::event::UserStatus::Active, &ctx())
            .map(|_| ())
    ));
    let types: Vec<_> = events(&users)
        .iter()
        .map(|e| e.event_type().as_str())
        .collect();
    assert!(!types.contains(&"user.password_changed"), "{types:?}");
}

#[test]
fn an_accounts_address_changes_a_bounded_number_of_times_a_day() {
    let (_d, users) = users();
    let (ada, caller, _) = register(&users, "ada");
    let (bob, bob_caller, _) = register(&users, "bob");
    let to = |users: &Users, caller, id, address: &str| {
        users.update(caller, id, None, Some(address), None, &ctx())
    };
    for i in 0..ADDRESS_CHANGES_PER_DAY {
        to(&users, &caller, ada.id, &format!("ada{i}@example.com")).unwrap();
    }
    let last = format!("ada{}@example.com", ADDRESS_CHANGES_PER_DAY - 1);
    let before = events(&users).len();
    assert!(matches!(
        to(&users, &caller, ada.id, "ada-more@example.com"),
        Err(UserError::TooManyChanges)
    ));
    assert_eq!(users.get(&caller, ada.id).unwrap().email, last);
    assert_eq!(events(&users).len(), before, "no event, no notice");
    // A change in case only keeps the address (and its notice's recipient), and the same
    // address again changes nothing: neither counts.
    to(&users, &caller, ada.id, &last.to_uppercase()).unwrap();
    to(&users, &caller, ada.id, &last.to_uppercase()).unwrap();
    // Other fields and other accounts go on.
    users
        .update(&caller, ada.id, Some("Ada"), None, None, &ctx())
        .unwrap();
    to(&users, &bob_caller, bob.id, "bob2@example.com").unwrap();
}

#[test]
fn a_refused_address_change_gives_its_count_back_and_an_admin_is_not_held_to_it() {
    let (_d, users) = users();
    let (ada, caller, _) = register(&users, "ada");
    register(&users, "bob");
    let to =
        |caller, address: &str| users.update(caller, ada.id, None, Some(address), None, &ctx());
    // A taken address is refused (409) and counts nothing.
    for _ in 0..ADDRESS_CHANGES_PER_DAY + 2 {
        assert!(matches!(
            to(&caller, "bob@example.com"),
            Err(UserError::Conflict { field: "email" })
        ));
    }
    for i in 0..ADDRESS_CHANGES_PER_DAY {
        to(&caller, &format!("ada{i}@example.com")).unwrap();
    }
    assert!(matches!(
        to(&caller, "ada-more@example.com"),
        Err(UserError::TooManyChanges)
    ));
    // An admin sets right what a token thief changed, as often as it takes.
    users
        .ensure_admin("root", "root@example.com", "admin password")
        .unwrap();
    let (_, token, _) = users.login("root", "admin password", &ctx()).unwrap();
    let admin = users.authenticate(&token).unwrap();
    for i in 0..=ADDRESS_CHANGES_PER_DAY {
        to(&admin, &format!("ada-set-right{i}@example.com")).unwrap();
    }
}
