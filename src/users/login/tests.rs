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
        Err(UserError::Throttled)
    ));
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
