//! Passwords (argon2id) and session tokens (256 random bits, stored as SHA-256).
//!
//! Each argon2id computation takes 19 MiB for a few tens of milliseconds; they run on the
//! [`hashing_pool`](super::hashing_pool), so memory stays bounded however many requests arrive
//! at once, each in its thread's kept [`working_area`](super::working_area). The PHC strings
//! are the ones `argon2`'s `PasswordHasher` writes and reads.
use argon2::{
    Algorithm, Argon2, Params, PasswordHash, Version,
    password_hash::{self, Output, ParamsString, SaltString},
};
use sha2::{Digest, Sha256};

use super::{Result, UserError, hashing_pool::on_pool, working_area::with_area};

/// Hashes `password` with argon2id (default parameters: 19 MiB, 2 passes) and a random salt.
pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(UserError::Random)?;
    let password = password.to_owned();
    on_pool(move || phc_string(password.as_bytes(), &salt).map_err(UserError::Hash))?
}

/// The PHC string of `password` hashed with the default parameters and `salt`.
fn phc_string(password: &[u8], salt: &[u8]) -> password_hash::Result<String> {
    let argon2 = Argon2::default();
    let output = compute(&argon2, password, salt, Params::DEFAULT_OUTPUT_LEN)?;
    phc(&argon2, &SaltString::encode_b64(salt)?, output)
}

/// The PHC string of `output`, computed by `argon2` (argon2id, the current version) with `salt`.
fn phc(argon2: &Argon2<'_>, salt: &SaltString, output: Output) -> password_hash::Result<String> {
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::default().into()),
        params: ParamsString::try_from(argon2.params())?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(hash.to_string())
}

/// A PHC string with the parameters the service hashes with, a random salt and a random output.
/// Checking a password against it costs one hash, as against a stored one, and no password
/// matches it but with the odds of guessing 256 random bits. A login for a user that does not
/// exist checks against it, so it takes as long as one for a user that does. Made without
/// hashing, so the service starts without computing one.
pub fn unmatchable_hash() -> Result<String> {
    let mut bytes = [0u8; 16 + Params::DEFAULT_OUTPUT_LEN];
    getrandom::fill(&mut bytes).map_err(UserError::Random)?;
    let (salt, output) = bytes.split_at(16);
    let salt = SaltString::encode_b64(salt).map_err(UserError::Hash)?;
    let output = Output::new(output).map_err(UserError::Hash)?;
    phc(&Argon2::default(), &salt, output).map_err(UserError::Hash)
}

/// argon2 of `password` and `salt`, `len` bytes, in this thread's working area.
fn compute(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    len: usize,
) -> password_hash::Result<Output> {
    Output::init_with(len, |out| {
        with_area(argon2.params().block_count(), |area| {
            argon2.hash_password_into_with_memory(password, salt, out, area)
        })
        .map_err(password_hash::Error::from)
    })
}

/// Whether `password` matches the PHC string `hash` (argon2 with the parameters the string
/// gives; outputs compared in constant time).
pub fn verify_password(password: &str, hash: &str) -> bool {
    if PasswordHash::new(hash).is_err() {
        return false;
    }
    let (password, hash) = (password.to_owned(), hash.to_owned());
    on_pool(move || matches(password.as_bytes(), &hash).unwrap_or(false)).unwrap_or(false)
}

/// Whether `password` hashes to the output `hash` holds, with `hash`'s algorithm, version,
/// parameters and salt.
fn matches(password: &[u8], hash: &str) -> password_hash::Result<bool> {
    let parsed = PasswordHash::new(hash)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Ok(false);
    };
    let algorithm = Algorithm::try_from(parsed.algorithm)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()?
        .unwrap_or_default();
    let argon2 = Argon2::new(algorithm, version, Params::try_from(&parsed)?);
    let mut salt_bytes = [0u8; 64];
    let computed = compute(
        &argon2,
        password,
        salt.decode_b64(&mut salt_bytes)?,
        expected.len(),
    )?;
    // `Output`'s equality is constant-time.
    Ok(computed == expected)
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
