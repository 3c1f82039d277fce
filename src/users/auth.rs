//! Passwords (argon2id) and session tokens (256 random bits, stored as SHA-256).
//!
//! Each argon2id computation takes 19 MiB for a few milliseconds; they run on the
//! [`hashing_pool`](super::hashing_pool), so memory stays bounded however many requests arrive
//! at once, each with its thread's kept [`working_area`](super::working_area). argon2 is
//! `argon2_rust`, which picks its SIMD code (AVX-512, AVX2, SSE2, NEON) for the CPU it runs on;
//! the PHC strings are the ones the reference implementation (and RustCrypto's `argon2`) writes
//! and reads.
use argon2_rust::{Error as HashError, decode_phc, encode_string_alloc};
use sha2::{Digest, Sha256};

use super::{
    ClientGone, Result, UserError,
    hashing_pool::{Ticket, on_pool, ticket},
    working_area::{SERVICE, with_hasher},
};

/// Bytes of random salt in a new hash.
const SALT_LEN: usize = 16;

/// Bytes of argon2 output in a new hash.
const OUTPUT_LEN: usize = SERVICE.params().tag_len_bytes();

/// Hashes `password` with argon2id ([`SERVICE`]'s parameters: 19 MiB, 2 passes) and a random
/// salt. [`UserError::HashingBusy`] when the hashing pool has no place for it.
pub fn hash_password(password: &str) -> Result<String> {
    hash_with(ticket(&ClientGone::default())?, password)
}

/// [`hash_password`] in the place `ticket` holds ([`super::hashing_pool::ticket`], taken
/// before the work that leads to the hash).
pub(super) fn hash_with(ticket: Ticket, password: &str) -> Result<String> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(UserError::Random)?;
    let password = password.to_owned();
    on_pool(ticket, move || {
        phc_string(password.as_bytes(), &salt).map_err(UserError::Hash)
    })?
}

/// The PHC string of `password` hashed with the service's parameters and `salt`, in this
/// thread's working area.
fn phc_string(password: &[u8], salt: &[u8]) -> std::result::Result<String, HashError> {
    with_hasher(|hasher| hasher.hash_password(password, salt))
}

/// A PHC string with the parameters the service hashes with, a random salt and a random output.
/// Checking a password against it costs one hash, as against a stored one, and no password
/// matches it but with the odds of guessing 256 random bits. A login for a user that does not
/// exist checks against it, so it takes as long as one for a user that does. Made without
/// hashing, so the service starts without computing one.
pub fn unmatchable_hash() -> Result<String> {
    let mut bytes = [0u8; SALT_LEN + OUTPUT_LEN];
    getrandom::fill(&mut bytes).map_err(UserError::Random)?;
    let (salt, output) = bytes.split_at(SALT_LEN);
    let (algorithm, version) = (SERVICE.algorithm(), SERVICE.version());
    encode_string_alloc(algorithm, version, SERVICE.params(), salt, output).map_err(UserError::Hash)
}

/// Whether `password` matches the PHC string `hash`, in the place `ticket` holds on the
/// hashing pool: argon2 with the algorithm, version, parameters and salt the string gives,
/// outputs compared in constant time. A string that does not parse takes no hashing thread.
pub(super) fn verify_password(ticket: Ticket, password: &str, hash: &str) -> Result<bool> {
    let Ok(parsed) = decode_phc(hash) else {
        return Ok(false);
    };
    let (password, hash) = (password.to_owned(), hash.to_owned());
    on_pool(ticket, move || {
        with_hasher(|hasher| hasher.verify_encoded(&hash, password.as_bytes(), parsed.algorithm))
            .is_ok()
    })
}

/// Whether `hash` is a PHC string argon2 can check ([`verify_password`] never matches any
/// other: a hash another service stored, bcrypt's `$2a$...`, say).
pub(super) fn is_checkable(hash: &str) -> bool {
    decode_phc(hash).is_ok()
}

/// A new session token: 32 random bytes as 64 hex characters.
pub fn new_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(UserError::Random)?;
    Ok(hex(&bytes))
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
