use super::*;
use crate::users::testing::{register, users};

#[test]
fn expired_and_unknown_tokens_do_not_authenticate() {
    let (_d, users) = users();
    let (user, _, token) = register(&users, "ada");
    assert_eq!(users.authenticate(&token).unwrap().user.id, user.id);
    assert!(matches!(
        users.authenticate("not a token"),
        Err(UserError::Unauthorized)
    ));
    let hash = auth::token_hash(&token);
    users
        .write(|txn| {
            let mut session: Session = store::get(&*txn, Table::Sessions, &hash)?.unwrap();
            session.expires_ms = now_ms() - 1;
            Ok(store::put(txn, Table::Sessions, &hash, &session)?)
        })
        .unwrap();
    assert!(matches!(
        users.authenticate(&token),
        Err(UserError::Unauthorized)
    ));
}

#[test]
fn revoking_keeps_only_the_named_session() {
    let (_d, users) = users();
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
