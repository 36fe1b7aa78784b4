//! Known devices: a device (a browser, an API client) that signed in to an account before holds
//! a token saying so — a document signed with the platform's key, audience `nexus-device`, so it
//! is never an API token — handed out at each sign-in (`logIn`'s `knownDeviceToken`, the
//! `nexus_device` cookie of the sign-in and password-reset pages). When an account's password is
//! being guessed from everywhere and its limit is spent, only such a device may still try it:
//! the guessers are stopped and the owner is not locked out.

use chrono::Utc;
use nexus_kit::token::KeyStore;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

const AUDIENCE: &str = "nexus-device";
/// How long a device stays known without signing in again.
pub const LIFETIME_SECONDS: i64 = 90 * 24 * 60 * 60;
#[derive(Debug, Serialize, Deserialize)]
struct KnownDevice {
    iss: String,
    aud: String,
    /// The account.
    sub: String,
    iat: i64,
    exp: i64,
}

/// A token saying this device signed in to `user` (none if it cannot be signed: the sign-in
/// goes on without it).
pub fn issue(keys: &KeyStore, user: Uuid) -> Option<String> {
    let now = Utc::now().timestamp();
    let document = KnownDevice {
        iss: keys.issuer().to_owned(),
        aud: AUDIENCE.to_owned(),
        sub: user.to_string(),
        iat: now,
        exp: now + LIFETIME_SECONDS,
    };
    keys.sign_document("JWT", &document)
        .inspect_err(|e| tracing::error!(error = %e, "cannot sign a known-device token"))
        .ok()
}

/// Whether `token` says its device signed in to `user` before.
pub fn is_known(keys: &KeyStore, token: Option<&str>, user: Uuid) -> bool {
    token
        .and_then(|t| keys.verify_as::<KnownDevice>(t, AUDIENCE).ok())
        .is_some_and(|device| device.sub == user.to_string())
}

pub use nexus_kit::accounts::{
    known_device_cookie as cookie, known_device_from_headers as from_headers,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_known_to_the_account_it_signed_in_to_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let keys = KeyStore::open_or_create(&dir.path().join("keys.json"), "http://nexus.test")
            .expect("keys");
        let (ada, eve) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let token = issue(&keys, ada).expect("signed");
        assert!(is_known(&keys, Some(&token), ada));
        assert!(!is_known(&keys, Some(&token), eve));
        assert!(!is_known(&keys, None, ada));
        assert!(!is_known(&keys, Some("forged"), ada));
        // An access token is not a device token.
        let access = nexus_kit::token::new_claims(
            keys.issuer(),
            ada.to_string(),
            nexus_kit::token::TokenType::Access,
            std::time::Duration::from_secs(60),
        );
        let access = keys.sign(&access).expect("signed");
        assert!(!is_known(&keys, Some(&access), ada));
        let mut headers = axum::http::HeaderMap::new();
        let cookie = format!("a=b; nexus_device={token}; c=d");
        headers.insert("cookie", cookie.parse().expect("header"));
        assert_eq!(from_headers(&headers).as_deref(), Some(token.as_str()));
    }
}
