//! The signed-in browser: a cookie holding a document signed with the platform's key (audience
//! `nexus-browser`, so it is never an API token, nor an API token a cookie), `HttpOnly`,
//! `SameSite=Lax`, `Secure` (and `__Host-` named) when Nexus is served over https. It carries the
//! form's CSRF token too: every form posts it back, and a post whose token is not the cookie's
//! is refused. A browser not signed in gets a cookie with a CSRF token only.

use axum::http::{HeaderMap, HeaderValue, header};
use chrono::Utc;
use nexus_kit::token::KeyStore;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

const AUDIENCE: &str = "nexus-browser";
/// How long a sign-in lasts in the browser.
pub const SESSION_SECONDS: i64 = 12 * 60 * 60;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BrowserSession {
    iss: String,
    aud: String,
    /// The user's id, or empty before sign-in.
    sub: String,
    iat: i64,
    exp: i64,
    /// When the user entered their password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The sign-in proved a second factor.
    #[serde(default)]
    pub two_factor: bool,
    /// The account's session epoch at sign-in: once it has gone up (a password reset or change),
    /// this session is over, whatever its expiry says.
    #[serde(default)]
    pub epoch: i64,
    pub csrf: String,
}

/// When and how the browser's user signed in.
#[derive(Clone, Copy, Debug)]
pub struct SignIn {
    pub at: i64,
    pub two_factor: bool,
    /// The account's session epoch then.
    pub epoch: i64,
}

impl BrowserSession {
    pub fn anonymous(keys: &KeyStore) -> BrowserSession {
        Self::new(keys, String::new(), None)
    }

    pub fn signed_in(keys: &KeyStore, user: Uuid, two_factor: bool, epoch: i64) -> BrowserSession {
        BrowserSession {
            two_factor,
            epoch,
            ..Self::new(keys, user.to_string(), Some(Utc::now().timestamp()))
        }
    }

    /// When and how the user signed in, if they did.
    pub fn sign_in(&self) -> Option<SignIn> {
        Some(SignIn {
            at: self.auth_time?,
            two_factor: self.two_factor,
            epoch: self.epoch,
        })
    }

    fn new(keys: &KeyStore, sub: String, auth_time: Option<i64>) -> BrowserSession {
        let now = Utc::now().timestamp();
        BrowserSession {
            iss: keys.issuer().to_owned(),
            aud: AUDIENCE.to_owned(),
            sub,
            iat: now,
            exp: now + SESSION_SECONDS,
            auth_time,
            two_factor: false,
            epoch: 0,
            csrf: nexus_kit::secrets::random_secret(),
        }
    }

    /// The signed-in user, if any.
    pub fn user(&self) -> Option<Uuid> {
        Uuid::parse_str(&self.sub).ok()
    }

    /// The session the request's cookie holds, if it is valid.
    pub fn from_request(headers: &HeaderMap, keys: &KeyStore) -> Option<BrowserSession> {
        let wanted = cookie_name(keys);
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(name, _)| *name == wanted)
            .find_map(|(_, value)| keys.verify_as::<BrowserSession>(value, AUDIENCE).ok())
    }

    /// Whether a form's CSRF token is this session's.
    pub fn csrf_matches(&self, sent: Option<&str>) -> bool {
        sent.is_some_and(|sent| !sent.is_empty() && sent == self.csrf)
    }

    /// The `Set-Cookie` header that stores this session.
    pub fn set_cookie(&self, keys: &KeyStore) -> anyhow::Result<HeaderValue> {
        let value = keys.sign_document("JWT", self)?;
        let secure = if secure(keys) { "; Secure" } else { "" };
        Ok(HeaderValue::from_str(&format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={SESSION_SECONDS}{secure}",
            cookie_name(keys)
        ))?)
    }
}

fn secure(keys: &KeyStore) -> bool {
    keys.issuer().starts_with("https://")
}

fn cookie_name(keys: &KeyStore) -> &'static str {
    if secure(keys) {
        "__Host-nexus_session"
    } else {
        "nexus_session"
    }
}
