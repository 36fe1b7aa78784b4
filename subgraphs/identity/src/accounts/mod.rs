//! Accounts: passwords, sessions (access + rotating refresh tokens), login rate limits, API keys,
//! addresses proven and passwords reset by mail (`email`), the steps of a sign-in (`sign_in`),
//! two-factor sign-in (`two_factor`), devices that signed in before (`known_device`).

pub mod api_keys;
pub mod config;
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

pub use config::AuthConfig;
