use super::*;
use crate::users::testing::{register, users};

/// Makes the session of `token` expired; its hash.
fn expire(users: &Users, token: &str) -> [u8; 32] {
    let hash = auth::token_hash(token);
    users
        .write(|txn| {
            let mut session: Session = store::get(&*txn, Table::Sessions, &hash)?.unwrap();
            session.expires_ms = now_ms() - 1;
            Ok(store::put(txn, Table::Sessions, &hash, &session)?)
        })
        .unwrap();
    hash
}

#[test]
fn expired_and_unknown_tokens_do_not_authenticate() {
    let (_d, users) = users();
    let (user, _, token) = register(&users, "ada");
    assert_eq!(users.authenticate(&token).unwrap().user.id, user.id);
    assert!(matches!(
        users.authenticate("not a token"),
        Err(UserError::Unauthorized)
    ));
    expire(&users, &token);
    assert!(matches!(
        users.authenticate(&token),
        Err(UserError::Unauthorized)
    ));
}

#[test]
fn revoking_keeps_only_the_named_session() {
    let (_d, users) = users();
    let users = users.with_limits(&crate::users::AuthLimits {
        max_sessions: 1000,
        ..Default::default()
    });
    let (user, _, first) = register(&users, "ada");
    let (_, _, bob) = register(&users, "bob");
    // More than one scan of the user's index (256 rows) holds.
    let others = users
        .write(|txn| {
            (0..300)
                .map(|_| Ok(users.new_session(txn, user.id)?.0))
                .collect::<Result<Vec<_>>>()
        })
        .unwrap();
    let keep = auth::token_hash(&first);
    users
        .write(|txn| users.revoke_sessions(txn, user.id, Some(&keep)))
        .unwrap();
    assert!(users.authenticate(&first).is_ok());
    assert!(others.iter().all(|t| users.authenticate(t).is_err()));
    assert!(
        users.authenticate(&bob).is_ok(),
        "another user's sessions stay"
    );
}

#[test]
fn a_user_keeps_at_most_max_sessions_the_oldest_go() {
    let (_d, users) = users();
    let users = users.with_limits(&crate::users::AuthLimits {
        max_sessions: 3,
        ..Default::default()
    });
    let (user, _, first) = register(&users, "ada");
    let mut tokens = vec![first];
    for _ in 0..5 {
        let (_, t, _) = users
            .login("ada", "correct horse", &crate::users::testing::ctx())
            .unwrap();
        tokens.push(t);
    }
    let live: Vec<bool> = tokens
        .iter()
        .map(|t| users.authenticate(t).is_ok())
        .collect();
    assert_eq!(live, [false, false, false, true, true, true]);
    let indexed = users
        .read(|txn| Ok(txn.range_from(Table::UserSessions, user.id.as_bytes(), 100)?))
        .unwrap()
        .into_iter()
        .filter(|(k, _)| k.starts_with(user.id.as_bytes()))
        .count();
    assert_eq!(indexed, 3);
}

#[test]
fn expired_sessions_are_pruned_and_counted() {
    let (_d, users) = users();
    let (user, _, old) = register(&users, "ada");
    let (_, _, live) = register(&users, "bob");
    let hash = expire(&users, &old);
    assert_eq!(users.prune_sessions(&CancellationToken::new()).unwrap(), 1);
    assert_eq!(users.sessions_pruned(), 1);
    let (sessions, index) = users
        .read(|txn| {
            Ok((
                txn.count(Table::Sessions)?,
                txn.get(Table::UserSessions, &session_index_key(user.id, &hash))?,
            ))
        })
        .unwrap();
    assert_eq!((sessions, index), (1, None));
    assert!(users.authenticate(&live).is_ok());
    assert_eq!(users.prune_sessions(&CancellationToken::new()).unwrap(), 0);
}

#[test]
fn a_cancelled_prune_stops_before_its_next_batch() {
    let (_d, users) = users();
    let (_, _, old) = register(&users, "ada");
    expire(&users, &old);
    let cancel = CancellationToken::new();
    cancel.cancel();
    assert_eq!(
        users.prune_sessions(&cancel).unwrap(),
        0,
        "nothing after the stop"
    );
    assert_eq!(users.prune_sessions(&CancellationToken::new()).unwrap(), 1);
}

#[test]
fn a_logout_ends_the_callers_session_only() {
    let (_d, users) = users();
    let (user, caller, first) = register(&users, "ada");
    let (_, second, _) = users
        .login("ada", "correct horse", &crate::users::testing::ctx())
        .unwrap();
    users.end_session(&caller).unwrap();
    assert!(matches!(
        users.authenticate(&first),
        Err(UserError::Unauthorized)
    ));
    assert_eq!(users.authenticate(&second).unwrap().user.id, user.id);
    // Its index row went with it: only the other session is left to revoke or count.
    let left = users
        .read(|txn| Ok(txn.range_prefix(Table::UserSessions, user.id.as_bytes(), 8)?))
        .unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    // A second logout with the same token: the session is gone.
    assert!(matches!(
        users.end_session(&caller),
        Err(UserError::Unauthorized)
    ));
}
