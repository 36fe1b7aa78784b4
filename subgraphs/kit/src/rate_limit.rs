//! Rate limits inside the core subgraphs (logins, sign-ups, anonymous license checks), in the
//! buckets the whole platform shares (`nexus_protocol::rate_limit`: Redis when configured, so
//! every replica counts together).

use std::time::Duration;

use async_graphql::ErrorExtensions;
pub use nexus_protocol::rate_limit::{Bucket, RateLimits, key};

use crate::error::{Code, Error};

/// Takes one unit from the bucket of `kind` for `parts`; `RATE_LIMITED` (saying `what`) when it
/// is empty.
pub async fn take_one(
    limits: &RateLimits,
    kind: &str,
    parts: &[&str],
    bucket: Bucket,
    what: &str,
) -> Result<(), Error> {
    let verdict = limits.take(&key(kind, parts), 1, bucket).await;
    if verdict.allowed {
        Ok(())
    } else {
        Err(rate_limited(what, verdict.retry_after))
    }
}

/// The `RATE_LIMITED` error, with `retryAfterSeconds`.
pub fn rate_limited(what: &str, retry: Duration) -> Error {
    let seconds = retry.as_secs_f64().ceil().max(1.0) as u64;
    Code::RateLimited
        .error(format!("{what}; try again in {seconds} seconds"))
        .extend_with(|_, e| e.set("retryAfterSeconds", seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_per_key_until_the_bucket_is_empty() {
        let limits = RateLimits::in_memory();
        let bucket = Bucket::new(2, 60);
        for _ in 0..2 {
            assert!(
                take_one(&limits, "t", &["a"], bucket, "too many")
                    .await
                    .is_ok()
            );
        }
        let refused = take_one(&limits, "t", &["a"], bucket, "too many").await;
        let message = refused.err().map(|e| e.message).unwrap_or_default();
        assert!(
            message.starts_with("too many; try again in 30 seconds"),
            "{message}"
        );
        assert!(
            take_one(&limits, "t", &["b"], bucket, "too many")
                .await
                .is_ok()
        );
    }
}
