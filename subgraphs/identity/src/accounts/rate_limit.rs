//! Who may try a password, and how often, in the buckets every identity replica shares.
//!
//! - per address: every login attempt counts (`per_address`), so one address cannot try many
//!   accounts;
//! - per (email, address): failures count (`per_email_and_address`): a flood of wrong passwords
//!   from one address stops that address, not the account's owner elsewhere;
//! - per email, from anywhere: failures count (`per_email`); once spent, attempts for that email
//!   are answered only after `SLOWDOWN`: a distributed guesser is slowed, the real user is not
//!   locked out;
//! - sign-ups per address (`sign_ups`);
//! - second-factor codes per account, from anywhere (`second_factors`): whoever knows the
//!   password gets a few guesses at the code, not a million;
//! - letters per address mailed to (`letters`), password resets per asking address and per
//!   email (`resets_per_address`, `resets_per_email`).

use std::time::Duration;

use nexus_kit::error::Error;
use nexus_kit::rate_limit::{Bucket, RateLimits, key, take_one};

/// How long an attempt for an email that has failed too often, from anywhere, waits.
pub const SLOWDOWN: Duration = Duration::from_secs(1);

pub struct LoginLimiter {
    limits: RateLimits,
    pub per_address: Bucket,
    pub per_email_and_address: Bucket,
    pub per_email: Bucket,
    pub sign_ups: Bucket,
    /// Letters to one address (verification, a new address): a mailbox is not flooded.
    pub letters: Bucket,
    /// Password-reset requests per address of the caller, and per email asked about.
    pub resets_per_address: Bucket,
    pub resets_per_email: Bucket,
    /// Wrong second-factor codes per account.
    pub second_factors: Bucket,
}

impl LoginLimiter {
    pub fn new(limits: RateLimits) -> Self {
        LoginLimiter {
            limits,
            per_address: Bucket::new(100, 15 * 60),
            per_email_and_address: Bucket::new(5, 15 * 60),
            per_email: Bucket::new(50, 15 * 60),
            sign_ups: Bucket::new(10, 60 * 60),
            letters: Bucket::new(5, 60 * 60),
            resets_per_address: Bucket::new(20, 60 * 60),
            resets_per_email: Bucket::new(5, 60 * 60),
            second_factors: Bucket::new(10, 15 * 60),
        }
    }

    /// Counts a login attempt before its password is checked; `RATE_LIMITED` (with
    /// `retryAfterSeconds`) when this address may not try now.
    pub async fn attempt(&self, email: &str, address: &str) -> Result<(), Error> {
        take_one(
            &self.limits,
            "login:address",
            &[address],
            self.per_address,
            "too many login attempts from your address",
        )
        .await?;
        take_one(
            &self.limits,
            "login:email+address",
            &[email, address],
            self.per_email_and_address,
            "too many failed logins for this email from your address",
        )
        .await?;
        let everywhere = self
            .limits
            .take(&key("login:email", &[email]), 1, self.per_email)
            .await;
        if !everywhere.allowed {
            tokio::time::sleep(SLOWDOWN).await;
        }
        Ok(())
    }

    /// A successful login takes back what its attempt counted as a failure.
    pub async fn succeeded(&self, email: &str, address: &str) {
        self.limits
            .give_back(
                &key("login:email+address", &[email, address]),
                1,
                self.per_email_and_address,
            )
            .await;
        self.limits
            .give_back(&key("login:email", &[email]), 1, self.per_email)
            .await;
    }

    /// A letter to `email` (verification); `RATE_LIMITED` after a few an hour.
    pub async fn mail(&self, email: &str) -> Result<(), Error> {
        take_one(
            &self.limits,
            "mail:email",
            &[email],
            self.letters,
            "too many letters to this address; wait before asking again",
        )
        .await
    }

    /// A password-reset request for `email` from `address`. Counted whether or not the account
    /// exists, so the limit says nothing about it either.
    pub async fn reset(&self, email: &str, address: &str) -> Result<(), Error> {
        take_one(
            &self.limits,
            "reset:address",
            &[address],
            self.resets_per_address,
            "too many password resets asked from your address",
        )
        .await?;
        take_one(
            &self.limits,
            "reset:email",
            &[email],
            self.resets_per_email,
            "too many password resets asked for this address; wait before asking again",
        )
        .await
    }

    /// A second-factor code for the account, counted before it is checked;
    /// `second_factor_succeeded` takes a good one back.
    pub async fn second_factor(&self, user: uuid::Uuid) -> Result<(), Error> {
        take_one(
            &self.limits,
            "second_factor:user",
            &[&user.to_string()],
            self.second_factors,
            "too many wrong codes for this account; wait before trying again",
        )
        .await
    }

    pub async fn second_factor_succeeded(&self, user: uuid::Uuid) {
        self.limits
            .give_back(
                &key("second_factor:user", &[&user.to_string()]),
                1,
                self.second_factors,
            )
            .await;
    }

    pub async fn sign_up(&self, address: &str) -> Result<(), Error> {
        take_one(
            &self.limits,
            "sign_up:address",
            &[address],
            self.sign_ups,
            "too many sign-ups from your address",
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(result: Result<(), Error>) -> String {
        result.err().map(|e| e.message).unwrap_or_default()
    }

    #[tokio::test]
    async fn a_flood_from_one_address_stops_that_address_only() {
        let limiter = LoginLimiter::new(RateLimits::in_memory());
        for _ in 0..5 {
            assert!(limiter.attempt("ada@x.test", "6.6.6.6").await.is_ok());
        }
        assert!(
            message(limiter.attempt("ada@x.test", "6.6.6.6").await)
                .starts_with("too many failed logins for this email from your address")
        );
        // The owner, elsewhere, is not stopped; a success takes its attempt back.
        assert!(limiter.attempt("ada@x.test", "1.2.3.4").await.is_ok());
        limiter.succeeded("ada@x.test", "1.2.3.4").await;
        for _ in 0..5 {
            assert!(limiter.attempt("ada@x.test", "1.2.3.4").await.is_ok());
            limiter.succeeded("ada@x.test", "1.2.3.4").await;
        }
    }

    #[tokio::test]
    async fn one_address_cannot_try_many_accounts() {
        let limiter = LoginLimiter {
            per_address: Bucket::new(3, 60),
            ..LoginLimiter::new(RateLimits::in_memory())
        };
        for i in 0..3 {
            assert!(
                limiter
                    .attempt(&format!("u{i}@x.test"), "6.6.6.6")
                    .await
                    .is_ok()
            );
        }
        assert!(
            message(limiter.attempt("u9@x.test", "6.6.6.6").await)
                .starts_with("too many login attempts from your address")
        );
    }
}
