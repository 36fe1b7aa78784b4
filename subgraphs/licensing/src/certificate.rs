//! Signed license certificates, for apps that check a license offline. A certificate is a
//! compact JWS (a JWT: `header.payload.signature`, base64url) signed with Ed25519 by the
//! platform's signing key; the public keys are the JWKS at `/.well-known/jwks.json`. The format
//! and a verification recipe are in `docs/license-certificates.md`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use nexus_kit::token::{KeyStore, MAX_DOCUMENT_LIFETIME};
use serde::{Deserialize, Serialize};

use crate::entity::license;

/// The JWS header's `typ`.
pub const CERTIFICATE_TYPE: &str = "nexus-license+jwt";
/// How long a certificate is good for, at most (and never past the license's own expiry). The
/// signing key stays published at least this long after it is retired.
pub const CERTIFICATE_TTL: Duration = MAX_DOCUMENT_LIFETIME;

/// What a certificate says. `iss`, `sub`, `aud`, `iat` and `exp` are the standard JWT claims, so
/// any JWT library checks them; the rest is the license.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// The platform (its tokens' issuer).
    pub iss: String,
    /// The license id.
    pub sub: String,
    /// The app's namespace: an app accepts only certificates for itself.
    pub aud: String,
    pub iat: i64,
    /// When the certificate stops being valid: the sooner of issue + ttl and the license's expiry.
    pub exp: i64,
    pub license_id: String,
    pub app_namespace: String,
    pub organization_id: String,
    pub kind: String,
    pub entitlements: Vec<String>,
    /// The machine or instance it was issued for.
    pub fingerprint: String,
    /// When the license was issued.
    pub issued_at: DateTime<Utc>,
    /// When the license expires; null for a perpetual license.
    pub expires_at: Option<DateTime<Utc>>,
    /// The certificate's lifetime in seconds (`exp` - `iat`).
    pub certificate_ttl: i64,
}

pub struct Signed {
    pub certificate: String,
    pub claims: Certificate,
}

/// Signs a certificate for `license` on `fingerprint` (the caller checked it is valid there).
pub fn issue(
    keys: &KeyStore,
    license: &license::Model,
    fingerprint: &str,
) -> anyhow::Result<Signed> {
    let now = Utc::now();
    let ttl = chrono::Duration::from_std(CERTIFICATE_TTL)?;
    let until = match license.expires_at {
        Some(at) if at < now + ttl => at,
        _ => now + ttl,
    };
    let claims = Certificate {
        iss: keys.issuer().to_owned(),
        sub: license.id.to_string(),
        aud: license.app_namespace.clone().unwrap_or_default(),
        iat: now.timestamp(),
        exp: until.timestamp(),
        license_id: license.id.to_string(),
        app_namespace: license.app_namespace.clone().unwrap_or_default(),
        organization_id: license.organization_id.to_string(),
        kind: format!("{:?}", license.kind).to_uppercase(),
        entitlements: license.entitlements(),
        fingerprint: fingerprint.to_owned(),
        issued_at: license.created_at,
        expires_at: license.expires_at,
        certificate_ttl: until.timestamp() - now.timestamp(),
    };
    let certificate = keys.sign_document(CERTIFICATE_TYPE, &claims)?;
    Ok(Signed {
        certificate,
        claims,
    })
}
