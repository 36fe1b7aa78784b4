//! Webhook deliveries as Standard Webhooks sends them (<https://www.standardwebhooks.com/>):
//! `webhook-id`, `webhook-timestamp` and `webhook-signature` headers; the signed content is
//! `{id}.{timestamp}.{body}`; `v1,<base64 HMAC-SHA256>` with the endpoint's `whsec_` secret, or
//! `v1a,<base64 Ed25519>` with the platform's key (its JWKS). A signature header may carry
//! several signatures (during a secret rotation); one that verifies is enough.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signature;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::jwks::Jwks;

/// How far a delivery's timestamp may be from the receiver's clock.
pub const TOLERANCE_SECONDS: i64 = 5 * 60;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookRejection {
    #[error("a webhook header is missing or malformed")]
    Malformed,
    #[error("the delivery is too old")]
    TooOld,
    #[error("the delivery's timestamp is in the future")]
    TooNew,
    #[error("no signature verifies")]
    BadSignature,
}

impl WebhookRejection {
    pub fn code(&self) -> &'static str {
        match self {
            WebhookRejection::Malformed => "malformed",
            WebhookRejection::TooOld => "timestamp_too_old",
            WebhookRejection::TooNew => "timestamp_too_new",
            WebhookRejection::BadSignature => "bad_signature",
        }
    }
}

/// A receiver of one endpoint's deliveries.
#[derive(Clone, Default)]
pub struct Webhook {
    secrets: Vec<Vec<u8>>,
    keys: Option<Jwks>,
}

impl Webhook {
    /// With the endpoint's `whsec_` secrets: the current one, and the previous one while a
    /// rotation is under way.
    pub fn new(secrets: &[&str]) -> Result<Self, String> {
        let secrets = secrets
            .iter()
            .map(|s| {
                STANDARD
                    .decode(s.strip_prefix("whsec_").unwrap_or(s))
                    .map_err(|e| format!("not a webhook secret: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Webhook {
            secrets,
            keys: None,
        })
    }

    /// Also accepts `v1a` (Ed25519) signatures by the platform's keys.
    pub fn with_platform_keys(mut self, keys: Jwks) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Verifies a delivery now.
    pub fn verify(
        &self,
        id: &str,
        timestamp: &str,
        signatures: &str,
        body: &[u8],
    ) -> Result<(), WebhookRejection> {
        self.verify_at(id, timestamp, signatures, body, crate::unix_now())
    }

    /// Verifies a delivery as of `now` (seconds since the epoch).
    pub fn verify_at(
        &self,
        id: &str,
        timestamp: &str,
        signatures: &str,
        body: &[u8],
        now: i64,
    ) -> Result<(), WebhookRejection> {
        let sent: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| WebhookRejection::Malformed)?;
        if id.is_empty() {
            return Err(WebhookRejection::Malformed);
        }
        if sent < now - TOLERANCE_SECONDS {
            return Err(WebhookRejection::TooOld);
        }
        if sent > now + TOLERANCE_SECONDS {
            return Err(WebhookRejection::TooNew);
        }
        let mut content = format!("{id}.{sent}.").into_bytes();
        content.extend_from_slice(body);
        let verifies = signatures.split_whitespace().any(|signature| {
            let Some((version, value)) = signature.split_once(',') else {
                return false;
            };
            let Ok(value) = STANDARD.decode(value) else {
                return false;
            };
            match version {
                "v1" => self.secrets.iter().any(|secret| {
                    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
                        return false;
                    };
                    mac.update(&content);
                    mac.verify_slice(&value).is_ok()
                }),
                "v1a" => {
                    let Ok(signature) = Signature::from_slice(&value) else {
                        return false;
                    };
                    self.keys
                        .iter()
                        .flat_map(|k| k.all())
                        .any(|key| key.verifying.verify_strict(&content, &signature).is_ok())
                }
                _ => false,
            }
        });
        if verifies {
            Ok(())
        } else {
            Err(WebhookRejection::BadSignature)
        }
    }
}
