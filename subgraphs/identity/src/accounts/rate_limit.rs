//! Who may try a password, and how often, in the buckets every identity replica shares.
//!
//! - per address: every login attempt counts (`per_address`), so one address cannot try many
//!   accounts;
//! - per (email, address): failures count (`per_email_and_address`): a flood of wrong passwords
//!   from one address stops that address, not the account's owner elsewhere;
//! - per account (email), from anywhere: failures count (`per_email`); once spent, the password
//!   is no longer checked for that email (`RATE_LIMITED`) — except from a device that signed in
//!   to the account before (`known_device`), or after a reset through the mail: guessers spread
//!   over many addresses are stopped, the owner is not locked out;
//!
//! Addresses are counted as they are for IPv4 and per /64 for IPv6 (one subscriber's network:
//! it holds more addresses than anyone could try from).
//! - sign-ups per address (`sign_ups`);
//! - second-factor codes per account, from anywhere (`second_factors`): whoever knows the
//!   password gets a few guesses at the code, not a million;
//! - letters per address mailed to (`letters`), password resets per asking address and per
//!   email (`resets_per_address`, `resets_per_email`).

use nexus_kit::error::Error;
use nexus_kit::rate_limit::{Bucket, RateLimits, key, take_one};

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
    /// `retryAfterSeconds`) when this address may not try now, or when the account has had too
    /// many failures from everywhere and this device never signed in to it (`known_device`).
    pub async fn attempt(
        &self,
        email: &str,
        address: &str,
        known_device: bool,
    ) -> Result<(), Error> {
        let address = &counted_address(address);
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
        if known_device {
            return Ok(());
        }
        take_one(
            &self.limits,
            "login:email",
            &[email],
            self.per_email,
            "too many failed sign-ins for this account from everywhere: sign in from a device you signed in with before, or reset your password by mail",
        )
        .await
    }

    /// A successful login takes back what its attempt counted as a failure.
    pub async fn succeeded(&self, email: &str, address: &str, known_device: bool) {
        let address = &counted_address(address);
        self.limits
            .give_back(
                &key("login:email+address", &[email, address]),
                1,
                self.per_email_and_address,
            )
            .await;
        if !known_device {
            self.limits
                .give_back(&key("login:email", &[email]), 1, self.per_email)
                .await;
        }
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
            &[&counted_address(address)],
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
            &[&counted_address(address)],
            self.sign_ups,
            "too many sign-ups from your address",
        )
        .await
    }
}

/// The address as it is counted: IPv4 as it is, IPv6 by its /64 (an IPv4 address mapped into
/// IPv6 as the IPv4 one); anything else (`unknown`) as it is.
pub fn counted_address(address: &str) -> String {
    match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let segments = v6.segments();
                let prefix = std::net::Ipv6Addr::new(
                    segments[0],
                    segments[1],
                    segments[2],
                    segments[3],
                    0,
                    0,
                    0,
                    0,
                );
                format!("{prefix}/64")
            }
        },
        _ => address.to_owned(),
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
            assert!(
                limiter
                    .attempt("ada@x.test", "6.6.6.6", false)
                    .await
                    .is_ok()
            );
        }
        assert!(
            message(limiter.attempt("ada@x.test", "6.6.6.6", false).await)
                .starts_with("too many failed logins for this email from your address")
        );
        // The owner, elsewhere, is not stopped; a success takes its attempt back.
        assert!(
            limiter
                .attempt("ada@x.test", "1.2.3.4", false)
                .await
                .is_ok()
        );
        limiter.succeeded("ada@x.test", "1.2.3.4", false).await;
        for _ in 0..5 {
            assert!(
                limiter
                    .attempt("ada@x.test", "1.2.3.4", false)
                    .await
                    .is_ok()
            );
            limiter.succeeded("ada@x.test", "1.2.3.4", false).await;
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
                    .attempt(&format!("u{i}@x.test"), "6.6.6.6", false)
                    .await
                    .is_ok()
            );
        }
        assert!(
            message(limiter.attempt("u9@x.test", "6.6.6.6", false).await)
                .starts_with("too many login attempts from your address")
        );
    }

    #[tokio::test]
    async fn guesses_from_everywhere_stop_at_the_accounts_limit_but_not_its_known_devices() {
        let limiter = LoginLimiter {
            per_email: Bucket::new(3, 60),
            ..LoginLimiter::new(RateLimits::in_memory())
        };
        for i in 0..3 {
            let address = format!("10.0.0.{i}");
            assert!(limiter.attempt("ada@x.test", &address, false).await.is_ok());
        }
        assert!(
            message(limiter.attempt("ada@x.test", "10.0.0.9", false).await)
                .starts_with("too many failed sign-ins for this account from everywhere")
        );
        assert!(limiter.attempt("ada@x.test", "1.2.3.4", true).await.is_ok());
    }

    #[test]
    fn ipv6_addresses_count_per_64() {
        assert_eq!(counted_address("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            counted_address("2001:db8:1:2:ffff:1:2:3"),
            counted_address("2001:db8:1:2::9")
        );
        assert_ne!(
            counted_address("2001:db8:1:3::1"),
            counted_address("2001:db8:1:2::1")
        );
        assert_eq!(counted_address("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(counted_address("192.0.2.7"), "192.0.2.7");
        assert_eq!(counted_address("unknown"), "unknown");
    }
}
