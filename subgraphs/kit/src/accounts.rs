//! Accounts as other core services see them: the client of identity's account contract
//! (`nexus_protocol::internal::account`), for the apps service's sign-in and consent pages,
//! id_tokens and userinfo, and the browser cookie that keeps a device known to an account.

use std::sync::Arc;
use std::time::Duration;

use nexus_protocol::internal::account::{ACCOUNT_PATH, AUTHENTICATE_PATH, AccountQuery};
use nexus_protocol::token::KeyStore;
use uuid::Uuid;

use crate::error::{Code, Error, Result};

pub use nexus_protocol::internal::account::{Account, AccountMembership, Credentials, Refusal};

/// The cookie browsers keep their known-device token in (`__Host-` named over https).
const KNOWN_DEVICE_COOKIE: &str = "nexus_device";
/// How long a browser keeps it: as long as the token lives.
const KNOWN_DEVICE_SECONDS: i64 = 90 * 24 * 60 * 60;

/// The `Set-Cookie` value keeping a known-device `token` in a browser (`secure` over https).
pub fn known_device_cookie(token: &str, secure: bool) -> String {
    let (prefix, secure) = if secure {
        ("__Host-", "; Secure")
    } else {
        ("", "")
    };
    format!(
        "{prefix}{KNOWN_DEVICE_COOKIE}={token}; Path=/; Max-Age={KNOWN_DEVICE_SECONDS}; HttpOnly; SameSite=Lax{secure}"
    )
}

/// The known-device token a request's cookies carry, if any.
pub fn known_device_from_headers(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| name.trim_start_matches("__Host-") == KNOWN_DEVICE_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// The client other services ask identity with.
#[derive(Clone)]
pub struct Accounts {
    http: reqwest::Client,
    base: String,
    keys: Arc<KeyStore>,
    caller: &'static str,
}

impl Accounts {
    /// `identity_url`: identity's GraphQL URL (the lookups are next to it).
    pub fn new(caller: &'static str, identity_url: &str, keys: Arc<KeyStore>) -> Accounts {
        Accounts {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            base: identity_url
                .trim_end_matches('/')
                .trim_end_matches("/graphql")
                .to_owned(),
            keys,
            caller,
        }
    }

    fn unavailable(detail: String) -> Error {
        tracing::error!(%detail, "account lookup at identity failed");
        Code::Unavailable.error("the identity service is unavailable; try again shortly")
    }

    fn token(&self) -> Result<String> {
        self.keys
            .service_token(self.caller)
            .map_err(|e| Code::Internal.error(format!("cannot sign a service token: {e}")))
    }

    /// The account these credentials open; a wrong password or a spent limit is the error
    /// identity gives (`UNAUTHENTICATED`, `RATE_LIMITED`).
    pub async fn authenticate(&self, credentials: &Credentials) -> Result<Account> {
        let response = self
            .http
            .post(format!("{}{AUTHENTICATE_PATH}", self.base))
            .bearer_auth(self.token()?)
            .json(credentials)
            .send()
            .await
            .map_err(|e| Self::unavailable(e.to_string()))?;
        if response.status().is_success() {
            return response
                .json()
                .await
                .map_err(|e| Self::unavailable(e.to_string()));
        }
        let status = response.status();
        match response.json::<Refusal>().await {
            Ok(refusal) => {
                use async_graphql::ErrorExtensions;
                let error = Code::from_name(&refusal.code).error(refusal.message);
                Err(match refusal.challenge {
                    Some(challenge) => error.extend_with(|_, e| e.set("challenge", challenge)),
                    None => error,
                })
            }
            Err(_) => Err(Self::unavailable(format!("HTTP {status}"))),
        }
    }

    /// The account `user`, or `None` when it no longer exists.
    pub async fn account(&self, user: Uuid) -> Result<Option<Account>> {
        let response = self
            .http
            .get(format!("{}{ACCOUNT_PATH}", self.base))
            .query(&AccountQuery { user })
            .bearer_auth(self.token()?)
            .send()
            .await
            .map_err(|e| Self::unavailable(e.to_string()))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(Self::unavailable(format!("HTTP {}", response.status())));
        }
        response
            .json()
            .await
            .map(Some)
            .map_err(|e| Self::unavailable(e.to_string()))
    }
}
