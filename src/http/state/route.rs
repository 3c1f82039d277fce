//! The route template of a request path, the `route` label of the HTTP metrics. A template
//! (`/api/v1/users/{id}`), never the raw path: a label value per user id, or per path a
//! scanner tries, would grow the series without bound. Paths no route serves are `other`.
use crate::http::api::user_id;

/// The operational endpoints, served at exactly these paths.
const OPERATIONAL: [&str; 4] = ["/health", "/ready", "/metrics", "/openapi.yaml"];

/// The template of the route `path` belongs to, whatever the method; `other` when none.
pub fn template(path: &str) -> &'static str {
    if let Some(op) = OPERATIONAL.into_iter().find(|p| *p == path) {
        return op;
    }
    let Some(rest) = path.strip_prefix("/api/v1/users/") else {
        return "other";
    };
    // As the router: whole segments only, so a trailing or doubled `/` serves nothing.
    if rest.split('/').any(str::is_empty) {
        return "other";
    }
    match rest {
        "register" => return "/api/v1/users/register",
        "login" => return "/api/v1/users/login",
        "logout" => return "/api/v1/users/logout",
        "me" => return "/api/v1/users/me",
        _ => {}
    }
    let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
    // The router's own reading of an id: another spelling of a UUID is no user route.
    if user_id(id).is_none() {
        return "other";
    }
    match tail {
        "" => "/api/v1/users/{id}",
        "password" => "/api/v1/users/{id}/password",
        "status" => "/api/v1/users/{id}/status",
        _ => "other",
    }
}

#[cfg(test)]
mod tests;
