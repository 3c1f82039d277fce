use super::*;
// RustCrypto's `argon2`, an independent implementation, as the reference.
use argon2::{Algorithm, Argon2, Params, PasswordHasher, Version, password_hash::SaltString};

/// Whether `password` matches `hash`, in a place of its own on the pool.
fn verify(password: &str, hash: &str) -> bool {
    let place = ticket(&ClientGone::default()).unwrap();
    verify_password(place, password, hash).unwrap()
}

#[test]
fn passwords_verify_and_wrong_ones_do_not() {
    let h = hash_password("correct horse").unwrap();
    assert!(h.starts_with("$argon2id$"));
    assert!(verify("correct horse", &h));
    assert!(!verify("wrong horse", &h));
    assert!(!verify("x", "not a hash"));
    assert_ne!(hash_password("correct horse").unwrap(), h, "salted");
}

/// A bcrypt hash (what a Go service stores with `golang.org/x/crypto/bcrypt`) never verifies,
/// and says so for the login's WARN; an argon2 PHC string is checkable.
#[test]
fn only_argon2_phc_strings_are_checkable() {
    let bcrypt = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";
    assert!(!is_checkable(bcrypt));
    assert!(!verify("password", bcrypt));
    assert!(!is_checkable(""));
    assert!(is_checkable(&hash_password("correct horse").unwrap()));
}

#[test]
fn tokens_are_random_and_hashed() {
    let (a, b) = (new_token().unwrap(), new_token().unwrap());
    assert_eq!(a.len(), 64);
    assert_ne!(a, b);
    assert_eq!(token_hash(&a), token_hash(&a));
    assert_ne!(token_hash(&a), token_hash(&b));
}

#[test]
fn the_phc_string_is_the_one_argon2_writes_for_the_same_salt() {
    let ours = on_pool(ticket(&ClientGone::default()).unwrap(), || {
        phc_string(b"correct horse", &[7u8; 16]).unwrap()
    })
    .unwrap();
    let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
    let theirs = Argon2::default()
        .hash_password(b"correct horse", &salt)
        .unwrap()
        .to_string();
    assert_eq!(ours, theirs);
}

#[test]
fn hashes_made_with_other_parameters_and_variants_verify() {
    let salt = SaltString::encode_b64(&[9u8; 16]).unwrap();
    for algorithm in [Algorithm::Argon2i, Algorithm::Argon2d, Algorithm::Argon2id] {
        for version in [Version::V0x10, Version::V0x13] {
            let params = Params::new(64, 1, 2, Some(24)).unwrap();
            let hash = Argon2::new(algorithm, version, params)
                .hash_password(b"pw", &salt)
                .unwrap()
                .to_string();
            assert!(verify("pw", &hash), "{hash}");
            assert!(!verify("pW", &hash), "{hash}");
        }
    }
    let no_output = "$argon2id$v=19$m=64,t=1,p=1$CQkJCQkJCQkJCQkJCQkJCQ";
    assert!(!verify("pw", no_output));
}

#[test]
fn the_unmatchable_hash_has_the_service_parameters_and_matches_nothing() {
    let (dummy, real) = (unmatchable_hash().unwrap(), hash_password("pw").unwrap());
    let params = |h: &str| h.rsplitn(3, '$').nth(2).unwrap().to_owned();
    assert_eq!(params(&dummy), params(&real), "algorithm, version, m, t, p");
    let parsed = decode_phc(&dummy).unwrap();
    assert_eq!(parsed.hash.len(), Params::DEFAULT_OUTPUT_LEN);
    assert_ne!(unmatchable_hash().unwrap(), dummy, "random salt and output");
    assert!(!verify("pw", &dummy));
    assert!(!verify("", &dummy));
}
