use super::*;
use crate::users::testing::{ctx, users};

/// "Zoë" with the diaeresis as a combining mark (NFD), and composed (NFC).
const ZOE_NFD: &str = "zoe\u{308}@example.com";
const ZOE_NFC: &str = "zo\u{eb}@example.com";

#[test]
fn spellings_that_differ_in_case_or_composition_have_one_key() {
    for (a, b) in [
        ("ΟΔΥΣΣΕΥΣ@example.com", "οδυσσευσ@example.com"),
        ("ΟΔΥΣΣΕΥΣ@example.com", "οδυσσευς@EXAMPLE.com"),
        (ZOE_NFD, ZOE_NFC),
        (ZOE_NFD, "ZO\u{cb}@example.com"),
        ("straße@example.com", "STRASSE@example.com"),
    ] {
        assert_eq!(lookup_key(a), lookup_key(b), "{a} and {b}");
    }
    assert_eq!(
        lookup_key("Ada.Lovelace@Example.COM"),
        "ada.lovelace@example.com"
    );
    assert_eq!(lookup_key(ZOE_NFD), ZOE_NFC, "composed");
    assert_ne!(lookup_key("zoe@example.com"), lookup_key(ZOE_NFC));
}

#[test]
fn an_address_taken_in_another_case_or_composition_is_refused() {
    let (_d, users) = users();
    let pw = "correct horse";
    users
        .register("odysseus", "ΟΔΥΣΣΕΥΣ@example.com", pw, &ctx())
        .unwrap();
    users.register("zoe", ZOE_NFD, pw, &ctx()).unwrap();
    for email in ["οδυσσευσ@example.com", ZOE_NFC] {
        let taken = users.register("another", email, pw, &ctx());
        assert!(
            matches!(taken, Err(UserError::Conflict { field: "email" })),
            "{email}: {taken:?}"
        );
    }
    let (zoe, _, _) = users.login(ZOE_NFC, pw, &ctx()).unwrap();
    assert_eq!(zoe.email, ZOE_NFD, "kept as given");
}

/// Sets the e-mail index of `id` as an earlier version wrote it: the address's plain lower
/// case, in place of `lookup_key`'s.
fn key_as_before(users: &Users, id: Uuid, email: &str) {
    users
        .write(|txn| {
            txn.delete(Table::Emails, lookup_key(email).as_bytes())?;
            txn.put(
                Table::Emails,
                email.to_lowercase().as_bytes(),
                id.as_bytes(),
            )?;
            Ok(())
        })
        .unwrap();
}

#[test]
fn keys_an_earlier_version_wrote_are_rewritten_once_and_a_clash_keeps_its_old_key() {
    let (_d, users) = users();
    let pw = "correct horse";
    let (odysseus, _, _) = users
        .register("odysseus", "ΟΔΥΣΣΕΥΣ@example.com", pw, &ctx())
        .unwrap();
    let (zoe, _, _) = users.register("zoe", ZOE_NFD, pw, &ctx()).unwrap();
    key_as_before(&users, zoe.id, ZOE_NFD);
    // An account the old key told apart from Odysseus's, the new one does not.
    let (clash, _, _) = users
        .register("clash", "c@example.com", pw, &ctx())
        .unwrap();
    let lower_sigma = "οδυσσευσ@example.com";
    users
        .write(|txn| {
            let mut user = Users::get_user(txn, clash.id)?;
            txn.delete(Table::Emails, b"c@example.com")?;
            user.email = lower_sigma.to_owned();
            Users::put_user(txn, &user)?;
            txn.put(Table::Emails, lower_sigma.as_bytes(), clash.id.as_bytes())?;
            Ok(())
        })
        .unwrap();
    assert!(
        users.login(ZOE_NFC, pw, &ctx()).is_err(),
        "the old key finds only the spelling it was made from"
    );

    let rekeyed = users.rekey_names().unwrap();
    assert_eq!(rekeyed.rewritten, 1);
    assert_eq!(rekeyed.clashing, [clash.id]);
    for (login, id) in [
        (ZOE_NFC, zoe.id),
        (ZOE_NFD, zoe.id),
        ("ΟΔΥΣΣΕΥΣ@example.com", odysseus.id),
        (lower_sigma, odysseus.id),
        ("clash", clash.id),
    ] {
        let (user, _, _) = users
            .login(login, pw, &ctx())
            .unwrap_or_else(|e| panic!("{login}: {e:?}"));
        assert_eq!(user.id, id, "{login}");
    }
    let old_key_left = users
        .read(|txn| Ok(txn.get(Table::Emails, ZOE_NFD.to_lowercase().as_bytes())?))
        .unwrap();
    assert_eq!(old_key_left, None, "the old index row is gone");
    // Done once: a second pass reads nothing and changes nothing.
    key_as_before(&users, zoe.id, ZOE_NFD);
    assert_eq!(users.rekey_names().unwrap(), Rekeyed::default());
    assert!(users.login(ZOE_NFC, pw, &ctx()).is_err());
}
