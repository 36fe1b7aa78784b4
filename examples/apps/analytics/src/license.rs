//! Checking a Nexus license certificate offline: no call home, only the platform's published
//! public keys (`/.well-known/jwks.json`, fetched once and kept). The recipe is the one in
//! docs/license-certificates.md.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// What this app reads from a certificate.
#[derive(Debug, Deserialize)]
pub struct LicenseCertificate {
    pub license_id: String,
    pub app_namespace: String,
    pub organization_id: String,
    pub kind: String,
    pub entitlements: Vec<String>,
    pub fingerprint: String,
    pub exp: i64,
}

/// Verifies `certificate` for this app on this machine: an EdDSA signature by a key in `jwks`,
/// the header type, issuer, audience (the app's namespace), expiry and fingerprint.
pub fn verify_certificate(
    certificate: &str,
    jwks: &JwkSet,
    issuer: &str,
    namespace: &str,
    fingerprint: &str,
) -> Result<LicenseCertificate, String> {
    let header = jsonwebtoken::decode_header(certificate).map_err(|e| e.to_string())?;
    if header.alg != Algorithm::EdDSA || header.typ.as_deref() != Some("nexus-license+jwt") {
        return Err("not a Nexus license certificate".into());
    }
    let kid = header.kid.ok_or("no key id")?;
    let jwk = jwks.find(&kid).ok_or("signed by an unknown key")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[namespace]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<LicenseCertificate>(certificate, &key, &validation)
        .map_err(|e| e.to_string())?
        .claims;
    if claims.fingerprint != fingerprint {
        return Err("the certificate is for another machine".into());
    }
    Ok(claims)
}
