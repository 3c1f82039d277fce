//! Field rules. Each returns the problem as `UserError::Invalid` naming the field.
use super::{Result, UserError};

fn invalid(field: &'static str, message: &str) -> UserError {
    UserError::Invalid {
        field,
        message: message.to_owned(),
    }
}

/// 3-32 characters of a-z, A-Z, 0-9, `_`, `.`, `-`.
pub fn username(s: &str) -> Result<()> {
    let ok = (3..=32).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    ok.then_some(())
        .ok_or_else(|| invalid("username", "3-32 characters of letters, digits, _ . -"))
}

/// Longest e-mail address, in characters (Unicode scalar values, as JSON Schema's `maxLength`
/// in the OpenAPI document counts them).
pub const EMAIL_MAX_CHARS: usize = 254;

/// Longest avatar URL, in characters (as [`EMAIL_MAX_CHARS`]).
pub const AVATAR_URL_MAX_CHARS: usize = 2048;

/// A plausible address: one `@`, a dot in the domain, at most 254 characters, no spaces or
/// control characters.
pub fn email(s: &str) -> Result<()> {
    let ok = s.chars().count() <= EMAIL_MAX_CHARS
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && s.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    ok.then_some(())
        .ok_or_else(|| invalid("email", "not an e-mail address"))
}

/// 8-128 characters.
pub fn password(field: &'static str, s: &str) -> Result<()> {
    let n = s.chars().count();
    (8..=128)
        .contains(&n)
        .then_some(())
        .ok_or_else(|| invalid(field, "8-128 characters"))
}

/// 1-64 characters, no control characters.
pub fn nickname(s: &str) -> Result<()> {
    let n = s.chars().count();
    ((1..=64).contains(&n) && !s.chars().any(char::is_control))
        .then_some(())
        .ok_or_else(|| invalid("nickname", "1-64 characters, no control characters"))
}

/// An `http://` or `https://` URL of at most 2048 characters without spaces.
pub fn avatar_url(s: &str) -> Result<()> {
    let ok = s.chars().count() <= AVATAR_URL_MAX_CHARS
        && (s.starts_with("https://") || s.starts_with("http://"))
        && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then_some(())
        .ok_or_else(|| invalid("avatar_url", "an http(s) URL"))
}

#[cfg(test)]
mod tests;
