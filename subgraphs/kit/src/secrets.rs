//! Secrets handed to people and apps (refresh tokens, codes, mailed links, client secrets) and
//! the form they are stored in: 32 random bytes, base64url; stored as their SHA-256, hex.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

pub fn random_secret() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}
