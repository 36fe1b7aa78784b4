//! Fixed-window rate limits per key (an email, a client address). In-process: each replica counts
//! on its own, so N replicas allow up to N times the limit.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_graphql::ErrorExtensions;

use crate::error::{Code, Error};

pub struct RateLimiter {
    window: Duration,
    limit: u32,
    counts: Mutex<HashMap<String, (u32, Instant)>>,
}

impl RateLimiter {
    pub fn new(window: Duration, limit: u32) -> RateLimiter {
        RateLimiter {
            window,
            limit,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request for `key`; once the limit is reached, the time until the window ends.
    pub fn hit(&self, key: &str) -> Result<(), Duration> {
        let Ok(mut counts) = self.counts.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        if counts.len() > 100_000 {
            counts.retain(|_, (_, start)| now.duration_since(*start) < self.window);
        }
        let entry = counts.entry(key.to_owned()).or_insert((0, now));
        if now.duration_since(entry.1) >= self.window {
            *entry = (0, now);
        }
        if entry.0 >= self.limit {
            return Err(self.window.saturating_sub(now.duration_since(entry.1)));
        }
        entry.0 += 1;
        Ok(())
    }

    /// Forgets `key`'s count.
    pub fn clear(&self, key: &str) {
        if let Ok(mut counts) = self.counts.lock() {
            counts.remove(key);
        }
    }
}

/// The `RATE_LIMITED` error, with `retryAfterSeconds`.
pub fn rate_limited(what: &str, retry: Duration) -> Error {
    let seconds = retry.as_secs().max(1);
    Code::RateLimited
        .error(format!("{what}; try again in {seconds} seconds"))
        .extend_with(|_, e| e.set("retryAfterSeconds", seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key_within_the_window() {
        let limiter = RateLimiter::new(Duration::from_secs(60), 2);
        assert!(limiter.hit("a").is_ok());
        assert!(limiter.hit("a").is_ok());
        assert!(limiter.hit("a").is_err());
        assert!(limiter.hit("b").is_ok(), "another key has its own count");
        limiter.clear("a");
        assert!(limiter.hit("a").is_ok());
    }
}
