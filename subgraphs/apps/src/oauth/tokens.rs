//! Tokens signed for a user's grant: the access token (`Delegated`: the app acting for the user
//! in one organization, within the grant's scopes, for the core API) and the OpenID Connect
//! id_token (for the app: who signed in).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use nexus_kit::accounts::Account;
use nexus_kit::token::{KeyStore, TokenType, new_claims};
use sha2::{Digest, Sha512};
use uuid::Uuid;

/// Who and what an access token acting for a user is for.
pub struct Delegation<'a> {
    pub user: Uuid,
    pub app: Uuid,
    pub organization: Uuid,
    pub installation: Uuid,
    /// The user's role there now.
    pub role: Option<String>,
    pub scopes: &'a [String],
    /// The grant it comes from, if any (a token exchanged for the user's own call has none: it
    /// lives only as long as the installation and the user's membership, and cannot be renewed).
    pub grant: Option<Uuid>,
    /// The user's sign-in proved a second factor (`amr`).
    pub two_factor: bool,
}

pub fn access_token(keys: &KeyStore, ttl: Duration, d: &Delegation<'_>) -> anyhow::Result<String> {
    let mut claims = new_claims(keys.issuer(), d.user.to_string(), TokenType::Delegated, ttl);
    claims.org = Some(d.organization.to_string());
    claims.role = d.role.clone();
    claims.inst = Some(d.installation.to_string());
    claims.client_id = Some(d.app.to_string());
    claims.gid = d.grant.map(|g| g.to_string());
    claims.scopes = d.scopes.to_vec();
    claims.set_sign_in(d.two_factor);
    keys.sign(&claims)
}

pub struct IdToken<'a> {
    pub app: Uuid,
    pub account: &'a Account,
    pub organization: Uuid,
    pub scopes: &'a [String],
    pub nonce: Option<&'a str>,
    pub auth_time: i64,
    pub access_token: &'a str,
    pub ttl: Duration,
}

/// The id_token: the user's claims for the granted scopes (as userinfo has them), and what ties
/// it to this sign-in: issuer, audience (the app), times, nonce, `at_hash`.
pub fn id_token(keys: &KeyStore, t: &IdToken<'_>) -> anyhow::Result<String> {
    let now = Utc::now().timestamp();
    let mut claims = user_claims(t.account, &t.organization.to_string(), t.scopes);
    for (name, value) in [
        ("iss", keys.issuer().into()),
        ("aud", t.app.to_string().into()),
        ("exp", (now + t.ttl.as_secs() as i64).into()),
        ("iat", now.into()),
        ("auth_time", t.auth_time.into()),
        ("at_hash", at_hash(t.access_token).into()),
    ] {
        claims[name] = value;
    }
    if let Some(nonce) = t.nonce {
        claims["nonce"] = nonce.into();
    }
    keys.sign_document("JWT", &claims)
}

/// OpenID Connect's `at_hash` for an EdDSA (Ed25519) signature: the left half of the access
/// token's SHA-512, base64url.
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha512::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// The claims userinfo and the id_token share, as JSON, for the granted scopes.
pub fn user_claims(account: &Account, organization: &str, scopes: &[String]) -> serde_json::Value {
    let has = |scope: &str| scopes.iter().any(|s| s == scope);
    let mut claims = serde_json::json!({ "sub": account.id.to_string(), "org": organization });
    if has("profile") {
        claims["name"] = account.name.clone().into();
    }
    if has("email") {
        claims["email"] = account.email.clone().into();
        claims["email_verified"] = account.email_verified.into();
    }
    claims
}
