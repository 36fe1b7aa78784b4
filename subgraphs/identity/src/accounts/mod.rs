//! Accounts: passwords, sessions (access + rotating refresh tokens), login rate limits, API keys,
//! addresses proven and passwords reset by mail (`email`), the steps of a sign-in (`sign_in`),
//! two-factor sign-in (`two_factor`), devices that signed in before (`known_device`).

pub mod api_keys;
pub mod deletion;
pub mod email;
pub mod known_device;
pub mod password;
pub mod password_change;
pub mod rate_limit;
pub mod retention;
pub mod session;
pub mod sign_in;
pub mod sign_in_log;
pub mod two_factor;

use std::sync::Arc;
use std::time::Duration;

use nexus_kit::token::KeyStore;

use rate_limit::LoginLimiter;

/// What identity needs to issue tokens.
#[derive(Clone)]
pub struct AuthConfig {
    pub keys: Arc<KeyStore>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub limiter: Arc<LoginLimiter>,
    /// Seals the secrets identity must read back (authenticator seeds).
    pub secrets: Arc<nexus_kit::secret_box::SecretBox>,
}

impl AuthConfig {
    /// `limits`: the rate-limit buckets logins and sign-ups count in; `secrets`: the key
    /// for secrets at rest.
    pub fn new(
        keys: Arc<KeyStore>,
        limits: nexus_kit::rate_limit::RateLimits,
        secrets: Arc<nexus_kit::secret_box::SecretBox>,
    ) -> Self {
        AuthConfig {
            keys,
            secrets,
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 60 * 60),
            limiter: Arc::new(LoginLimiter::new(limits)),
        }
    }
}
