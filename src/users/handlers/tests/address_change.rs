//! A changed e-mail address, told at the address it had.
use super::*;

/// An address changed to another mailbox is told at the address it had, the new one masked
/// (a stolen token is enough to change it); a change of case, or of another field, tells no
/// one.
#[test]
fn a_changed_address_is_told_at_the_address_it_had() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let update = |email: Option<&str>, previous: Option<&str>| {
        let mut e = sample(EventType::Updated);
        e.id = Uuid::now_v7();
        let d = Updated {
            nickname: None,
            email: email.map(str::to_owned),
            avatar_url: None,
            previous_email: previous.map(str::to_owned),
        };
        let effects = store
            .read_with(|view| handler().updated(&e, &d, view))
            .unwrap();
        apply(&store, effects)
            .into_iter()
            .filter(|r| r.topic == "user.notifications")
            .map(|r| serde_json::from_slice::<serde_json::Value>(&r.value).unwrap())
            .collect::<Vec<_>>()
    };
    let told = update(Some("thief@evil.example"), Some("ada@example.com"));
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["type"], "user.notification.email_changed");
    assert_eq!(told[0]["email"], "ada@example.com");
    assert_eq!(told[0]["details"]["new_email"], "t***@evil.example");
    assert!(
        state(&store)
            .security_log
            .iter()
            .any(|(_, l)| l.contains("t***@evil.example"))
    );
    assert!(update(Some("Ada@Example.com"), Some("ada@example.com")).is_empty());
    assert!(update(None, None).is_empty());
    // The release before wrote no previous address: nothing to tell.
    assert!(update(Some("new@example.com"), None).is_empty());
}
