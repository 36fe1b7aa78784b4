//! The context token: the router sends one with every call to an app, instead of the caller's
//! own token. It says who is calling (user, organization, role, installation) and which of the
//! scopes the organization granted the caller holds; `aud` is the app's namespace.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use tokio::sync::RwLock;

use crate::jwks::Jwks;

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECONDS: i64 = 10;
/// A token naming a key not in the cached JWKS refetches it, at most this often.
const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(30);

/// Why a token is refused; `code()` is the verdict every Nexus SDK gives for it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("not a JWT")]
    Malformed,
    #[error("not signed with EdDSA")]
    BadAlgorithm,
    #[error("signed with a key the platform does not publish")]
    UnknownKey,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("not a context token")]
    WrongType,
    #[error("issued by another platform")]
    WrongIssuer,
    #[error("meant for another app")]
    WrongAudience,
    #[error("expired")]
    Expired,
    #[error("not valid yet")]
    NotYetValid,
    #[error("the platform's keys cannot be fetched: {0}")]
    KeysUnavailable(String),
}

impl Rejection {
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Malformed => "malformed",
            Rejection::BadAlgorithm => "bad_algorithm",
            Rejection::UnknownKey => "unknown_key",
            Rejection::BadSignature => "bad_signature",
            Rejection::WrongType => "wrong_type",
            Rejection::WrongIssuer => "wrong_issuer",
            Rejection::WrongAudience => "wrong_audience",
            Rejection::Expired => "expired",
            Rejection::NotYetValid => "not_yet_valid",
            Rejection::KeysUnavailable(_) => "keys_unavailable",
        }
    }
}

/// What a verified context token says.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ContextClaims {
    /// The user (or the API key, or the installation) calling.
    pub sub: String,
    /// The organization the call acts in, and the caller's role there.
    pub org: Option<String>,
    pub role: Option<String>,
    /// The installation of this app in that organization.
    pub inst: Option<String>,
    /// Scopes the organization granted this app that the caller holds too.
    #[serde(default)]
    pub scopes: Vec<String>,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
}

impl ContextClaims {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Verifies `token` with `jwks` as of `now` (seconds since the epoch) for an app whose
/// namespace is `audience` on the platform `issuer`. Checks, in order: shape, algorithm, key,
/// signature, type, issuer, audience, expiry, not-before.
pub fn verify_at(
    jwks: &Jwks,
    token: &str,
    issuer: &str,
    audience: &str,
    now: i64,
) -> Result<ContextClaims, Rejection> {
    let header = header_of(token)?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("EdDSA") {
        return Err(Rejection::BadAlgorithm);
    }
    let kid = header
        .get("kid")
        .and_then(|k| k.as_str())
        .ok_or(Rejection::UnknownKey)?;
    let key = jwks.get(kid).ok_or(Rejection::UnknownKey)?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims = HashSet::new();
    let claims = jsonwebtoken::decode::<serde_json::Value>(token, &key.decoding, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => Rejection::BadSignature,
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => Rejection::BadAlgorithm,
            _ => Rejection::Malformed,
        })?
        .claims;
    let text = |name: &str| claims.get(name).and_then(|v| v.as_str());
    let number = |name: &str| claims.get(name).and_then(|v| v.as_i64());
    if text("typ") != Some("context") {
        return Err(Rejection::WrongType);
    }
    if text("iss") != Some(issuer) {
        return Err(Rejection::WrongIssuer);
    }
    if text("aud") != Some(audience) {
        return Err(Rejection::WrongAudience);
    }
    let exp = number("exp").ok_or(Rejection::Malformed)?;
    if exp + LEEWAY_SECONDS < now {
        return Err(Rejection::Expired);
    }
    let ahead = |t: Option<i64>| t.is_some_and(|t| t > now + LEEWAY_SECONDS);
    if ahead(number("nbf")) || ahead(number("iat")) {
        return Err(Rejection::NotYetValid);
    }
    serde_json::from_value(claims).map_err(|_| Rejection::Malformed)
}

fn header_of(token: &str) -> Result<serde_json::Value, Rejection> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Rejection::Malformed);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| Rejection::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| Rejection::Malformed)
}

/// Verifies context tokens against the platform's JWKS, fetched once and cached; a token
/// naming a key not in the cache (the platform rotated its key) refetches it, at most every
/// 30 seconds.
pub struct ContextVerifier {
    jwks_url: String,
    issuer: String,
    audience: String,
    http: reqwest::Client,
    cache: RwLock<Cached>,
}

struct Cached {
    jwks: Option<Jwks>,
    fetched: Option<Instant>,
}

impl ContextVerifier {
    /// For the app `namespace` on the platform `issuer` (e.g. `http://127.0.0.1:4000`), whose
    /// keys are at `{issuer}/.well-known/jwks.json`.
    pub fn new(issuer: &str, namespace: &str) -> Self {
        let issuer = issuer.trim_end_matches('/');
        ContextVerifier::with_jwks_url(
            issuer,
            namespace,
            &format!("{issuer}/.well-known/jwks.json"),
        )
    }

    pub fn with_jwks_url(issuer: &str, namespace: &str, jwks_url: &str) -> Self {
        ContextVerifier {
            jwks_url: jwks_url.to_owned(),
            issuer: issuer.to_owned(),
            audience: namespace.to_owned(),
            http: reqwest::Client::new(),
            cache: RwLock::new(Cached {
                jwks: None,
                fetched: None,
            }),
        }
    }

    /// The claims of `token` (a bare token, or an `Authorization` header value).
    pub async fn verify(&self, token: &str) -> Result<ContextClaims, Rejection> {
        let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
        let jwks = self.jwks(false).await?;
        match verify_at(
            &jwks,
            token,
            &self.issuer,
            &self.audience,
            crate::unix_now(),
        ) {
            Err(Rejection::UnknownKey) => {
                let jwks = self.jwks(true).await?;
                verify_at(
                    &jwks,
                    token,
                    &self.issuer,
                    &self.audience,
                    crate::unix_now(),
                )
            }
            verdict => verdict,
        }
    }

    async fn jwks(&self, refresh: bool) -> Result<Jwks, Rejection> {
        {
            let cache = self.cache.read().await;
            let recent = cache
                .fetched
                .is_some_and(|at| at.elapsed() < REFETCH_AT_MOST_EVERY);
            if let Some(jwks) = &cache.jwks
                && (!refresh || recent)
            {
                return Ok(jwks.clone());
            }
        }
        let mut cache = self.cache.write().await;
        // Another call may have refetched while this one waited.
        let recent = cache
            .fetched
            .is_some_and(|at| at.elapsed() < REFETCH_AT_MOST_EVERY);
        if let Some(jwks) = &cache.jwks
            && recent
        {
            return Ok(jwks.clone());
        }
        let document: serde_json::Value = self
            .http
            .get(&self.jwks_url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| Rejection::KeysUnavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| Rejection::KeysUnavailable(e.to_string()))?;
        let jwks = Jwks::parse(&document).map_err(Rejection::KeysUnavailable)?;
        cache.jwks = Some(jwks.clone());
        cache.fetched = Some(Instant::now());
        Ok(jwks)
    }
}
