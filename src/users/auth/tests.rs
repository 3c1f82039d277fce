use super::*;

#[test]
fn passwords_verify_and_wrong_ones_do_not() {
    let h = hash_password("correct horse").unwrap();
    assert!(h.starts_with("$argon2id$"));
    assert!(verify_password("correct horse", &h));
    assert!(!verify_password("wrong horse", &h));
    assert!(!verify_password("x", "not a hash"));
    assert_ne!(hash_password("correct horse").unwrap(), h, "salted");
}

#[test]
fn tokens_are_random_and_hashed() {
    let (a, b) = (new_token().unwrap(), new_token().unwrap());
    assert_eq!(a.len(), 64);
    assert_ne!(a, b);
    assert_eq!(token_hash(&a), token_hash(&a));
    assert_ne!(token_hash(&a), token_hash(&b));
}
