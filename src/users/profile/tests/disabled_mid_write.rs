//! Invariant 8 where it matters: an admin's disable that commits after a password change has
//! checked the old password, and before its write, refuses the change. Only a recheck inside
//! the write sees it.
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use super::*;
use crate::store::{RedbStore, Store, intercepted::Intercepted};

/// What runs before the next write transaction, once.
type Hook = Box<dyn FnOnce() + Send>;

#[test]
fn a_disable_between_the_password_check_and_the_write_refuses_the_change() {
    let dir = tempfile::tempdir().unwrap();
    let inner: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    // The store runs the armed hook (another session's commit) before its next write.
    let hook: Arc<Mutex<Option<Hook>>> = Arc::default();
    let armed = Arc::clone(&hook);
    let store = Arc::new(Intercepted::new(Arc::clone(&inner), move |inner, f| {
        let hook = armed.lock().ok().and_then(|mut h| h.take());
        if let Some(hook) = hook {
            hook();
        }
        inner.write(f)
    }));
    let new_users =
        |s: Arc<dyn Store>| Users::new(s, 42, "user.events", Duration::from_secs(3600)).unwrap();
    let users = new_users(store.clone());
    let (user, caller, _) = register(&users, "ada");
    let admin = an_admin(&users);
    // Another instance's admin disables ada once the change has read her and checked her old
    // password: its next write is the change's own.
    let other = new_users(inner);
    let disable: Hook = Box::new(move || {
        other
            .change_status(&admin, user.id, crate::event::UserStatus::Disabled, &ctx())
            .unwrap();
    });
    *hook.lock().unwrap() = Some(disable);
    let changed =
        users.change_password(&caller, user.id, "correct horse", "battery staple", &ctx());
    assert!(
        matches!(changed, Err(UserError::Unauthorized)),
        "{changed:?}"
    );
    assert!(hook.lock().unwrap().is_none(), "the disable ran");
    let types: Vec<_> = events(&users)
        .iter()
        .map(|e| e.event_type().as_str())
        .collect();
    assert!(types.contains(&"user.status_changed"), "{types:?}");
    assert!(!types.contains(&"user.password_changed"), "{types:?}");
}
