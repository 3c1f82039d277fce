//! The database URL as `usercenter config` prints it: every password it may hold replaced,
//! in each form tokio-postgres reads (`postgres://user:password@host/db`, a `password=` query
//! parameter, and the `host=... password=...` key-value form).

/// What stands in for a secret.
const REDACTED: &str = "<redacted>";

/// `url` with every password replaced by `<redacted>`.
pub(super) fn database_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority_path, query) = match rest.split_once('?') {
                Some((before, query)) => (before, Some(query)),
                None => (rest, None),
            };
            let mut out = format!("{scheme}://{}", userinfo(authority_path));
            if let Some(query) = query {
                out.push('?');
                out.push_str(&query_parameters(query));
            }
            out
        }
        None => key_values(url),
    }
}

/// `user:password@host...` with the password replaced (a user alone stays). The user part
/// ends at the last `@`: a password may hold `@` or `/` unescaped, and a path holding `@` loses
/// more to the redaction than it needs to rather than showing a password.
fn userinfo(authority_path: &str) -> String {
    match authority_path.rsplit_once('@') {
        Some((info, host)) => match info.split_once(':') {
            Some((user, _)) => format!("{user}:{REDACTED}@{host}"),
            None => authority_path.to_owned(),
        },
        None => authority_path.to_owned(),
    }
}

/// `a=1&password=x` with the password's value replaced.
fn query_parameters(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                format!("{key}={REDACTED}")
            }
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// libpq's key-value form (`host=db password='x y' dbname=u`, spaces allowed around `=`, values
/// plain or single-quoted with backslash escapes) with the password's value replaced. Anything
/// it cannot read as that form is replaced whole rather than printed.
fn key_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let trimmed = rest.trim_start();
        out.push_str(&rest[..rest.len() - trimmed.len()]);
        rest = trimmed;
        if rest.is_empty() {
            return out;
        }
        let Some(eq) = rest.find('=') else {
            return REDACTED.to_owned();
        };
        let key = rest[..eq].trim_end();
        let after = &rest[eq + 1..];
        let value_at = after.len() - after.trim_start().len();
        let Some(value_len) = value_length(&after[value_at..]) else {
            return REDACTED.to_owned();
        };
        out.push_str(&rest[..eq + 1 + value_at]);
        if key.eq_ignore_ascii_case("password") {
            out.push_str(REDACTED);
        } else {
            out.push_str(&after[value_at..value_at + value_len]);
        }
        rest = &after[value_at + value_len..];
    }
}

/// The length of the value at the start of `text`: up to the closing quote when quoted, else
/// up to white space. `None` for a quote never closed.
fn value_length(text: &str) -> Option<usize> {
    if let Some(quoted) = text.strip_prefix('\'') {
        let mut escaped = false;
        for (i, c) in quoted.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '\'' => return Some(i + 2),
                _ => {}
            }
        }
        None
    } else {
        Some(text.find(char::is_whitespace).unwrap_or(text.len()))
    }
}

#[cfg(test)]
mod tests;
