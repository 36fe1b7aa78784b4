//! Accounts: passwords, sessions (access + rotating refresh tokens), login rate limits, API keys,
//! addresses proven and passwords reset by mail (`email`), two-factor sign-in (`two_factor`).

pub mod api_keys;
pub mod email;
pub mod password;
pub mod rate_limit;
pub mod session;
pub mod sign_in;
pub mod two_factor;

use std::sync::Arc;
use std::time::Duration;

use nexus_kit::token::KeyStore;

use rate_limit::LoginLimiter;

/// Records `user.sign_in_failed` (`entry`), about `user` when the account exists. Logged when it
/// cannot be written: the failed sign-in is answered all the same.
pub async fn record_sign_in_failure(
    db: &sea_orm::DatabaseConnection,
    entry: nexus_kit::audit::Entry,
    user: Option<uuid::Uuid>,
    reason: &'static str,
) {
    let mut entry = entry.details(serde_json::json!({ "reason": reason }));
    entry.action = "user.sign_in_failed";
    if let Some(user) = user {
        entry = entry.target("user", user);
    }
    if let Err(e) = nexus_kit::audit::append(db, entry).await {
        tracing::error!(error = %e, "cannot record a failed sign-in");
    }
}

/// What identity needs to issue tokens.
#[derive(Clone)]
pub struct AuthConfig {
    pub keys: Arc<KeyStore>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub limiter: Arc<LoginLimiter>,
}

impl AuthConfig {
    /// `limits`: the rate-limit buckets logins and sign-ups count in.
    pub fn new(keys: Arc<KeyStore>, limits: nexus_kit::rate_limit::RateLimits) -> Self {
        AuthConfig {
            keys,
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 60 * 60),
            limiter: Arc::new(LoginLimiter::new(limits)),
        }
    }
}
