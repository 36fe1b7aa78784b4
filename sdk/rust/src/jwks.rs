//! The platform's public keys (`/.well-known/jwks.json`): Ed25519 keys by `kid`.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde::Deserialize;

#[derive(Clone, Default)]
pub struct Jwks {
    keys: HashMap<String, Key>,
}

#[derive(Clone)]
pub(crate) struct Key {
    pub decoding: DecodingKey,
    pub verifying: ed25519_dalek::VerifyingKey,
}

#[derive(Deserialize)]
struct Document {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    crv: String,
    #[serde(default)]
    kid: String,
    #[serde(default)]
    x: String,
}

impl Jwks {
    /// The Ed25519 keys of a JWKS document; keys of other kinds are left out.
    pub fn parse(document: &serde_json::Value) -> Result<Jwks, String> {
        let document: Document =
            serde_json::from_value(document.clone()).map_err(|e| format!("not a JWKS: {e}"))?;
        let mut keys = HashMap::new();
        for jwk in document.keys {
            if jwk.kty != "OKP" || jwk.crv != "Ed25519" || jwk.kid.is_empty() {
                continue;
            }
            let Ok(bytes) = URL_SAFE_NO_PAD.decode(&jwk.x) else {
                continue;
            };
            let Ok(bytes) = <[u8; 32]>::try_from(bytes.as_slice()) else {
                continue;
            };
            let Ok(verifying) = ed25519_dalek::VerifyingKey::from_bytes(&bytes) else {
                continue;
            };
            let Ok(decoding) = DecodingKey::from_ed_components(&jwk.x) else {
                continue;
            };
            keys.insert(
                jwk.kid,
                Key {
                    decoding,
                    verifying,
                },
            );
        }
        Ok(Jwks { keys })
    }

    pub(crate) fn get(&self, kid: &str) -> Option<&Key> {
        self.keys.get(kid)
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = &Key> {
        self.keys.values()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
