//! Passwords (argon2id) and session tokens (256 random bits, stored as SHA-256).
//!
//! Each argon2id computation takes 19 MiB for a few tens of milliseconds; they run on the
//! [`hashing_pool`](super::hashing_pool), so memory stays bounded however many requests arrive
//! at once.
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier, password_hash::SaltString};
use sha2::{Digest, Sha256};

use super::{Result, UserError, hashing_pool::on_pool};

/// Hashes `password` with argon2id (default parameters: 19 MiB, 2 passes) and a random salt.
pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(UserError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(UserError::Hash)?;
    let password = password.to_owned();
    on_pool(move || {
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(UserError::Hash)
    })?
}

/// Whether `password` matches the PHC string `hash` (constant-time comparison inside argon2).
pub fn verify_password(password: &str, hash: &str) -> bool {
    if PasswordHash::new(hash).is_err() {
        return false;
    }
    let (password, hash) = (password.to_owned(), hash.to_owned());
    on_pool(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .unwrap_or(false)
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
