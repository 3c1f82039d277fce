//! The database URL as `usercenter config` prints it: every password it may hold replaced,
//! in each form tokio-postgres reads (`postgres://user:password@host/db`, a `password=` query
//! parameter, and the `host=... password=...` key-value form). The text is kept as written
//! where that can be done safely; what tokio-postgres reads back from the result decides: when
//! it still finds a password there, the settings are printed as tokio-postgres understood
//! them instead, and text it cannot read is not printed at all.
use tokio_postgres::config::{Config as PgConfig, Host};

/// What separates a URL's parts: found unescaped in a user or host that tokio-postgres read, it
/// came from a password.
const URL_SEPARATORS: [char; 5] = ['@', '/', '?', '&', '='];

/// What stands in for a secret.
const REDACTED: &str = "<redacted>";

/// `url` with every password replaced by `<redacted>`.
pub(super) fn database_url(url: &str) -> String {
    if url.is_empty() {
        return String::new();
    }
    let Ok(read) = url.parse::<PgConfig>() else {
        return REDACTED.to_owned();
    };
    // A user or host holding what separates a URL's parts may come from a password holding
    // them unescaped: part of it would show.
    let odd_user = read.get_user().is_some_and(|u| u.contains(URL_SEPARATORS));
    if odd_user || host_misread(&read) {
        return REDACTED.to_owned();
    }
    let hosts = |c: &PgConfig| -> Vec<String> { c.get_hosts().iter().map(host_name).collect() };
    let shown = as_written(url);
    // The text as written is kept when it reads back as the same connection with no password
    // but `<redacted>`, and does not hold the password (one of 4 bytes or more: a shorter one
    // appears in other words by chance).
    let same = |c: &PgConfig| {
        (c.get_user(), c.get_dbname(), c.get_ports(), hosts(c))
            == (
                read.get_user(),
                read.get_dbname(),
                read.get_ports(),
                hosts(&read),
            )
    };
    let kept = shown.parse::<PgConfig>().is_ok_and(|again| {
        same(&again)
            && again
                .get_password()
                .is_none_or(|p| p == REDACTED.as_bytes())
    });
    let password = read.get_password().filter(|p| p.len() >= 4);
    let holds = password.is_some_and(|p| shown.contains(&*String::from_utf8_lossy(p)));
    if kept && !holds {
        shown
    } else {
        as_read(&read)
    }
}

/// Whether tokio-postgres read a host holding what separates a URL's parts: it comes from a URL
/// whose password holds them unescaped (`postgres://u:p@ss@host/db`), read as a user `u`, a
/// password `p` and a host `ss@host`. (A socket directory's path holds '/' of its own; a user
/// may hold any of them percent-encoded, as Cloud SQL's IAM users, which are e-mail addresses.)
pub(super) fn host_misread(read: &PgConfig) -> bool {
    read.get_hosts().iter().any(|h| match h {
        Host::Tcp(name) => name.contains(URL_SEPARATORS),
        #[cfg(unix)]
        Host::Unix(path) => path.to_string_lossy().contains('@'),
    })
}

/// A host as tokio-postgres read it.
fn host_name(host: &Host) -> String {
    match host {
        Host::Tcp(name) => name.clone(),
        #[cfg(unix)]
        Host::Unix(path) => path.display().to_string(),
    }
}

/// The settings tokio-postgres read, in the key-value form, the password replaced.
fn as_read(read: &PgConfig) -> String {
    let quoted = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut parts = Vec::new();
    let hosts: Vec<String> = read.get_hosts().iter().map(host_name).collect();
    if !hosts.is_empty() {
        parts.push(format!("host={}", quoted(&hosts.join(","))));
    }
    let ports: Vec<String> = read.get_ports().iter().map(u16::to_string).collect();
    if !ports.is_empty() {
        parts.push(format!("port={}", ports.join(",")));
    }
    if let Some(user) = read.get_user() {
        parts.push(format!("user={}", quoted(user)));
    }
    if read.get_password().is_some() {
        parts.push(format!("password={REDACTED}"));
    }
    if let Some(db) = read.get_dbname() {
        parts.push(format!("dbname={}", quoted(db)));
    }
    parts.push(format!("sslmode={:?}", read.get_ssl_mode()).to_lowercase());
    parts.join(" ")
}

/// `url` as written, with the passwords found by its form replaced.
fn as_written(url: &str) -> String {
    // A URL as tokio-postgres tells one: by its scheme; anything else is key-value.
    let scheme = ["postgres://", "postgresql://"]
        .into_iter()
        .find(|s| url.starts_with(s));
    match scheme {
        Some(scheme) => {
            let rest = &url[scheme.len()..];
            // The user part ends at the last '@': a password may hold '@', '/', '?' or '#'
            // unescaped. A '@' past the user part (in a query) loses more to the redaction than
            // it needs to rather than showing a password.
            let (user, after) = match rest.rsplit_once('@') {
                Some((info, after)) => (Some(info), after),
                None => (None, rest),
            };
            let mut out = scheme.to_owned();
            if let Some(info) = user {
                match info.split_once(':') {
                    Some((name, _)) => out.push_str(&format!("{name}:{REDACTED}@")),
                    None => out.push_str(&format!("{info}@")),
                }
            }
            match after.split_once('?') {
                Some((host_path, query)) => {
                    out.push_str(host_path);
                    out.push('?');
                    out.push_str(&query_parameters(query));
                }
                None => out.push_str(after),
            }
            out
        }
        None => key_values(url),
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
/// up to white space; a backslash escapes the character after it. `None` for a quote never
/// closed.
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
        // Unquoted: up to white space that no backslash escapes.
        let mut escaped = false;
        for (i, c) in text.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                c if c.is_whitespace() => return Some(i),
                _ => {}
            }
        }
        Some(text.len())
    }
}

#[cfg(test)]
mod tests;
