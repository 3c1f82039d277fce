use super::*;
use crate::users::testing::{ctx, events, register, users};

#[test]
fn only_admins_change_statuses_and_disabling_revokes_every_session() {
    let (_d, users) = users();
    let (user, caller, t1) = register(&users, "ada");
    let (_, t2, _) = users.login("ada", "correct horse", &ctx()).unwrap();
    assert_eq!(
        users
            .ensure_admin("root", "root@example.com", "admin password")
            .unwrap(),
        FirstAdmin::Created
    );
    assert_eq!(
        users
            .ensure_admin("ROOT", "other@example.com", "admin password")
            .unwrap(),
        FirstAdmin::Present,
        "an existing name is kept"
    );
    let (admin_user, admin_token, _) = users.login("root", "admin password", &ctx()).unwrap();
    assert_eq!(admin_user.role, Role::Admin);
    let admin = users.authenticate(&admin_token).unwrap();
    assert!(matches!(
        users.change_status(&caller, admin_user.id, UserStatus::Locked, &ctx()),
        Err(UserError::Forbidden)
    ));
    let changed = users
        .change_status(&admin, user.id, UserStatus::Disabled, &ctx())
        .unwrap();
    assert_eq!(changed.status, UserStatus::Disabled);
    assert!(
        users.authenticate(&t1).is_err() && users.authenticate(&t2).is_err(),
        "disabled: every session revoked"
    );
    // Answered like a wrong password: the right one is not confirmed.
    assert!(matches!(
        users.login("ada", "correct horse", &ctx()),
        Err(UserError::Unauthorized)
    ));
    let before = events(&users).len();
    users
        .change_status(&admin, user.id, UserStatus::Disabled, &ctx())
        .unwrap();
    assert_eq!(events(&users).len(), before, "no change, no event");
    // The refused login's failed `user.logged_in` came after the change.
    let last = events(&users)
        .into_iter()
        .rev()
        .find(|e| matches!(e.data, EventData::StatusChanged(_)))
        .unwrap();
    assert_eq!(
        last.data,
        EventData::StatusChanged(StatusChanged {
            from: UserStatus::Active,
            to: UserStatus::Disabled,
            changed_by: admin_user.id,
        })
    );
    assert!(matches!(
        users.change_status(&admin, uuid::Uuid::new_v4(), UserStatus::Locked, &ctx()),
        Err(UserError::NotFound)
    ));
}

/// Someone else holding the configured admin's name or address is said, not an error that
/// would stop every start of the service; no account is created or changed.
#[test]
fn a_first_admin_whose_name_or_address_is_taken_is_not_created() {
    let (_d, users) = users();
    let (ada, ..) = register(&users, "ada");
    assert_eq!(
        users
            .ensure_admin("ada", "root@example.com", "admin password")
            .unwrap(),
        FirstAdmin::NameTaken
    );
    assert_eq!(
        users
            .ensure_admin("root", &ada.email, "admin password")
            .unwrap(),
        FirstAdmin::EmailTaken
    );
    assert!(matches!(
        users.login("root", "admin password", &ctx()),
        Err(UserError::Unauthorized)
    ));
    let (still, ..) = users.login("ada", "correct horse", &ctx()).unwrap();
    assert_eq!(still.role, Role::User);
}

/// A first admin a registration would refuse is an error naming the setting: an empty
/// password from an unset variable would otherwise be an admin who logs in with "".
#[test]
fn a_first_admin_with_fields_a_registration_refuses_is_an_error_naming_the_setting() {
    let (_d, users) = users();
    for (name, email, password, setting) in [
        ("root", "root@example.com", "", "auth.admin_password"),
        (
            "ops@corp",
            "root@example.com",
            "admin password",
            "auth.admin_username",
        ),
        ("root", "root", "admin password", "auth.admin_email"),
    ] {
        match users.ensure_admin(name, email, password) {
            Err(UserError::Invalid { field, .. }) => assert_eq!(field, setting),
            other => panic!("{setting}: {other:?}"),
        }
    }
    assert!(matches!(
        users.login("root", "", &ctx()),
        Err(UserError::Unauthorized)
    ));
}

/// The only admin disabling, locking or deleting their own account would leave nobody to
/// administer; a deleted one's name could be taken, and the start would not make it again.
#[test]
fn an_admin_cannot_disable_lock_or_delete_their_own_account() {
    let (_d, users) = users();
    users
        .ensure_admin("root", "root@example.com", "admin password")
        .unwrap();
    let (root, token, _) = users.login("root", "admin password", &ctx()).unwrap();
    let admin = users.authenticate(&token).unwrap();
    for status in [UserStatus::Disabled, UserStatus::Locked] {
        assert!(matches!(
            users.change_status(&admin, root.id, status, &ctx()),
            Err(UserError::Invalid {
                field: "status",
                ..
            })
        ));
    }
    assert!(matches!(
        users.delete(&admin, root.id, &ctx()),
        Err(UserError::Invalid { field: "id", .. })
    ));
    let same = users
        .change_status(&admin, root.id, UserStatus::Active, &ctx())
        .unwrap();
    assert_eq!(same.status, UserStatus::Active);
    assert!(
        users.authenticate(&token).is_ok(),
        "the account and its session stay"
    );
}

/// An admin an earlier version created from an empty variable is said at start, and the
/// start goes on; it cannot log in with "", and a configured password replaces the empty one.
#[test]
fn an_existing_admin_with_an_empty_password_gets_the_configured_one() {
    let (_d, users) = users();
    users
        .create(
            "root",
            "root@example.com",
            "",
            Role::Admin,
            &RequestCtx::default(),
        )
        .unwrap();
    assert_eq!(
        users.ensure_admin("root", "root@example.com", "").unwrap(),
        FirstAdmin::EmptyPassword
    );
    // No login with the empty password, however it was stored.
    assert!(matches!(
        users.login("root", "", &RequestCtx::default()),
        Err(UserError::Unauthorized)
    ));
    // The configured password, once set, replaces it (checked like a registration's).
    assert!(matches!(
        users.ensure_admin("root", "root@example.com", "short"),
        Err(UserError::Invalid { .. })
    ));
    assert_eq!(
        users
            .ensure_admin("root", "root@example.com", "admin password")
            .unwrap(),
        FirstAdmin::PasswordSet
    );
    assert!(
        users
            .login("root", "admin password", &RequestCtx::default())
            .is_ok()
    );
    assert_eq!(
        users
            .ensure_admin("root", "root@example.com", "admin password")
            .unwrap(),
        FirstAdmin::Present
    );
    users
        .ensure_admin("ada", "ada@example.com", "admin password")
        .unwrap();
    assert_eq!(
        users
            .ensure_admin("ada", "ada@example.com", "admin password")
            .unwrap(),
        FirstAdmin::Present
    );
}
