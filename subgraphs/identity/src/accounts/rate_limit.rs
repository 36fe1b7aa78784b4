//! Login attempts per email and per client address, in fixed windows. In-process: each identity
//! replica counts on its own, so N replicas allow up to N times the limit.

use std::time::Duration;

use nexus_kit::error::Error;
use nexus_kit::rate_limit::{RateLimiter, rate_limited};

pub struct LoginLimiter {
    per_email: RateLimiter,
    per_address: RateLimiter,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter::new(Duration::from_secs(15 * 60), 5, 30)
    }
}

impl LoginLimiter {
    pub fn new(window: Duration, per_email: u32, per_address: u32) -> Self {
        LoginLimiter {
            per_email: RateLimiter::new(window, per_email),
            per_address: RateLimiter::new(window, per_address),
        }
    }

    /// Counts an attempt; `RATE_LIMITED` (with `retryAfterSeconds`) once a limit is reached.
    pub fn attempt(&self, email: &str, address: &str) -> Result<(), Error> {
        self.per_email
            .hit(email)
            .map_err(|retry| rate_limited("too many login attempts for this email", retry))?;
        self.per_address
            .hit(address)
            .map_err(|retry| rate_limited("too many login attempts for your address", retry))
    }

    /// A successful login clears the email's count (not the address's).
    pub fn succeeded(&self, email: &str) {
        self.per_email.clear(email);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_email_and_per_address() {
        let limiter = LoginLimiter::new(Duration::from_secs(60), 2, 3);
        assert!(limiter.attempt("a@x.test", "1.1.1.1").is_ok());
        assert!(limiter.attempt("a@x.test", "1.1.1.1").is_ok());
        let err = limiter
            .attempt("a@x.test", "2.2.2.2")
            .err()
            .map(|e| e.message);
        assert!(err.is_some_and(|m| m.starts_with("too many login attempts for this email")));
        assert!(
            limiter.attempt("b@x.test", "1.1.1.1").is_ok(),
            "third from this address"
        );
        let err = limiter
            .attempt("c@x.test", "1.1.1.1")
            .err()
            .map(|e| e.message);
        assert!(err.is_some_and(|m| m.starts_with("too many login attempts for your address")));
    }
}
