//! Accounts: passwords, sessions (access + rotating refresh tokens), login rate limits, API keys.

pub mod api_keys;
pub mod password;
pub mod rate_limit;
pub mod session;

use std::sync::Arc;
use std::time::Duration;

use nexus_kit::token::{KeyStore, MAX_TOKEN_LIFETIME};

use rate_limit::LoginLimiter;

/// What identity needs to issue tokens.
#[derive(Clone)]
pub struct AuthConfig {
    pub keys: Arc<KeyStore>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub limiter: Arc<LoginLimiter>,
}

/// Seconds an access token lives (default 900, at most the key rotation horizon of one hour).
pub const ACCESS_TTL_ENV: &str = "NEXUS_ACCESS_TOKEN_TTL_SECONDS";

impl AuthConfig {
    pub fn new(keys: Arc<KeyStore>) -> Self {
        AuthConfig {
            keys,
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 60 * 60),
            limiter: Arc::new(LoginLimiter::default()),
        }
    }

    /// `new`, with the access-token lifetime from `NEXUS_ACCESS_TOKEN_TTL_SECONDS` if set.
    pub fn from_env(keys: Arc<KeyStore>) -> Self {
        let mut config = Self::new(keys);
        match std::env::var(ACCESS_TTL_ENV).ok().map(|v| v.parse::<u64>()) {
            Some(Ok(seconds)) if (30..=MAX_TOKEN_LIFETIME.as_secs()).contains(&seconds) => {
                config.access_ttl = Duration::from_secs(seconds);
            }
            Some(_) => tracing::warn!(
                "{ACCESS_TTL_ENV} must be a number of seconds from 30 to {}; using 900",
                MAX_TOKEN_LIFETIME.as_secs()
            ),
            None => {}
        }
        config
    }
}
