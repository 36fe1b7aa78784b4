//! Password policy and argon2id hashing (off the async threads: hashing is deliberately slow,
//! and takes ~19 MiB each time). At most `concurrent_hashes()` run at once; a caller waits up to
//! `HASHING_WAIT` for a turn, then gets `RATE_LIMITED`: a flood of sign-ups or logins costs
//! queueing, never a memory spike.

use std::sync::OnceLock;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use nexus_kit::error::{Result, bad_input};

pub const MIN_LENGTH: usize = 10;
pub const MAX_LENGTH: usize = 128;

/// Says everything that is missing at once, so a person can fix it in one go.
pub fn check_policy(password: &str, email: &str) -> Result<()> {
    let mut missing = Vec::new();
    let length = password.chars().count();
    if length < MIN_LENGTH {
        missing.push(format!(
            "at least {MIN_LENGTH} characters (it has {length})"
        ));
    }
    if length > MAX_LENGTH {
        missing.push(format!("at most {MAX_LENGTH} characters (it has {length})"));
    }
    if !password.chars().any(char::is_alphabetic) {
        missing.push("a letter".to_owned());
    }
    if !password.chars().any(|c| !c.is_alphabetic()) {
        missing.push("a digit or a symbol".to_owned());
    }
    let local = email.split('@').next().unwrap_or_default().to_lowercase();
    if local.len() >= 3 && password.to_lowercase().contains(&local) {
        missing.push("no part of your email address".to_owned());
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(bad_input(format!(
            "the password needs {}",
            missing.join(", ")
        )))
    }
}

/// Hashes at once: twice the cores (the blocking pool would take more, and memory with them).
pub fn concurrent_hashes() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get() * 2)
}

/// How long a caller waits for a hashing turn before being told to come back.
pub const HASHING_WAIT: Duration = Duration::from_secs(2);

/// Turns at hashing: `permits` at once, a caller waits at most `wait` for one.
struct HashingTurns {
    permits: tokio::sync::Semaphore,
    wait: Duration,
}

impl HashingTurns {
    async fn take(&self) -> Result<tokio::sync::SemaphorePermit<'_>> {
        match tokio::time::timeout(self.wait, self.permits.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(nexus_kit::rate_limit::rate_limited(
                "the service is busy checking passwords",
                Duration::from_secs(1),
            )),
        }
    }
}

async fn hashing_turn() -> Result<tokio::sync::SemaphorePermit<'static>> {
    static TURNS: OnceLock<HashingTurns> = OnceLock::new();
    TURNS
        .get_or_init(|| HashingTurns {
            permits: tokio::sync::Semaphore::new(concurrent_hashes()),
            wait: HASHING_WAIT,
        })
        .take()
        .await
}

pub async fn hash(password: String) -> Result<String> {
    let _turn = hashing_turn().await?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .map_err(|_| nexus_kit::Code::Internal.error("password hashing failed"))?
    .map_err(|_| nexus_kit::Code::Internal.error("password hashing failed"))
}

/// Checks `password` against `stored`, or against a dummy hash when there is no user, so an
/// unknown email costs the same time as a wrong password. `RATE_LIMITED` when too many checks
/// are waiting.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool> {
    let known = stored.is_some();
    let stored = stored.unwrap_or_else(|| dummy_hash().to_owned());
    let _turn = hashing_turn().await?;
    let matched = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false);
    Ok(known && matched)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"not a password anyone has", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_everything_missing() {
        let err = check_policy("abc", "ada@example.com")
            .err()
            .map(|e| e.message);
        assert_eq!(
            err.as_deref(),
            Some("the password needs at least 10 characters (it has 3), a digit or a symbol")
        );
        assert!(
            check_policy("ada-is-great-1", "ada@example.com").is_err(),
            "contains the email"
        );
        assert!(check_policy("correct horse 42", "ada@example.com").is_ok());
    }

    #[tokio::test]
    async fn beyond_the_hashing_bound_callers_are_told_to_come_back() {
        let turns = HashingTurns {
            permits: tokio::sync::Semaphore::new(1),
            wait: Duration::from_millis(50),
        };
        let first = turns.take().await;
        assert!(first.is_ok());
        let second = turns
            .take()
            .await
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(
            second.starts_with("the service is busy checking passwords"),
            "{second}"
        );
        drop(first);
        assert!(turns.take().await.is_ok());
    }

    #[tokio::test]
    async fn hashes_verify() {
        let stored = hash("correct horse 42".into()).await.expect("hash");
        assert!(stored.starts_with("$argon2id$"));
        assert_eq!(
            verify("correct horse 42".into(), Some(stored.clone()))
                .await
                .ok(),
            Some(true)
        );
        assert_eq!(
            verify("wrong horse 42".into(), Some(stored)).await.ok(),
            Some(false)
        );
        assert_eq!(verify("anything".into(), None).await.ok(), Some(false));
    }
}
