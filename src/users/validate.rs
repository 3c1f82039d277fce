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

/// Characters that show nothing, or turn the text around them: the soft hyphen, the Arabic
/// letter mark, the Mongolian vowel separator, zero-width characters and direction marks,
/// direction embeddings, overrides and isolates, the word joiner and the invisible operators,
/// the byte-order mark. A name or address holding one reads as another's
/// (`admin\u{200B}@corp.example`, a nickname `\u{202E}nimda` shown as "admin"). The OpenAPI
/// document's patterns refuse the same code points.
fn hidden(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// A plausible address: one `@`, a dot in the domain, at most 254 characters, no spaces,
/// control or [`hidden`] characters.
pub fn email(s: &str) -> Result<()> {
    let ok = s.chars().count() <= EMAIL_MAX_CHARS
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || hidden(c))
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

/// 1-64 characters, no control or [`hidden`] characters but the zero-width non-joiner and
/// joiner, which Persian, the Indic scripts and emoji sequences (👩‍💻) need.
pub fn nickname(s: &str) -> Result<()> {
    let n = s.chars().count();
    let refused = |c: char| c.is_control() || (hidden(c) && !matches!(c, '\u{200C}' | '\u{200D}'));
    ((1..=64).contains(&n) && !s.chars().any(refused))
        .then_some(())
        .ok_or_else(|| {
            invalid(
                "nickname",
                "1-64 characters, no control or invisible characters",
            )
        })
}

/// An `http://` or `https://` URL of at most 2048 characters with a host and no user part
/// (`https://user@host`), without whitespace, control or [`hidden`] characters, quotes,
/// angle brackets, backslashes or backticks: what a page that shows it unescaped, or a
/// fetcher that reads it, would take for more than a URL.
pub fn avatar_url(s: &str) -> Result<()> {
    let refused = |c: char| {
        c.is_whitespace()
            || c.is_control()
            || hidden(c)
            || matches!(c, '"' | '\'' | '<' | '>' | '\\' | '`')
    };
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    let host = rest.and_then(|r| r.split(['/', '?', '#']).next());
    let ok = s.chars().count() <= AVATAR_URL_MAX_CHARS
        && host.is_some_and(|h| !h.is_empty() && !h.contains('@'))
        && !s.chars().any(refused);
    ok.then_some(())
        .ok_or_else(|| invalid("avatar_url", "an http(s) URL with a host"))
}

#[cfg(test)]
mod tests;
