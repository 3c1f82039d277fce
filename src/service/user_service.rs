//! The user service the HTTP front serves: its hashing pool sized, its limits set, and the
//! first admin account created.
use std::{sync::Arc, time::Duration};

use tokio::sync::Notify;
use tracing::{error, info, warn};

use super::ServiceError;
use crate::{
    config::Config,
    store::Store,
    users::{AuthLimits, FirstAdmin, UserError, Users},
};

/// The user service over `store`, with the first admin from config created if missing.
pub(super) async fn users(
    config: &Config,
    store: Arc<dyn Store>,
    producer_id: u64,
    wake: Arc<Notify>,
) -> Result<Arc<Users>, ServiceError> {
    let auth = config.auth.clone();
    let events = config.topics.events.clone();
    let encoding = config.events.encoding;
    // Before `Users::new`, whose timing-equaliser hash starts the pool (one per process: a
    // second service in it shares the pool).
    if let Err(size) = crate::users::set_hashing_threads(auth.hashing_threads) {
        warn!(
            size,
            asked = auth.hashing_threads,
            "the password hashing pool runs with another size: auth.hashing_threads does not apply"
        );
    }
    crate::users::set_max_pending_hashes(auth.max_pending_hashes);
    crate::users::set_max_pending_hashes_per_client(auth.max_pending_hashes_per_client);
    tokio::task::spawn_blocking(move || {
        let ttl = Duration::from_secs(auth.session_ttl_secs);
        let limits = AuthLimits {
            per_source: auth.login_failures_per_source,
            per_account: auth.login_failures_per_account,
            per_ip: auth.login_failures_per_ip,
            window: Duration::from_secs(auth.login_window_secs),
            max_keys: auth.throttle_max_keys,
            max_sessions: auth.max_sessions_per_user,
            ..AuthLimits::default()
        };
        let users = Users::new(store, producer_id, &events, ttl)?
            .with_wake(wake)
            .with_limits(&limits)
            .with_encoding(encoding);
        if let (Some(name), Some(email), Some(password)) = (
            &auth.admin_username,
            &auth.admin_email,
            &auth.admin_password,
        ) {
            match users.ensure_admin(name, email, password)? {
                FirstAdmin::Created => info!(admin = %name, "created the admin account"),
                FirstAdmin::Present => {}
                FirstAdmin::NameTaken => warn!(admin = %name, "auth.admin_username names an account that is not an admin: no admin account was created"),
                FirstAdmin::EmailTaken => warn!(admin = %name, "auth.admin_email belongs to another account: no admin account was created"),
                FirstAdmin::EmptyPassword => error!(admin = %name, "the admin account has an empty password (an earlier version created it from an empty auth.admin_password), with which no login succeeds: set auth.admin_password (USERCENTER_AUTH_ADMIN_PASSWORD) and start again to give it that one"),
                FirstAdmin::PasswordSet => warn!(admin = %name, "the admin account had an empty password (an earlier version created it from an empty auth.admin_password): it is now auth.admin_password, and its sessions ended"),
            }
        }
        Ok(Arc::new(users))
    })
    .await
    .map_err(|e| ServiceError::Users(UserError::Task(e)))?
    .map_err(ServiceError::Users)
}
