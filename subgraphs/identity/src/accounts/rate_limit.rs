//! Login attempts per email and per client address, in fixed windows. In-process: each identity
//! replica counts on its own, so N replicas allow up to N times the limit.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_graphql::ErrorExtensions;
use nexus_kit::error::Error;

pub struct LoginLimiter {
    window: Duration,
    per_email: u32,
    per_address: u32,
    counts: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter::new(Duration::from_secs(15 * 60), 5, 30)
    }
}

impl LoginLimiter {
    pub fn new(window: Duration, per_email: u32, per_address: u32) -> Self {
        LoginLimiter {
            window,
            per_email,
            per_address,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt; `RATE_LIMITED` (with `retryAfterSeconds`) once a limit is reached.
    pub fn attempt(&self, email: &str, address: &str) -> Result<(), Error> {
        let Ok(mut counts) = self.counts.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        if counts.len() > 100_000 {
            counts.retain(|_, (_, start)| now.duration_since(*start) < self.window);
        }
        for (key, limit, what) in [
            (format!("email:{email}"), self.per_email, "this email"),
            (
                format!("address:{address}"),
                self.per_address,
                "your address",
            ),
        ] {
            let entry = counts.entry(key).or_insert((0, now));
            if now.duration_since(entry.1) >= self.window {
                *entry = (0, now);
            }
            if entry.0 >= limit {
                let retry = self
                    .window
                    .saturating_sub(now.duration_since(entry.1))
                    .as_secs()
                    .max(1);
                return Err(Error::new(format!(
                    "too many login attempts for {what}; try again in {retry} seconds"
                ))
                .extend_with(|_, e| {
                    e.set("code", "RATE_LIMITED");
                    e.set("retryAfterSeconds", retry);
                }));
            }
            entry.0 += 1;
        }
        Ok(())
    }

    /// A successful login clears the email's count (not the address's).
    pub fn succeeded(&self, email: &str) {
        if let Ok(mut counts) = self.counts.lock() {
            counts.remove(&format!("email:{email}"));
        }
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
