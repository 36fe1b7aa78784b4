//! What identity's account operations need to issue tokens: keys, lifetimes, login limits, and
//! the key for secrets at rest.

use std::sync::Arc;
use std::time::Duration;

use nexus_kit::token::KeyStore;

use super::rate_limit::LoginLimiter;

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
