//! The user endpoints. The router matches an [`Endpoint`], reads the body once and hands every
//! handler the same [`ApiCall`]; store and password work runs on the blocking pool.
use std::sync::Arc;

use bytes::Bytes;
use hyper::{HeaderMap, Method, Response, StatusCode, header};
use serde_json::json;
use uuid::Uuid;

use super::{
    body,
    error::ApiError,
    reply::{Body, json_response},
    requests,
};
use crate::users::{Caller, ClientGone, RequestCtx, UserError, UserView, Users};

type Reply = Response<Body>;

/// What every handler gets: the user service, who asked, the headers and the whole body.
#[derive(Debug)]
pub struct ApiCall<'a> {
    /// The user service.
    pub users: Arc<Users>,
    /// Request id, client address and user agent.
    pub ctx: RequestCtx,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The body, read by the router (empty for endpoints without one).
    pub body: Bytes,
}

/// A user endpoint: method and path of `/api/v1/users...`, with the user id of the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /register`
    Register,
    /// `POST /login`
    Login,
    /// `POST /logout`
    Logout,
    /// `GET /me`
    Me,
    /// `GET /{id}`
    Get(Uuid),
    /// `PATCH /{id}`
    Update(Uuid),
    /// `DELETE /{id}`
    Delete(Uuid),
    /// `PUT /{id}/password`
    Password(Uuid),
    /// `PUT /{id}/status`
    Status(Uuid),
}

impl Endpoint {
    /// The endpoint at `method` and `path`: 404 for unknown paths and malformed user ids, 405
    /// for known paths with another method.
    pub fn parse(method: &Method, path: &str) -> Result<Self, ApiError> {
        const NO_ENDPOINT: ApiError = ApiError::NotFound("no such endpoint");
        // Whole segments only: `/api/v1/usersme` and `/api/v1/users//me` are no endpoints.
        let rest = path
            .strip_prefix("/api/v1/users/")
            .filter(|rest| !rest.is_empty())
            .ok_or(NO_ENDPOINT)?;
        let segments: Vec<&str> = rest.split('/').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(NO_ENDPOINT);
        }
        match (method, segments.as_slice()) {
            (&Method::POST, ["register"]) => Ok(Self::Register),
            (&Method::POST, ["login"]) => Ok(Self::Login),
            (&Method::POST, ["logout"]) => Ok(Self::Logout),
            (&Method::GET, ["me"]) => Ok(Self::Me),
            (_, ["register" | "login" | "logout"]) => Err(ApiError::MethodNotAllowed("POST")),
            (_, ["me"]) => Err(ApiError::MethodNotAllowed("GET")),
            (m, [id, tail @ ..]) => {
                let id = user_id(id).ok_or(ApiError::NotFound("no such user"))?;
                match (m, tail) {
                    (&Method::GET, []) => Ok(Self::Get(id)),
                    (&Method::PATCH, []) => Ok(Self::Update(id)),
                    (&Method::DELETE, []) => Ok(Self::Delete(id)),
                    (&Method::PUT, ["password"]) => Ok(Self::Password(id)),
                    (&Method::PUT, ["status"]) => Ok(Self::Status(id)),
                    (_, []) => Err(ApiError::MethodNotAllowed("GET, PATCH, DELETE")),
                    (_, ["password" | "status"]) => Err(ApiError::MethodNotAllowed("PUT")),
                    _ => Err(NO_ENDPOINT),
                }
            }
            _ => Err(NO_ENDPOINT),
        }
    }

    /// Whether the endpoint reads a JSON body.
    pub fn takes_body(self) -> bool {
        matches!(
            self,
            Self::Register | Self::Login | Self::Update(_) | Self::Password(_) | Self::Status(_)
        )
    }

    /// Runs the endpoint's handler.
    pub async fn call(self, call: ApiCall<'_>) -> Result<Reply, ApiError> {
        match self {
            Self::Register => register(call).await,
            Self::Login => login(call).await,
            Self::Logout => logout(call).await,
            Self::Me => me(call).await,
            Self::Get(id) => get(call, id).await,
            Self::Update(id) => update(call, id).await,
            Self::Delete(id) => delete(call, id).await,
            Self::Password(id) => password(call, id).await,
            Self::Status(id) => status(call, id).await,
        }
    }
}

/// Runs `f` (store and password work) on the blocking pool and waits for it; not at all when
/// the client is gone by the time a thread takes it (`gone`): a client that sends requests and
/// closes their connections at once must not queue store work past the slots it holds.
async fn on_blocking_pool<T: Send + 'static>(
    gone: &ClientGone,
    f: impl FnOnce() -> Result<T, UserError> + Send + 'static,
) -> Result<T, ApiError> {
    let gone = gone.clone();
    let work = move || {
        if gone.is_set() {
            return Err(UserError::ClientGone);
        }
        f()
    };
    Ok(tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::Task)??)
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The caller of the `Authorization: Bearer` token.
async fn caller(call: &ApiCall<'_>) -> Result<Caller, ApiError> {
    let token = call
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .filter(|t| !t.is_empty() && t.len() <= 256)
        .map(str::to_owned)
        .ok_or(ApiError::MissingToken)?;
    let users = Arc::clone(&call.users);
    on_blocking_pool(&call.ctx.client_gone, move || users.authenticate(&token)).await
}

/// The token of an `Authorization` value `Bearer <token>`; the scheme's name is
/// case-insensitive (RFC 9110 11.1), and white space around the token is dropped.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The user id of a path segment: a UUID in its hyphenated form, the one the API answers with
/// and its document names (the simple, braced and `urn:uuid:` forms are not ids here).
pub(in crate::http) fn user_id(segment: &str) -> Option<Uuid> {
    (segment.len() == 36)
        .then(|| Uuid::try_parse(segment).ok())
        .flatten()
}

fn user_reply(user: &crate::users::User) -> Reply {
    json_response(StatusCode::OK, &json!(UserView::from(user)))
}

async fn register(call: ApiCall<'_>) -> Result<Reply, ApiError> {
    let req: requests::Register = body::json(call.headers, &call.body)?;
    let ApiCall { users, ctx, .. } = call;
    let gone = ctx.client_gone.clone();
    let (user, token, expires) = on_blocking_pool(&gone, move || {
        users.register(&req.username, &req.email, &req.password, &ctx)
    })
    .await?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "user": UserView::from(&user), "token": token, "expires_at": rfc3339(expires) }),
    ))
}

async fn login(call: ApiCall<'_>) -> Result<Reply, ApiError> {
    let req: requests::Login = body::json(call.headers, &call.body)?;
    let login = req.username.or(req.email).ok_or(ApiError::Invalid {
        field: "username",
        message: "give username or email",
    })?;
    let ApiCall { users, ctx, .. } = call;
    let gone = ctx.client_gone.clone();
    let (_, token, expires) =
        on_blocking_pool(&gone, move || users.login(&login, &req.password, &ctx)).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "token": token, "expires_at": rfc3339(expires) }),
    ))
}

async fn me(call: ApiCall<'_>) -> Result<Reply, ApiError> {
    let caller = caller(&call).await?;
    Ok(user_reply(&caller.user))
}

async fn get(call: ApiCall<'_>, id: Uuid) -> Result<Reply, ApiError> {
    let caller = caller(&call).await?;
    let (users, gone) = (call.users, call.ctx.client_gone);
    let user = on_blocking_pool(&gone, move || users.get(&caller, id)).await?;
    Ok(user_reply(&user))
}

async fn update(call: ApiCall<'_>, id: Uuid) -> Result<Reply, ApiError> {
    let caller = caller(&call).await?;
    let req: requests::Update = body::json(call.headers, &call.body)?;
    let ApiCall { users, ctx, .. } = call;
    let gone = ctx.client_gone.clone();
    let user = on_blocking_pool(&gone, move || {
        users.update(
            &caller,
            id,
            req.nickname.as_deref(),
            req.email.as_deref(),
            req.avatar_url.as_deref(),
            &ctx,
        )
    })
    .await?;
    Ok(user_reply(&user))
}

async fn password(call: ApiCall<'_>, id: Uuid) -> Result<Reply, ApiError> {
    let caller = caller(&call).await?;
    let req: requests::ChangePassword = body::json(call.headers, &call.body)?;
    let ApiCall { users, ctx, .. } = call;
    let gone = ctx.client_gone.clone();
    on_blocking_pool(&gone, move || {
        users.change_password(&caller, id, &req.old_password, &req.new_password, &ctx)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &json!({ "changed": true })))
}

async fn status(call: ApiCall<'_>, id: Uuid) -> Result<Reply, ApiError> {
    let caller = caller(&call).await?;
    let req: requests::ChangeStatus = body::json(call.headers, &call.body)?;
    let ApiCall { users, ctx, .. } = call;
    let gone = ctx.client_gone.clone();
    let user = on_blocking_pool(&gone, move || {
        users.change_status(&caller, id, req.status, &ctx)
    })
    .await?;
    Ok(user_reply(&user))
}

async fn logout(call: ApiCall<'_>) -> Result<Reply, ApiError> {
    let caller = caller(&call).await?;
    let (users, gone) = (call.users, call.ctx.client_gone);
    on_blocking_pool(&gone, move || users.end_session(&caller)).await?;
    Ok(no_content())
}

async fn delete(call: ApiCall<'_>, id: Uuid) -> Result<Reply, ApiError> {
    let caller = caller(&call).await?;
    let ApiCall { users, ctx, .. } = call;
    let gone = ctx.client_gone.clone();
    on_blocking_pool(&gone, move || users.delete(&caller, id, &ctx)).await?;
    Ok(no_content())
}

/// 204, no body.
fn no_content() -> Reply {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Body::default())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// Work whose client is gone before a thread takes it is skipped; a client still there
    /// gets its answer.
    #[tokio::test]
    async fn store_work_is_skipped_once_its_client_is_gone() {
        let ran = Arc::new(AtomicBool::new(false));
        let gone = ClientGone::default();
        let guard = gone.set_on_drop();
        let work = |ran: Arc<AtomicBool>| {
            move || {
                ran.store(true, Ordering::SeqCst);
                Ok(())
            }
        };
        on_blocking_pool(&gone, work(Arc::clone(&ran)))
            .await
            .unwrap();
        assert!(ran.swap(false, Ordering::SeqCst));
        drop(guard);
        let answer = on_blocking_pool(&gone, work(Arc::clone(&ran))).await;
        assert!(
            matches!(answer, Err(ApiError::User(UserError::ClientGone))),
            "{answer:?}"
        );
        assert!(!ran.load(Ordering::SeqCst), "the work ran for nobody");
    }
}
