//! The user endpoints. Store and password work runs on the blocking pool.
// Handlers return `Err(response)` for early exits: one per request, boxing it buys nothing.
#![allow(clippy::result_large_err)]
use std::sync::Arc;

use hyper::{HeaderMap, Method, Response, StatusCode, body::Body as HttpBody, header};
use serde_json::json;
use uuid::Uuid;

use super::{
    AppState, body,
    reply::{Body, api_error, json_response, user_error},
    requests,
};
use crate::users::{Caller, RequestCtx, UserError, UserView, Users};

type Reply = Response<Body>;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, UserError> + Send + 'static,
) -> Result<T, Reply> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(user_error(&e)),
        Err(_) => Err(api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "request task failed",
            None,
        )),
    }
}

fn users(state: &AppState) -> Result<Arc<Users>, Reply> {
    state.users.get().cloned().ok_or_else(|| {
        api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "starting",
            "the service is starting",
            None,
        )
    })
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn caller(users: &Arc<Users>, headers: &HeaderMap) -> Result<Caller, Reply> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 256)
        .map(str::to_owned);
    let Some(token) = token else {
        return Err(api_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send Authorization: Bearer TOKEN",
            None,
        ));
    };
    let users = Arc::clone(users);
    blocking(move || users.authenticate(&token)).await
}

/// Routes `/api/v1/users...`; `None` when no endpoint matches the path.
pub async fn route<B>(
    state: &AppState,
    ctx: RequestCtx,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: B,
) -> Option<Reply>
where
    B: HttpBody,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let rest = path.strip_prefix("/api/v1/users")?;
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let reply = match (method, segments.as_slice()) {
        (&Method::POST, ["register"]) => register(state, ctx, headers, body).await,
        (&Method::POST, ["login"]) => login(state, ctx, headers, body).await,
        (&Method::GET, ["me"]) => me(state, headers).await,
        (_, ["register" | "login" | "me"]) => Err(method_not_allowed()),
        (m, [id, tail @ ..]) => {
            let Ok(id) = Uuid::parse_str(id) else {
                return Some(api_error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "no such user",
                    None,
                ));
            };
            match (m, tail) {
                (&Method::GET, []) => get(state, headers, id).await,
                (&Method::PATCH, []) => update(state, ctx, headers, body, id).await,
                (&Method::DELETE, []) => delete(state, ctx, headers, id).await,
                (&Method::PUT, ["password"]) => password(state, ctx, headers, body, id).await,
                (&Method::PUT, ["status"]) => status(state, ctx, headers, body, id).await,
                (_, [] | ["password"] | ["status"]) => Err(method_not_allowed()),
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(reply.unwrap_or_else(|e| e))
}

fn method_not_allowed() -> Reply {
    api_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed here",
        None,
    )
}

async fn register<B>(
    state: &AppState,
    ctx: RequestCtx,
    headers: &HeaderMap,
    body: B,
) -> Result<Reply, Reply>
where
    B: HttpBody,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let req: requests::Register = body::json(headers, body).await?;
    let users = users(state)?;
    let (user, token, expires) =
        blocking(move || users.register(&req.username, &req.email, &req.password, &ctx)).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "user": UserView::from(&user), "token": token, "expires_at": rfc3339(expires) }),
    ))
}

async fn login<B>(
    state: &AppState,
    ctx: RequestCtx,
    headers: &HeaderMap,
    body: B,
) -> Result<Reply, Reply>
where
    B: HttpBody,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let req: requests::Login = body::json(headers, body).await?;
    let Some(login) = req.username.or(req.email) else {
        return Err(api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "give username or email",
            Some("username".into()),
        ));
    };
    let users = users(state)?;
    let (_, token, expires) = blocking(move || users.login(&login, &req.password, &ctx)).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "token": token, "expires_at": rfc3339(expires) }),
    ))
}

async fn me(state: &AppState, headers: &HeaderMap) -> Result<Reply, Reply> {
    let users = users(state)?;
    let caller = caller(&users, headers).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!(UserView::from(&caller.user)),
    ))
}

async fn get(state: &AppState, headers: &HeaderMap, id: Uuid) -> Result<Reply, Reply> {
    let users = users(state)?;
    let caller = caller(&users, headers).await?;
    let user = blocking(move || users.get(&caller, id)).await?;
    Ok(json_response(StatusCode::OK, &json!(UserView::from(&user))))
}

async fn update<B>(
    state: &AppState,
    ctx: RequestCtx,
    headers: &HeaderMap,
    body: B,
    id: Uuid,
) -> Result<Reply, Reply>
where
    B: HttpBody,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let users = users(state)?;
    let caller = caller(&users, headers).await?;
    let req: requests::Update = body::json(headers, body).await?;
    let user = blocking(move || {
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
    Ok(json_response(StatusCode::OK, &json!(UserView::from(&user))))
}

async fn password<B>(
    state: &AppState,
    ctx: RequestCtx,
    headers: &HeaderMap,
    body: B,
    id: Uuid,
) -> Result<Reply, Reply>
where
    B: HttpBody,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let users = users(state)?;
    let caller = caller(&users, headers).await?;
    let req: requests::ChangePassword = body::json(headers, body).await?;
    blocking(move || {
        users.change_password(&caller, id, &req.old_password, &req.new_password, &ctx)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &json!({ "changed": true })))
}

async fn status<B>(
    state: &AppState,
    ctx: RequestCtx,
    headers: &HeaderMap,
    body: B,
    id: Uuid,
) -> Result<Reply, Reply>
where
    B: HttpBody,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let users = users(state)?;
    let caller = caller(&users, headers).await?;
    let req: requests::ChangeStatus = body::json(headers, body).await?;
    let user = blocking(move || users.change_status(&caller, id, req.status, &ctx)).await?;
    Ok(json_response(StatusCode::OK, &json!(UserView::from(&user))))
}

async fn delete(
    state: &AppState,
    ctx: RequestCtx,
    headers: &HeaderMap,
    id: Uuid,
) -> Result<Reply, Reply> {
    let users = users(state)?;
    let caller = caller(&users, headers).await?;
    blocking(move || users.delete(&caller, id, &ctx)).await?;
    Ok(Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Body::default())
        .unwrap_or_default())
}
