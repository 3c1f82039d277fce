use super::*;
use crate::users::testing::{ctx, events, register, users};

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
        Err(UserError::Unauthorized)
    ));
}

/// A stored hash argon2 cannot check (bcrypt's, copied from another service) matches no
/// password, and its login costs an argon2 check like a wrong password's, so its answer comes
/// no sooner.
#[test]
fn a_hash_from_another_service_matches_nothing_after_the_same_work() {
    let (_d, users) = users();
    let (ada, _, _) = register(&users, "ada");
    let bcrypt = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";
    users
        .write(|txn| {
            let mut user = Users::get_user(txn, ada.id)?;
            user.password_hash = bcrypt.to_owned();
            Users::put_user(txn, &user)
        })
        .unwrap();
    // A process-wide count, which another test's hashes would move beside this one.
    testkit::require_own_process();
    let before = hashing_pool::hashes_run();
    assert!(matches!(
        users.login("ada", "correct horse", &ctx()),
        Err(UserError::Unauthorized)
    ));
    assert!(
        hashing_pool::hashes_run() > before,
        "no argon2 check was run"
    );
}

#[test]
fn a_corrupt_index_row_is_corruption_not_an_outage() {
    let (_d, users) = users();
    register(&users, "ada");
    users
        .write(|txn| Ok(txn.put(Table::Usernames, b"ada", b"not an id")?))
        .unwrap();
    let err = users.login("ada", "correct horse", &ctx()).unwrap_err();
    assert!(
        matches!(
            err,
            UserError::Corrupt {
                table: "usernames",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(std::error::Error::source(&err).is_some());
    // The e-mail index still leads to the account.
    assert!(
        users
            .login("ada@example.com", "correct horse", &ctx())
            .is_ok()
    );
}

#[test]
fn a_disabled_account_with_the_right_password_looks_like_a_wrong_one() {
    let (_d, users) = users();
    let (user, _, _) = register(&users, "ada");
    users
        .write(|txn| {
            let mut u = Users::get_user(txn, user.id)?;
            u.status = UserStatus::Disabled;
            Users::put_user(txn, &u)
        })
        .unwrap();
    assert!(matches!(
        users.login("ada", "correct horse", &ctx()),
        Err(UserError::Unauthorized)
    ));
    assert!(matches!(
        users.login("ada", "wrong horse", &ctx()),
        Err(UserError::Unauthorized)
    ));
    // Both recorded alike: a failed login of the account each, which its failure alerts and
    // security log see, and a reader of the events cannot tell apart.
    let failed: Vec<(Uuid, bool)> = events(&users)
        .iter()
        .filter_map(|e| match &e.data {
            EventData::LoggedIn(l) => Some((e.user_id, l.success)),
            _ => None,
        })
        .collect();
    assert_eq!(failed, vec![(user.id, false), (user.id, false)]);
}

#[test]
fn lockout_is_per_source_and_throttled_answers_look_like_wrong_passwords() {
    let (_d, users) = users();
    register(&users, "ada");
    for _ in 0..5 {
        let r = users.login("ada", "wrong horse", &from("10.6.6.6"));
        assert!(matches!(r, Err(UserError::Unauthorized)));
    }
    // Throttled by user name and by e-mail address alike, the same as an unknown user.
    for login in ["ada", "ada@example.com", "nobody@example.com"] {
        let r = users.login(login, "correct horse", &from("10.6.6.6"));
        assert!(matches!(r, Err(UserError::Unauthorized)), "{login}");
    }
    // The owner, elsewhere, is not locked out.
    assert_logs_in(&users, "ada", "10.0.0.9");
    // An IPv6 source counts by its /64: another address of it is the same source.
    for i in 0..5 {
        let r = users.login("ada", "wrong horse", &from(&format!("2001:db8:6::{i}")));
        assert!(matches!(r, Err(UserError::Unauthorized)));
    }
    let r = users.login("ada", "correct horse", &from("2001:db8:6::ffff"));
    assert!(
        matches!(r, Err(UserError::Unauthorized)),
        "throttled as one source"
    );
    assert!(
        users
            .login("ada", "correct horse", &from("2001:db8:7::1"))
            .is_ok(),
        "another /64"
    );
    // An over-long login is an unknown one, not an error and not a key of its own.
    let long = "x".repeat(60 * 1024);
    assert!(matches!(
        users.login(&long, "whatever", &from("10.0.0.9")),
        Err(UserError::Unauthorized)
    ));
}

/// A login that checked the old password before a change committed starts no session after
/// it: the change revoked every session, and one started from the old check would outlive it.
#[test]
fn a_login_racing_a_password_change_gets_no_session() {
    let (_d, users) = users();
    let (user, caller, _) = register(&users, "ada");
    // The row the login read and checked the password against, before the change.
    let verified = users.find_login("ada").unwrap().unwrap();
    users
        .change_password(&caller, user.id, "correct horse", "battery staple", &ctx())
        .unwrap();
    assert!(matches!(
        users.start_session(&verified, &ctx()),
        Err(UserError::Unauthorized)
    ));
    // Under the new password the same step starts one.
    let current = users.find_login("ada").unwrap().unwrap();
    let (_, token, _) = users.start_session(&current, &ctx()).unwrap();
    assert!(users.authenticate(&token).is_ok());
}

/// An account deleted between the password check and the session is refused as a wrong
/// password would be (401), not reported missing (404).
#[test]
fn a_login_racing_a_deletion_is_unauthorized() {
    let (_d, users) = users();
    let (user, caller, _) = register(&users, "ada");
    let verified = users.find_login("ada").unwrap().unwrap();
    users.delete(&caller, user.id, &ctx()).unwrap();
    assert!(matches!(
        users.start_session(&verified, &ctx()),
        Err(UserError::Unauthorized)
    ));
}

/// One site makes at most `known_per_site` sources known a day: one address that
/// registers and logs in to many accounts cannot push every owner's known source out of the
/// table (it keeps `throttle_max_keys`, oldest out first). Here the table keeps 3: the
/// attacker's third account is not remembered, and ada's source stays known.
#[test]
fn one_address_cannot_push_the_owners_known_sources_out() {
    let (_d, users) = users();
    let users = users.with_limits(&crate::users::AuthLimits {
        per_source: 2,
        per_account: 2,
        max_keys: 3,
        known_per_site: 2,
        ..Default::default()
    });
    register(&users, "ada");
    assert_logs_in(&users, "ada", "10.0.0.9");
    for name in ["mallory1", "mallory2", "mallory3", "mallory4"] {
        register(&users, name);
        assert_logs_in(&users, name, "10.6.6.6");
    }
    // Ceiling full from elsewhere: ada's usual source is still spared.
    fill_the_ceiling_then_log_in_where_known(&users, 1);
}

/// A login from `ip`.
fn from(ip: &str) -> crate::users::RequestCtx {
    crate::users::RequestCtx {
        ip: ip.into(),
        ..ctx()
    }
}

/// `name` logs in with the right password from `ip`.
fn assert_logs_in(users: &Users, name: &str, ip: &str) {
    let r = users.login(name, "correct horse", &from(ip));
    assert!(r.is_ok(), "{name} from {ip}: {r:?}");
}

/// Two attacking sources send `each` wrong passwords for ada, filling the account's ceiling:
/// then a new source is refused the right password, and ada's usual one (10.0.0.9) is not.
fn fill_the_ceiling_then_log_in_where_known(users: &Users, each: usize) {
    for attacker in ["10.6.6.1", "10.6.6.2"] {
        for _ in 0..each {
            let r = users.login("ada", "wrong horse", &from(attacker));
            assert!(matches!(r, Err(UserError::Unauthorized)));
        }
    }
    assert!(matches!(
        users.login("ada", "correct horse", &from("10.7.7.7")),
        Err(UserError::Unauthorized)
    ));
    assert_logs_in(users, "ada", "10.0.0.9");
}

/// Failures from many sources past the account's ceiling lock the account out from new
/// sources, but not from one its owner logged in from lately: an attacker who keeps the
/// ceiling full cannot lock the owner out where they usually log in from.
#[test]
fn the_account_ceiling_spares_the_sources_the_owner_logged_in_from() {
    let (_d, users) = users();
    let users = users.with_limits(&crate::users::AuthLimits {
        per_source: 2,
        per_account: 4,
        ..Default::default()
    });
    register(&users, "ada");
    assert_logs_in(&users, "ada", "10.0.0.9");
    // The ceiling full: a new source is refused, the right password too; the owner's usual
    // source is not held to it, and is still held to its own limit.
    fill_the_ceiling_then_log_in_where_known(&users, 2);
    for _ in 0..2 {
        let r = users.login("ada", "wrong horse", &from("10.0.0.9"));
        assert!(matches!(r, Err(UserError::Unauthorized)));
    }
    assert!(matches!(
        users.login("ada", "correct horse", &from("10.0.0.9")),
        Err(UserError::Unauthorized)
    ));
}

/// A login that spells an account's id names no account (user names are shorter): failures
/// under it do not fill that account's ceiling, which a new source of its owner would meet.
#[test]
fn failures_naming_an_accounts_id_leave_its_ceiling_alone() {
    let (_d, users) = users();
    let users = users.with_limits(&crate::users::AuthLimits {
        per_source: 2,
        per_account: 4,
        ..Default::default()
    });
    let (user, _, _) = register(&users, "ada");
    for attacker in ["10.6.6.1", "10.6.6.2", "10.6.6.3"] {
        for _ in 0..2 {
            let r = users.login(&user.id.to_string(), "wrong horse", &from(attacker));
            assert!(matches!(r, Err(UserError::Unauthorized)));
        }
    }
    assert_logs_in(&users, "ada", "10.7.7.7");
}

/// A wrong password checked while its account was deleted writes no event after the
/// account's `user.deleted`.
#[test]
fn a_wrong_password_checked_while_the_account_was_deleted_writes_no_event() {
    let (_d, users) = users();
    let (user, caller, _) = register(&users, "ada");
    users.delete(&caller, user.id, &ctx()).unwrap();
    users.fail_a_wrong_password_of(user.id, &ctx()).unwrap();
    let last = events(&users).pop().unwrap();
    assert!(
        matches!(last.data, EventData::Deleted(_)),
        "{:?}",
        last.data
    );
    // An account still there gets its event.
    let (bob, _, _) = register(&users, "bob");
    users.fail_a_wrong_password_of(bob.id, &ctx()).unwrap();
    let last = events(&users).pop().unwrap();
    assert!(matches!(
        last.data,
        EventData::LoggedIn(LoggedIn { success: false, .. })
    ));
}
